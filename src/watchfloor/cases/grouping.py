"""Which open incident a new alert belongs to: same correlation key, or shared entities nearby in time.

Entities are hosts, users, addresses and processes (process GUIDs tie a process tree together when the
producer gives parent GUIDs too). Values that every machine shares (`SYSTEM`, `localhost`, loopback
addresses) would glue unrelated alerts together, so they are ignored. An alert joins the open incident
with which it shares the most entities within `window` of its event time; exercise alerts only ever
group with exercise incidents.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from watchfloor.cases.models import AlertEntity, Incident
from watchfloor.cases.values import EntityKind, State
from watchfloor.config import Settings
from watchfloor.errors import ConfigError, Location

if TYPE_CHECKING:
    from watchfloor.cases.intake import IncomingAlert

__all__ = [
    "DEFAULT_IGNORED",
    "EntityKey",
    "GroupingPolicy",
    "entity_keys",
    "find_incident",
    "normalize_entity",
]

EntityKey = tuple[EntityKind, str]

DEFAULT_IGNORED: Mapping[EntityKind, frozenset[str]] = {
    EntityKind.HOST: frozenset({"", "-", "localhost", "localhost.localdomain", "unknown"}),
    EntityKind.USER: frozenset(
        {
            "",
            "-",
            "system",
            "nt authority\\system",
            "local service",
            "nt authority\\local service",
            "network service",
            "nt authority\\network service",
            "root",
            "anonymous logon",
            "unknown",
        }
    ),
    EntityKind.IP: frozenset({"", "-"}),
    EntityKind.PROCESS: frozenset({"", "-", "0", "4", "{00000000-0000-0000-0000-000000000000}"}),
}


@dataclass(frozen=True, slots=True)
class GroupingPolicy:
    """How alerts are grouped: the time window and which entity values are too common to count."""

    window: dt.timedelta = dt.timedelta(hours=4)
    kinds: frozenset[EntityKind] = frozenset(EntityKind)
    ignored: Mapping[EntityKind, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_IGNORED))

    @classmethod
    def from_settings(cls, settings: Settings) -> GroupingPolicy:
        """Read `[cases] grouping_window_minutes` and `grouping_entities` from watchfloor.toml."""
        section: Any = settings.extra.get("cases", {})
        where = Location(str(settings.data_dir / "watchfloor.toml"), field="cases")
        if not isinstance(section, Mapping):
            raise ConfigError("[cases] must be a table", where)
        policy = cls()
        minutes = section.get("grouping_window_minutes")
        if minutes is not None:
            if not isinstance(minutes, int) or minutes <= 0:
                raise ConfigError(
                    f"grouping_window_minutes must be a positive integer, not {minutes!r}", where
                )
            policy = cls(window=dt.timedelta(minutes=minutes), kinds=policy.kinds)
        names = section.get("grouping_entities")
        if names is not None:
            try:
                kinds = frozenset(EntityKind(n) for n in names)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"grouping_entities: {exc}", where) from exc
            policy = cls(window=policy.window, kinds=kinds)
        return policy


def normalize_entity(kind: EntityKind, value: str) -> str:
    """One spelling per entity: lower case names, canonical addresses (so `::ffff:10.0.0.1` is 10.0.0.1)."""
    text = value.strip()
    if kind is EntityKind.IP:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return text.lower()
        mapped = getattr(address, "ipv4_mapped", None)
        return str(mapped or address)
    return text.lower()


def _ignored_ip(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified or address.is_multicast


def entity_keys(alert: IncomingAlert, policy: GroupingPolicy) -> frozenset[EntityKey]:
    """The alert's entities that count for grouping and routing, normalized."""
    raw: dict[EntityKind, tuple[str, ...]] = {
        EntityKind.HOST: alert.hosts,
        EntityKind.USER: alert.users,
        EntityKind.IP: alert.ips,
        EntityKind.PROCESS: alert.processes,
    }
    keys: set[EntityKey] = set()
    for kind, values in raw.items():
        ignored = policy.ignored.get(kind, frozenset())
        for value in values:
            norm = normalize_entity(kind, value)
            if norm in ignored or (kind is EntityKind.IP and _ignored_ip(norm)):
                continue
            keys.add((kind, norm))
    return frozenset(keys)


def find_incident(
    session: Session, alert: IncomingAlert, keys: frozenset[EntityKey], policy: GroupingPolicy
) -> Incident | None:
    """The open incident this alert should join, or None when it should open one."""
    open_states = [s.value for s in State if s is not State.CLOSED]
    if alert.correlation_key:
        by_key = session.scalars(
            select(Incident)
            .where(
                Incident.correlation_key == alert.correlation_key,
                Incident.state.in_(open_states),
                Incident.is_exercise == alert.is_exercise,
            )
            .order_by(Incident.last_alert_at.desc())
            .limit(1)
        ).first()
        if by_key is not None:
            return by_key
    usable = [(k, v) for k, v in keys if k in policy.kinds]
    if not usable:
        return None
    matches = or_(*(and_(AlertEntity.kind == k.value, AlertEntity.value == v) for k, v in usable))
    shared = func.count(func.distinct(AlertEntity.kind + ":" + AlertEntity.value))
    best = session.execute(
        select(AlertEntity.incident_id, shared)
        .join(Incident, Incident.id == AlertEntity.incident_id)
        .where(
            matches,
            AlertEntity.event_time >= alert.event_time - policy.window,
            AlertEntity.event_time <= alert.event_time + policy.window,
            Incident.state.in_(open_states),
            Incident.is_exercise == alert.is_exercise,
        )
        .group_by(AlertEntity.incident_id)
        .order_by(shared.desc(), func.max(AlertEntity.event_time).desc(), AlertEntity.incident_id.desc())
        .limit(1)
    ).first()
    return None if best is None else session.get(Incident, best[0])
