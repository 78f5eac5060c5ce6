"""API tokens: who an API caller is, what they may touch, and how that access is taken back.

A token reads `wf_<id>_<secret>`. The id is public (listed, used to revoke); the secret is 32 random
bytes shown once at creation and stored only as its SHA-256. A plain hash is enough because the secret
is high-entropy, unlike a password: nothing can be guessed from it, so no slow hash is needed, and each
check stays a single indexed lookup plus a constant-time comparison.

A token acts as its user: the user's role (read when the token is used, so a role change takes effect at
once) decides which incidents the caller may work, and the token's scopes decide which kinds of request
it may make (`read`, `write`, `admin`; `admin` implies the other two). Creating and revoking tokens are
audit entries like every other change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import new_request_id, record
from watchfloor.cases.errors import CaseError, Forbidden, InvalidInput, NotAllowed, NotFound
from watchfloor.cases.models import ApiToken, User, utcnow
from watchfloor.cases.users import Actor
from watchfloor.cases.values import Role

__all__ = [
    "SCOPES",
    "TOKEN_PREFIX",
    "Authenticated",
    "InvalidToken",
    "IssuedToken",
    "TokenView",
    "authenticate",
    "create_token",
    "list_tokens",
    "revoke_token",
]

TOKEN_PREFIX = "wf"
SCOPES = ("read", "write", "admin")
_ID_BYTES = 6
_SECRET_BYTES = 32
# compared against when the id is unknown, so an unknown id costs the same work as a wrong secret
_DUMMY_DIGEST = hashlib.sha256(b"watchfloor-no-such-token").hexdigest()


class InvalidToken(CaseError):
    """The bearer token is malformed, unknown or revoked: the caller is not authenticated."""

    http_status = 401


@dataclass(frozen=True, slots=True)
class TokenView:
    """A token as listed: never its secret nor its hash."""

    id: str
    name: str
    username: str
    role: Role
    scopes: tuple[str, ...]
    created_by: str
    created_at: dt.datetime
    revoked_by: str | None
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        """Whether the token still authenticates."""
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        """Whether a request needing `scope` may be made with this token (`admin` covers all)."""
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: `secret` is the full bearer value, shown this once and kept nowhere."""

    token: TokenView
    secret: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A verified caller: the token used and the actor its requests are recorded as."""

    token: TokenView
    actor: Actor


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _view(row: ApiToken) -> TokenView:
    return TokenView(
        id=row.token_id,
        name=row.name,
        username=row.user.username,
        role=Role(row.user.role),
        scopes=tuple(row.scopes),
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_by=row.revoked_by,
        revoked_at=row.revoked_at,
    )


def _scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(s.strip().lower() for s in scopes if s.strip()))
    if not chosen:
        raise InvalidInput(f"a token needs at least one scope ({', '.join(SCOPES)})")
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise InvalidInput(f"unknown scope {unknown[0]!r} ({', '.join(SCOPES)})")
    return tuple(s for s in SCOPES if s in chosen)


def _is_admin(actor: Actor) -> bool:
    return actor.role is Role.ADMIN or actor.username.startswith("system:")


def create_token(
    session: Session, actor: Actor, username: str, scopes: Iterable[str], name: str = ""
) -> IssuedToken:
    """Issue a token for `username`: admins for anyone, others only for themselves and without `admin`."""
    parsed = _scopes(scopes)
    if len(name) > 128:
        raise InvalidInput("a token name is at most 128 characters")
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"unknown user {username!r}: add it with `watchfloor users add`")
    if not _is_admin(actor) and actor.username != username:
        raise Forbidden(f"{actor.username} ({actor.role.value}) cannot create tokens for {username}")
    if "admin" in parsed and not _is_admin(actor):
        raise Forbidden(f"only an admin can grant the admin scope ({actor.username} is {actor.role.value})")
    token_id = secrets.token_hex(_ID_BYTES)
    secret = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    row = ApiToken(
        token_id=token_id,
        secret_sha256=_digest(secret),
        user_id=user.id,
        user=user,
        name=name,
        scopes=list(parsed),
        created_by=actor.username,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=actor.username,
        action="token.created",
        target_type="token",
        target_id=token_id,
        after={"token_id": token_id, "username": username, "name": name, "scopes": list(parsed)},
        request_id=actor.request_id,
    )
    return IssuedToken(_view(row), secret)


def list_tokens(session: Session, username: str | None = None) -> list[TokenView]:
    """Every token (or one user's), oldest first, revoked ones included."""
    query = select(ApiToken).join(User).order_by(ApiToken.id)
    if username is not None:
        query = query.where(User.username == username)
    return [_view(row) for row in session.scalars(query)]


def revoke_token(session: Session, actor: Actor, token_id: str) -> TokenView:
    """Stop a token from authenticating, at once; admins revoke any token, users their own."""
    row = session.scalars(select(ApiToken).where(ApiToken.token_id == token_id)).first()
    if row is None:
        raise NotFound(f"token {token_id} does not exist")
    if not _is_admin(actor) and actor.username != row.user.username:
        raise Forbidden(f"{actor.username} ({actor.role.value}) cannot revoke {row.user.username}'s token")
    if row.revoked_at is not None:
        raise NotAllowed(f"token {token_id} was already revoked by {row.revoked_by}")
    row.revoked_at, row.revoked_by = utcnow(), actor.username
    session.flush()
    record(
        session,
        actor=actor.username,
        action="token.revoked",
        target_type="token",
        target_id=token_id,
        before={"revoked_at": None},
        after={"token_id": token_id, "username": row.user.username, "revoked_at": row.revoked_at},
        request_id=actor.request_id,
    )
    return _view(row)


def authenticate(session: Session, presented: str, request_id: str | None = None) -> Authenticated:
    """The caller behind a bearer value, or `InvalidToken` (the same message for every failure)."""
    prefix, _, rest = presented.strip().partition("_")
    token_id, _, _secret = rest.partition("_")
    row = None
    if prefix == TOKEN_PREFIX and token_id and len(token_id) <= 32:
        row = session.scalars(select(ApiToken).where(ApiToken.token_id == token_id)).first()
    expected = row.secret_sha256 if row is not None else _DUMMY_DIGEST
    matches = hmac.compare_digest(_digest(presented.strip()), expected)
    if row is None or not matches or row.revoked_at is not None:
        raise InvalidToken("invalid or revoked API token")
    view = _view(row)
    return Authenticated(view, Actor(view.username, view.role, request_id or new_request_id()))
