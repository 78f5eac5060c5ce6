"""Who is calling the API: a bearer token, or a console session, and the user it acts as.

Each route declares the scope it needs with `needs("read" | "write" | "admin")`. The dependency reads
the `Authorization: Bearer` header, else the console's session cookie (401 when neither is there), and
is what puts the bearer scheme in the OpenAPI document; the credential is checked by `caller`, inside
the request's one database session, so authentication and the work it allows share a transaction.

- A bearer token that is unknown or revoked is a 401, a valid token without the scope a 403. A bearer
  token is not an ambient credential (a browser never adds it by itself), so it needs no CSRF token.
- A console session that is missing or expired is a 401. Its scopes follow its role (`read` and
  `write` for everyone, `admin` for administrators), and a state-changing request (anything but GET,
  HEAD, OPTIONS) must carry the session's CSRF token in `X-CSRF-Token`, else 403. A session still on a
  one-time password may do nothing until the password is changed (403).

What the user's role allows on a given incident is then decided by the cases service (`require_tier`),
also a 403. Every 401 and 403 is written to the audit log by the console's security middleware.

These are the hashed, revocable tokens of `watchfloor tokens create`, not the configured `api_tokens`,
which only the hunting route still accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from watchfloor.cases import Actor, Forbidden, Role
from watchfloor.cases.audit import new_request_id
from watchfloor.cases.sessions import resolve_session, same_token
from watchfloor.cases.tokens import SCOPES, InvalidToken, authenticate
from watchfloor.web import CSRF_HEADER, SESSION_COOKIE, Guard
from watchfloor.web.auth import SAFE_METHODS

__all__ = ["REQUEST_ID_HEADER", "Credential", "caller", "console_viewer", "needs"]

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token from `watchfloor tokens create` (`wf_<id>_<secret>`).",
)


@dataclass(frozen=True, slots=True)
class Credential:
    """What a request presented (a bearer value or a session id), the scope its route needs, its id.

    `state` is the request's state: `caller` names the authenticated user there, so a later denial is
    audited with who was denied.
    """

    token: str | None
    scope: str
    request_id: str
    session_id: str | None = None
    csrf: str | None = None
    unsafe: bool = False
    guard: Guard | None = None
    state: Any = None


def _request_id(request: Request) -> str:
    """The caller's `X-Request-ID` when it is a plain id, else a new one: it ties the audit entries."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.match(given) else new_request_id()


def needs(scope: str) -> Callable[..., Credential]:
    """A dependency for routes needing `scope`: the presented credential, or 401 without one."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def credential(
        request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Credential:
        request_id = _request_id(request)
        if bearer is not None and bearer.credentials:
            return Credential(bearer.credentials, scope, request_id, state=request.state)
        guard: Guard | None = getattr(request.app.state, "console", None)
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id or guard is None:
            raise InvalidToken("a bearer token is required (create one with `watchfloor tokens create`)")
        return Credential(
            None,
            scope,
            request_id,
            session_id=session_id,
            csrf=request.headers.get(CSRF_HEADER),
            unsafe=request.method not in SAFE_METHODS,
            guard=guard,
            state=request.state,
        )

    return credential


def _session_actor(session: Session, credential: Credential) -> Actor:
    assert credential.guard is not None and credential.session_id is not None
    config = credential.guard.config
    info = resolve_session(session, credential.session_id, config.now(), config.policy, credential.request_id)
    if info is None:
        raise InvalidToken("the console session has expired: log in again")
    if credential.state is not None:
        credential.state.actor = info.actor.username
    if info.must_change_password:
        raise Forbidden("change the one-time password in the console first")
    if credential.unsafe and not same_token(credential.csrf, info.csrf):
        raise Forbidden(f"a console session must send its CSRF token in {CSRF_HEADER} to change anything")
    if credential.scope == "admin" and info.actor.role is not Role.ADMIN:
        raise Forbidden(f"{info.actor.username} ({info.actor.role.value}) lacks the 'admin' scope")
    return info.actor


def caller(session: Session, credential: Credential) -> Actor:
    """The actor behind the credential, checked in `session`; `InvalidToken` (401) or `Forbidden` (403)."""
    if credential.token is None:
        return _session_actor(session, credential)
    found = authenticate(session, credential.token, credential.request_id)
    if credential.state is not None:
        credential.state.actor = found.actor.username
    if not found.token.allows(credential.scope):
        granted = ", ".join(found.token.scopes)
        raise Forbidden(f"token {found.token.id} lacks the {credential.scope!r} scope (it has: {granted})")
    return found.actor


def console_viewer(request: Request, *, unsafe: bool) -> Actor | None:
    """The console session's actor for routes with their own token scheme (hunting), or None without one.

    Raises like `caller` (expired: 401; no CSRF token on a state change: 403).
    """
    guard: Guard | None = getattr(request.app.state, "console", None)
    session_id = request.cookies.get(SESSION_COOKIE)
    if guard is None or not session_id:
        return None
    credential = Credential(
        None,
        "read",
        _request_id(request),
        session_id=session_id,
        csrf=request.headers.get(CSRF_HEADER),
        unsafe=unsafe,
        guard=guard,
        state=request.state,
    )
    with guard.database.session() as session:
        return _session_actor(session, credential)
