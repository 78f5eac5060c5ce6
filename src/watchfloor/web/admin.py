"""Administration: the users, their roles, and one-time passwords (administrators only).

A new user, or a user whose password is reset, gets a random one-time password shown once on the page
that answers the form (never in a URL, never stored in clear) and changed at their first login. A reset
also ends the user's console sessions.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from watchfloor.cases import CaseError, Role, add_user
from watchfloor.cases.models import User
from watchfloor.cases.passwords import set_password
from watchfloor.cases.sessions import end_user_sessions
from watchfloor.web.auth import Guard, Viewer
from watchfloor.web.render import render

__all__ = ["admin_routes"]


def admin_routes(guard: Guard) -> APIRouter:
    """`/admin/users` and its two forms."""
    router = APIRouter(include_in_schema=False)
    Admin = Annotated[Viewer, Depends(guard.page(Role.ADMIN))]
    Csrf = Annotated[str, Form()]

    def page(request: Request, viewer: Viewer, status: int = 200, **shown: str) -> Response:
        with guard.database.session() as session:
            users = list(session.scalars(select(User).order_by(User.username)))
        context = {"issued_for": "", "issued": "", "error": ""} | shown
        return render(
            request, "admin_users.html", viewer, status, users=users, roles=[r.value for r in Role], **context
        )

    @router.get("/admin/users")
    def users_page(request: Request, viewer: Admin) -> Response:
        """Every user with their role and password state."""
        return page(request, viewer)

    @router.post("/admin/users")
    def create_user(
        request: Request,
        viewer: Admin,
        username: Annotated[str, Form(max_length=128)] = "",
        role: Annotated[str, Form(max_length=32)] = "",
        csrf_token: Csrf = "",
    ) -> Response:
        """Add a user with a one-time password, shown once here."""
        guard.check_csrf(request, viewer, csrf_token)
        try:
            with guard.database.session() as session:
                add_user(session, viewer.actor, username, role)
                issued = set_password(session, viewer.actor, username)
        except CaseError as exc:
            return page(request, viewer, exc.http_status, error=exc.message)
        return page(request, viewer, issued_for=username, issued=str(issued))

    @router.post("/admin/users/{username}/password")
    def reset_password(request: Request, viewer: Admin, username: str, csrf_token: Csrf = "") -> Response:
        """Give a user a new one-time password and end their sessions."""
        guard.check_csrf(request, viewer, csrf_token)
        try:
            with guard.database.session() as session:
                issued = set_password(session, viewer.actor, username)
                end_user_sessions(session, username, guard.config.now(), "password_reset")
        except CaseError as exc:
            return page(request, viewer, exc.http_status, error=exc.message)
        return page(request, viewer, issued_for=username, issued=str(issued))

    return router
