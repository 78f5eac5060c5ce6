"""Console sessions and login throttling, independent of HTTP: the web layer passes the clock in.

A session id is 32 random bytes handed to the browser once; the database keeps only its SHA-256. A
session ends after `idle` without a request or `absolute` after login, whichever comes first, or at
logout. Its CSRF token is derived from the id (`csrf_token`), so it needs no storage and is worthless
without the session itself.

Throttling counts consecutive failures per (account, address). The first `free_failures` cost nothing;
after that each failure doubles the wait before the next try from that address, up to `max_delay`. A
success resets the pair. Because the key includes the address, an attacker slows only their own tries:
the account's owner logs in from elsewhere as usual. Every outcome, failures and throttled tries
included, is an audit entry (never with the password).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import new_request_id, record
from watchfloor.cases.errors import CaseError
from watchfloor.cases.models import LoginSession, LoginThrottle, User
from watchfloor.cases.passwords import check_password
from watchfloor.cases.users import Actor
from watchfloor.cases.values import Role

__all__ = [
    "GENERIC_FAILURE",
    "AuthPolicy",
    "IssuedSession",
    "LoginFailed",
    "LoginThrottled",
    "SessionInfo",
    "csrf_token",
    "end_session",
    "end_user_sessions",
    "login",
    "resolve_session",
    "same_token",
]

GENERIC_FAILURE = "invalid username or password"


class LoginFailed(CaseError):
    """Wrong account or password: one message for both, so accounts cannot be enumerated."""

    http_status = 401


class LoginThrottled(CaseError):
    """Too many failures from this address for this account: wait `retry_after` seconds."""

    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """Session lifetimes and the throttling curve (from `[auth]` in watchfloor.toml, see web.config)."""

    idle: dt.timedelta = dt.timedelta(minutes=30)
    absolute: dt.timedelta = dt.timedelta(hours=12)
    free_failures: int = 5
    base_delay: dt.timedelta = dt.timedelta(seconds=1)
    max_delay: dt.timedelta = dt.timedelta(minutes=15)

    def delay(self, failures: int) -> dt.timedelta:
        """The wait after `failures` consecutive failures: none, then 1s, 2s, 4s, ... up to the cap."""
        over = failures - self.free_failures
        if over <= 0:
            return dt.timedelta(0)
        wait: dt.timedelta = self.base_delay * (2 ** min(over - 1, 30))
        return min(self.max_delay, wait)


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """A new session: `session_id` goes into the cookie and is kept nowhere else."""

    session_id: str
    actor: Actor
    must_change_password: bool
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A live session as a request sees it."""

    actor: Actor
    must_change_password: bool
    csrf: str
    expires_at: dt.datetime


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def csrf_token(session_id: str) -> str:
    """The synchronizer token of a session: only someone holding the session id can compute it."""
    return hashlib.sha256(b"watchfloor-csrf:" + session_id.encode("utf-8")).hexdigest()


def _audit(
    session: Session, actor: str, action: str, username: str, request_id: str, **after: object
) -> None:
    record(
        session,
        actor=actor[:128],
        action=action,
        target_type="user",
        target_id=username[:128],
        after=after,
        request_id=request_id,
    )


def _session_row(session: Session, session_id: str) -> LoginSession | None:
    query = select(LoginSession).where(LoginSession.session_sha256 == _digest(session_id))
    return session.scalars(query).first()


def _throttle_row(session: Session, username: str, address: str) -> LoginThrottle | None:
    query = select(LoginThrottle).where(LoginThrottle.username == username, LoginThrottle.address == address)
    return session.scalars(query).first()


def login(
    session: Session,
    username: str,
    password: str,
    address: str,
    now: dt.datetime,
    policy: AuthPolicy,
    request_id: str | None = None,
) -> IssuedSession:
    """Check a password and open a session, or raise `LoginFailed` / `LoginThrottled` (both audited).

    Callers commit even when this raises (the failure and its throttle count must persist): see
    `record_outcome` in the web layer, which runs this in its own transaction.
    """
    request = request_id or new_request_id()
    name, address = username.strip()[:128], address[:64]
    throttle = _throttle_row(session, name, address)
    if throttle is not None and now < throttle.next_allowed_at:
        wait = max(1, int((throttle.next_allowed_at - now).total_seconds() + 0.999))
        _audit(session, "anonymous", "auth.login_throttled", name, request, address=address, retry_after=wait)
        raise LoginThrottled(f"too many failed logins: try again in {wait} s", wait)
    user = session.scalars(select(User).where(User.username == name)).first()
    if user is None or not check_password(user.password_hash, password):
        failures = (throttle.failures if throttle is not None else 0) + 1
        if throttle is None:
            throttle = LoginThrottle(username=name, address=address, failures=0)
            session.add(throttle)
        throttle.failures, throttle.last_failure_at = failures, now
        throttle.next_allowed_at = now + policy.delay(failures)
        session.flush()
        _audit(session, "anonymous", "auth.login_failed", name, request, address=address, failures=failures)
        raise LoginFailed(GENERIC_FAILURE)
    if throttle is not None:
        session.delete(throttle)
    session_id = secrets.token_urlsafe(32)
    row = LoginSession(
        session_sha256=_digest(session_id),
        user_id=user.id,
        address=address,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
    )
    session.add(row)
    session.flush()
    actor = Actor(user.username, Role(user.role), request)
    _audit(session, user.username, "auth.login", user.username, request, address=address, session_row=row.id)
    return IssuedSession(session_id, actor, user.must_change_password, row.expires_at)


def resolve_session(
    session: Session,
    session_id: str,
    now: dt.datetime,
    policy: AuthPolicy,
    request_id: str | None = None,
    *,
    touch: bool = True,
) -> SessionInfo | None:
    """The live session behind a cookie value, or None when absent or ended.

    `touch` restarts the idle clock: a person's request does, a page's own periodic refresh does not
    (else an open queue page would keep a session alive forever). A session found past its idle or
    absolute limit is ended here, with an audit entry, so expiry is recorded even when the user never
    comes back to log out.
    """
    row = _session_row(session, session_id)
    if row is None or row.ended_at is not None:
        return None
    request = request_id or new_request_id()
    reason = None
    if now >= row.expires_at:
        reason = "absolute_timeout"
    elif now - row.last_seen_at >= policy.idle:
        reason = "idle_timeout"
    if reason is not None:
        row.ended_at, row.end_reason = now, reason
        _audit(session, row.user.username, "auth.session_expired", row.user.username, request, reason=reason)
        return None
    if touch:
        row.last_seen_at = now
    user = row.user
    actor = Actor(user.username, Role(user.role), request)
    return SessionInfo(actor, user.must_change_password, csrf_token(session_id), row.expires_at)


def end_session(session: Session, session_id: str, now: dt.datetime, request_id: str | None = None) -> bool:
    """Log out: the session stops authenticating at once; False if it was not live."""
    row = _session_row(session, session_id)
    if row is None or row.ended_at is not None:
        return False
    row.ended_at, row.end_reason = now, "logout"
    username = row.user.username
    _audit(session, username, "auth.logout", username, request_id or new_request_id(), session_row=row.id)
    return True


def end_user_sessions(
    session: Session, username: str, now: dt.datetime, reason: str, keep: str | None = None
) -> int:
    """End every live session of a user (but `keep`'s): after a password change or reset."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        return 0
    kept = _digest(keep) if keep else None
    query = select(LoginSession).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
    ended = 0
    for row in session.scalars(query):
        if row.session_sha256 != kept:
            row.ended_at, row.end_reason = now, reason
            ended += 1
    session.flush()
    return ended


def same_token(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented CSRF token."""
    return bool(presented) and hmac.compare_digest(str(presented).encode(), expected.encode())
