"""Users and the acting user: who did something, and whether their role lets them.

Here a user is a name and a role, enough to record actors in the audit log and to keep a tier 1
analyst from working a tier 3 incident. How a person proves to be that user lives beside this module:
console passwords in `passwords`, console sessions and login throttling in `sessions`, API tokens in
`tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import new_request_id, record
from watchfloor.cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from watchfloor.cases.models import User
from watchfloor.cases.values import ROLE_TIER, Role

__all__ = ["Actor", "UserView", "actor_for", "add_user", "list_users", "require_tier"]


@dataclass(frozen=True, slots=True)
class Actor:
    """The user a service call acts as, and the request id its audit entries share."""

    username: str
    role: Role
    request_id: str = field(default_factory=new_request_id)

    @property
    def tier(self) -> int:
        """The highest incident tier this actor may work on (0: none)."""
        return ROLE_TIER[self.role]

    @classmethod
    def system(cls, component: str) -> Actor:
        """Watchfloor itself acting (intake, routing): recorded as `system:<component>`."""
        return cls(f"system:{component}", Role.ADMIN)


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as listed."""

    username: str
    display_name: str
    role: Role


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {value!r} (one of {known})") from None


def add_user(session: Session, actor: Actor, username: str, role: str, display_name: str = "") -> UserView:
    """Create a user; the first one may be created by anyone, later ones only by an admin."""
    if not username or len(username) > 128:
        raise InvalidInput("a username is 1 to 128 characters")
    parsed = _role(role)
    has_users = session.scalars(select(User.id).limit(1)).first() is not None
    if has_users and actor.role is not Role.ADMIN and not actor.username.startswith("system:"):
        raise Forbidden(f"only an admin can add users ({actor.username} is {actor.role.value})")
    if session.scalars(select(User).where(User.username == username)).first() is not None:
        raise Conflict(f"user {username!r} already exists")
    user = User(username=username, role=parsed.value, display_name=display_name or username)
    session.add(user)
    session.flush()
    record(
        session,
        actor=actor.username,
        action="user.created",
        target_type="user",
        target_id=username,
        after={"username": username, "role": parsed.value, "display_name": user.display_name},
        request_id=actor.request_id,
    )
    return UserView(username, user.display_name, parsed)


def list_users(session: Session) -> list[UserView]:
    """Every user, by name."""
    users = session.scalars(select(User).order_by(User.username))
    return [UserView(u.username, u.display_name, Role(u.role)) for u in users]


def actor_for(session: Session, username: str, request_id: str | None = None) -> Actor:
    """The acting user by name; an unknown name is refused rather than recorded as a ghost actor."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"unknown user {username!r}: add it with `watchfloor users add`")
    return Actor(user.username, Role(user.role), request_id or new_request_id())


def require_tier(actor: Actor, tier: int, doing: str) -> None:
    """Refuse unless the actor's role reaches `tier` (system actors always do)."""
    if actor.tier < tier:
        raise Forbidden(
            f"{actor.username} ({actor.role.value}) cannot {doing}: it needs tier {tier} or above"
        )
