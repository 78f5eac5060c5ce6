"""Who is looking at the console: the session cookie, the role a page needs, and the CSRF check.

The session id travels only in an HttpOnly, SameSite=Strict cookie (Secure when the request came over
TLS); the database knows it only by its hash (`cases.sessions`). Every page declares the roles that may
see it with `guard.page(...)`; an anonymous or expired visitor is sent to the login page (302), a
logged-in user without the role gets 403, and a user still holding a one-time password is sent to the
change-password page first. Every state-changing request made with the cookie must carry the session's
synchronizer token, as the `csrf_token` form field or the `X-CSRF-Token` header (`guard.check_csrf`);
bearer-token API calls carry no ambient credential and need none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request, Response

from watchfloor.cases import Actor, Database, Role
from watchfloor.cases.audit import new_request_id
from watchfloor.cases.sessions import IssuedSession, SessionInfo, resolve_session, same_token
from watchfloor.cases.tokens import InvalidToken
from watchfloor.web.config import ConsoleConfig

__all__ = [
    "ALL_ROLES",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOGIN_COOKIE",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "STAFF",
    "CsrfRejected",
    "Guard",
    "LoginRequired",
    "PageForbidden",
    "Viewer",
    "client_address",
]

SESSION_COOKIE = "wf_session"
LOGIN_COOKIE = "wf_login"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALL_ROLES: tuple[Role, ...] = tuple(Role)
# Everyone who works incidents or rules: all but the read-only business view.
STAFF: tuple[Role, ...] = tuple(r for r in Role if r is not Role.STAKEHOLDER)


class LoginRequired(Exception):
    """No live session: a page answers with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """A logged-in user asked for a page their role may not see (403)."""


class CsrfRejected(Exception):
    """A state-changing request with the session cookie but without its synchronizer token (403)."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The logged-in user of one request."""

    actor: Actor
    csrf: str
    must_change_password: bool
    session_id: str

    @property
    def role(self) -> Role:
        """The user's role."""
        return self.actor.role

    @property
    def username(self) -> str:
        """The user's name."""
        return self.actor.username


def client_address(request: Request) -> str:
    """The peer address (the throttling key's second half); proxies are not trusted for it."""
    return request.client.host if request.client else "unknown"


def _login_path(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login" if target in ("/", "/login") else f"/login?next={quote(target, safe='/')}"


class Guard:
    """Resolves sessions against the incident database and enforces roles and CSRF for the console."""

    def __init__(self, database: Database, config: ConsoleConfig) -> None:
        self.database = database
        self.config = config

    def session_info(
        self, session_id: str, request_id: str | None = None, *, touch: bool = True
    ) -> SessionInfo | None:
        """The live session behind a cookie value, in its own transaction."""
        now, policy = self.config.now(), self.config.policy
        with self.database.session() as session:
            return resolve_session(session, session_id, now, policy, request_id, touch=touch)

    def current(self, request: Request, *, touch: bool = True) -> Viewer | None:
        """The request's viewer, or None without a live session; remembered on `request.state`.

        `touch=False` for the page's own background refresh, which must not keep a session alive.
        """
        if hasattr(request.state, "viewer"):
            viewer: Viewer | None = request.state.viewer
            return viewer
        session_id = request.cookies.get(SESSION_COOKIE, "")
        info = self.session_info(session_id, new_request_id(), touch=touch) if session_id else None
        viewer = (
            None if info is None else Viewer(info.actor, info.csrf, info.must_change_password, session_id)
        )
        request.state.viewer = viewer
        if viewer is not None:
            request.state.actor = viewer.username
        return viewer

    def page(self, *roles: Role, allow_must_change: bool = False) -> Callable[[Request], Viewer]:
        """A dependency for an HTML page: its viewer, else a redirect to login (or to change the password)."""
        allowed = frozenset(roles)

        def dependency(request: Request) -> Viewer:
            viewer = self.current(request)
            if viewer is None:
                raise LoginRequired(_login_path(request))
            if viewer.must_change_password and not allow_must_change:
                raise LoginRequired("/password")
            if viewer.role not in allowed:
                raise PageForbidden(
                    f"{viewer.username} ({viewer.role.value}) may not open {request.url.path}"
                )
            return viewer

        return dependency

    def data(self, *roles: Role) -> Callable[[Request], Viewer]:
        """A dependency for the console's JSON endpoints: 401 without a session, 403 without the role.

        Pages poll these, so they leave the idle clock alone.
        """
        allowed = frozenset(roles)

        def dependency(request: Request) -> Viewer:
            viewer = self.current(request, touch=False)
            if viewer is None or viewer.must_change_password:
                raise InvalidToken("log in to the console first")
            if viewer.role not in allowed:
                raise PageForbidden(
                    f"{viewer.username} ({viewer.role.value}) may not read {request.url.path}"
                )
            return viewer

        return dependency

    @staticmethod
    def check_csrf(request: Request, viewer: Viewer, form_token: str | None) -> None:
        """Refuse a state change whose synchronizer token (form field or header) is not the session's."""
        presented = form_token or request.headers.get(CSRF_HEADER)
        if not same_token(presented, viewer.csrf):
            raise CsrfRejected("missing or wrong CSRF token: reload the page and try again")

    @staticmethod
    def start(request: Request, response: Response, issued: IssuedSession) -> None:
        """Hand the new session id to the browser, in the only cookie that carries it."""
        response.set_cookie(
            SESSION_COOKIE,
            issued.session_id,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        response.delete_cookie(LOGIN_COOKIE, path="/login")

    @staticmethod
    def clear(response: Response) -> None:
        """Remove the session cookie (the session itself is ended in the database by the caller)."""
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
