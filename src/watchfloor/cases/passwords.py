"""Local passwords: argon2id hashes, one-time passwords, and the first administrator.

Passwords are hashed with argon2id (salted, memory-hard; argon2-cffi's defaults), never stored or
logged in clear. An administrator hands out one-time passwords (printed once) that must be changed at
the first login; `bootstrap_admin` creates the installation's first administrator that way, and refuses
once an administrator can log in, so there are no default credentials at any point.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import record
from watchfloor.cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from watchfloor.cases.models import User, utcnow
from watchfloor.cases.users import Actor, add_user
from watchfloor.cases.values import Role

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "OneTimePassword",
    "bootstrap_admin",
    "change_password",
    "check_password",
    "hash_password",
    "new_one_time_password",
    "set_password",
]

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_HASHER = PasswordHasher()
# verified against when the account is unknown, so a missing user costs the same time as a wrong password
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class OneTimePassword(str):
    """A generated password shown once; a `str` so it can be printed and typed, never stored."""

    __slots__ = ()


def new_one_time_password() -> OneTimePassword:
    """20 random URL-safe characters (about 120 bits): strong enough that it need not be chosen."""
    return OneTimePassword(secrets.token_urlsafe(15))


def hash_password(password: str) -> str:
    """The argon2id hash of a password that passes the length policy."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored`; with no hash the dummy is checked so timing says nothing."""
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, password[:MAX_PASSWORD_LENGTH]) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"unknown user {username!r}")
    return user


def _store(session: Session, actor: Actor, user: User, password: str, must_change: bool, action: str) -> None:
    user.password_hash = hash_password(password)
    user.must_change_password = must_change
    user.password_changed_at = utcnow()
    session.flush()
    record(
        session,
        actor=actor.username,
        action=action,
        target_type="user",
        target_id=user.username,
        after={"must_change_password": must_change},
        request_id=actor.request_id,
    )


def set_password(
    session: Session, actor: Actor, username: str, password: str | None = None, *, must_change: bool = True
) -> OneTimePassword | None:
    """An admin sets (or resets) a user's password; with none given a one-time password is returned."""
    if actor.role is not Role.ADMIN and not actor.username.startswith("system:"):
        raise Forbidden(f"only an admin can set passwords ({actor.username} is {actor.role.value})")
    user = _user(session, username)
    generated = new_one_time_password() if password is None else None
    _store(session, actor, user, password or str(generated), must_change, "user.password_set")
    return generated


def change_password(session: Session, actor: Actor, current: str, new: str) -> None:
    """A user replaces their own password, proving the current one; clears `must_change_password`."""
    user = _user(session, actor.username)
    if not check_password(user.password_hash, current):
        raise Forbidden("the current password is not correct")
    if new == current:
        raise InvalidInput("the new password must differ from the current one")
    _store(session, actor, user, new, False, "user.password_changed")


def bootstrap_admin(session: Session, username: str = "admin") -> OneTimePassword:
    """Create the first administrator with a one-time password, once: refused while an admin can log in."""
    admins = session.scalars(select(User).where(User.role == Role.ADMIN.value)).all()
    if any(a.password_hash for a in admins):
        raise Conflict(
            "an administrator already exists: reset passwords with `watchfloor users set-password`"
        )
    setup = Actor.system("setup")
    if session.scalars(select(User).where(User.username == username)).first() is None:
        add_user(session, setup, username, Role.ADMIN.value, "Administrator")
    elif _user(session, username).role != Role.ADMIN.value:
        raise Conflict(f"user {username!r} exists and is not an admin")
    generated = set_password(session, setup, username)
    assert generated is not None
    return generated
