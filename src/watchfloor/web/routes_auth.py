"""Login, logout and changing one's password: the only console pages an anonymous visitor reaches.

The login form is itself protected against cross-site submission by a double-submit token: `GET
/login` sets a random value in a cookie scoped to `/login` and in the form, and `POST /login` needs
both to match. Failures get one generic message; throttled tries get 429 with `Retry-After`.
"""

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from watchfloor.cases import CaseError, Role
from watchfloor.cases.passwords import MIN_PASSWORD_LENGTH, change_password
from watchfloor.cases.sessions import (
    GENERIC_FAILURE,
    IssuedSession,
    LoginThrottled,
    end_session,
    end_user_sessions,
    login,
    same_token,
)
from watchfloor.web.auth import ALL_ROLES, LOGIN_COOKIE, Guard, Viewer, client_address
from watchfloor.web.render import render

__all__ = ["auth_routes", "landing"]


def landing(role: Role) -> str:
    """Where a user lands after login: the business view for stakeholders, the queues for the rest."""
    return "/overview" if role is Role.STAKEHOLDER else "/queues"


def _safe_next(target: str, role: Role) -> str:
    """Only a local path: `next` must never send a fresh session to another site."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return landing(role)


def _login_page(request: Request, error: str = "", status_code: int = 200, next_path: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", None, status_code, error=error, login_token=token, next_path=next_path
    )
    secure = request.url.scheme == "https"
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/login")
    return response


def auth_routes(guard: Guard) -> APIRouter:
    """`/login`, `/logout`, `/password`."""
    router = APIRouter(include_in_schema=False)
    Any_ = Annotated[Viewer, Depends(guard.page(*ALL_ROLES, allow_must_change=True))]

    @router.get("/login")
    def login_form(request: Request, next: str = "") -> Response:
        """The login form (a logged-in user goes straight on)."""
        viewer = guard.current(request)
        if viewer is not None and not viewer.must_change_password:
            return RedirectResponse(_safe_next(next, viewer.role) if next else landing(viewer.role), 303)
        return _login_page(request, next_path=next)

    @router.post("/login")
    def login_submit(
        request: Request,
        username: Annotated[str, Form(max_length=128)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        login_token: Annotated[str, Form(max_length=64)] = "",
        next: Annotated[str, Form(max_length=512)] = "",
    ) -> Response:
        """Check the password; open a session or say, generically, that it failed."""
        if not same_token(login_token, request.cookies.get(LOGIN_COOKIE, "")):
            return _login_page(request, "The form expired: please try again.", 403, next)
        outcome: IssuedSession | CaseError
        with guard.database.session() as session:
            try:
                outcome = login(
                    session,
                    username,
                    password,
                    client_address(request),
                    guard.config.now(),
                    guard.config.policy,
                )
            except CaseError as exc:  # recorded (audit, throttle count) and committed
                outcome = exc
        if isinstance(outcome, LoginThrottled):
            response = _login_page(request, str(outcome), 429, next)
            response.headers["Retry-After"] = str(outcome.retry_after)
            return response
        if isinstance(outcome, CaseError):
            return _login_page(request, GENERIC_FAILURE.capitalize() + ".", 401, next)
        role = outcome.actor.role
        target = _safe_next(next, role) if next else landing(role)
        response = RedirectResponse("/password" if outcome.must_change_password else target, 303)
        guard.start(request, response, outcome)
        return response

    @router.post("/logout")
    def logout(request: Request, viewer: Any_, csrf_token: Annotated[str, Form()] = "") -> Response:
        """End the session everywhere it could be used, then back to the login page."""
        guard.check_csrf(request, viewer, csrf_token)
        with guard.database.session() as session:
            end_session(session, viewer.session_id, guard.config.now(), viewer.actor.request_id)
        response = RedirectResponse("/login", 303)
        guard.clear(response)
        return response

    @router.get("/password")
    def password_form(request: Request, viewer: Any_) -> Response:
        """Change one's password (required first when logged in with a one-time password)."""
        return render(request, "password.html", viewer, error="", minimum=MIN_PASSWORD_LENGTH)

    @router.post("/password")
    def password_submit(
        request: Request,
        viewer: Any_,
        csrf_token: Annotated[str, Form()] = "",
        current: Annotated[str, Form(max_length=1024)] = "",
        new: Annotated[str, Form(max_length=1024)] = "",
        confirm: Annotated[str, Form(max_length=1024)] = "",
    ) -> Response:
        """Replace the password, proving the current one."""
        guard.check_csrf(request, viewer, csrf_token)
        error = "The new password and its confirmation differ." if new != confirm else ""
        if not error:
            try:
                with guard.database.session() as session:
                    change_password(session, viewer.actor, current, new)
                    now = guard.config.now()
                    end_user_sessions(
                        session, viewer.username, now, "password_changed", keep=viewer.session_id
                    )
            except CaseError as exc:
                error = exc.message
        if error:
            return render(request, "password.html", viewer, 400, error=error, minimum=MIN_PASSWORD_LENGTH)
        return RedirectResponse(landing(viewer.role), 303)

    return router
