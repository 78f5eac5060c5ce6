"""Which tier a new incident starts in: tier 1, unless it touches something marked business critical.

The criticality table names assets and identities (entity type and value) with a criticality and the
business service they support. The rule that maps criticality to a starting tier is a declaration,
`TIER_BY_CRITICALITY`, not code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import record
from watchfloor.cases.errors import InvalidInput
from watchfloor.cases.grouping import EntityKey, normalize_entity
from watchfloor.cases.models import CriticalEntity
from watchfloor.cases.users import Actor, require_tier
from watchfloor.cases.values import EntityKind, queue_for_tier

__all__ = [
    "TIER_BY_CRITICALITY",
    "Criticality",
    "CriticalityView",
    "RouteDecision",
    "list_criticality",
    "route",
    "set_criticality",
]


class Criticality(StrEnum):
    """How much an asset or identity matters to the business."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    BUSINESS_CRITICAL = "business_critical"


TIER_BY_CRITICALITY: dict[Criticality, int] = {Criticality.BUSINESS_CRITICAL: 2}
DEFAULT_TIER = 1


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The starting tier and queue of an incident, and why."""

    tier: int
    queue: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CriticalityView:
    """One row of the criticality table."""

    entity_type: EntityKind
    value: str
    criticality: Criticality
    business_service: str


def route(session: Session, keys: frozenset[EntityKey]) -> RouteDecision:
    """Tier 1 by default; the highest tier any touched critical entity calls for otherwise."""
    if not keys:
        return RouteDecision(DEFAULT_TIER, queue_for_tier(DEFAULT_TIER))
    matches = or_(*(and_(CriticalEntity.entity_type == k.value, CriticalEntity.value == v) for k, v in keys))
    tier, reasons = DEFAULT_TIER, []
    for row in session.scalars(select(CriticalEntity).where(matches).order_by(CriticalEntity.id)):
        wanted = TIER_BY_CRITICALITY.get(Criticality(row.criticality), DEFAULT_TIER)
        if wanted > DEFAULT_TIER:
            service = f" ({row.business_service})" if row.business_service else ""
            reasons.append(f"{row.entity_type} {row.value} is {row.criticality}{service}")
        tier = max(tier, wanted)
    return RouteDecision(tier, queue_for_tier(tier), tuple(reasons))


def set_criticality(
    session: Session,
    actor: Actor,
    entity_type: str,
    value: str,
    criticality: str,
    business_service: str = "",
) -> CriticalityView:
    """Mark (or re-mark) an asset or identity; tier 2 staff and above maintain this table."""
    require_tier(actor, 2, "change asset criticality")
    try:
        kind, level = EntityKind(entity_type), Criticality(criticality)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    norm = normalize_entity(kind, value)
    row = session.scalars(
        select(CriticalEntity).where(CriticalEntity.entity_type == kind.value, CriticalEntity.value == norm)
    ).first()
    before = (
        None if row is None else {"criticality": row.criticality, "business_service": row.business_service}
    )
    if row is None:
        row = CriticalEntity(entity_type=kind.value, value=norm, criticality=level.value)
        session.add(row)
    row.criticality, row.business_service = level.value, business_service
    session.flush()
    record(
        session,
        actor=actor.username,
        action="criticality.set",
        target_type=kind.value,
        target_id=norm,
        before=before,
        after={"criticality": level.value, "business_service": business_service},
        request_id=actor.request_id,
    )
    return CriticalityView(kind, norm, level, business_service)


def list_criticality(session: Session) -> list[CriticalityView]:
    """The whole criticality table."""
    rows = session.scalars(select(CriticalEntity).order_by(CriticalEntity.entity_type, CriticalEntity.value))
    return [
        CriticalityView(EntityKind(r.entity_type), r.value, Criticality(r.criticality), r.business_service)
        for r in rows
    ]
