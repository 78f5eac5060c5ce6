"""Which tier and priority a new incident starts with: from its severity and the business context.

Two sources describe what matters. The criticality table (`watchfloor criticality set`) names assets
and identities (entity type and value) with a criticality and the business service they support; the
business context (`watchfloor context import`: assets, identities, services) describes them fully.
Both resolve the alert's hosts, users and addresses (`watchfloor.context.ContextIndex`: short names,
FQDNs, CIDR ranges, domain-qualified user names), and `watchfloor.context.compute_priority` turns
the severity and what was touched into P1..P4, a score and the SLA severity class. The starting
tier is tier 2 when a business-critical entity is touched (criticality 5, a crown jewel, a
business-critical service); the rule that maps the old table's words to a tier is a declaration,
`TIER_BY_CRITICALITY`, not code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import record
from watchfloor.cases.context_records import context_index, forget_index
from watchfloor.cases.errors import InvalidInput
from watchfloor.cases.grouping import EntityKey, normalize_entity
from watchfloor.cases.models import CriticalEntity, Incident
from watchfloor.cases.users import Actor, require_tier
from watchfloor.cases.values import EntityKind, queue_for_tier
from watchfloor.context import BusinessService, ContextIndex, Resolution, compute_priority

__all__ = [
    "TIER_BY_CRITICALITY",
    "Criticality",
    "CriticalityView",
    "RouteDecision",
    "list_criticality",
    "raise_priority",
    "route",
    "set_criticality",
]


class Criticality(StrEnum):
    """How much an asset or identity matters to the business."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    BUSINESS_CRITICAL = "business_critical"


BUSINESS_CRITICAL_TIER = 2
TIER_BY_CRITICALITY: dict[Criticality, int] = {Criticality.BUSINESS_CRITICAL: BUSINESS_CRITICAL_TIER}
DEFAULT_TIER = 1


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The starting tier, queue and priority of an incident, and why.

    `reasons` explain the tier and queue; `priority_reasons` the priority (P1..P4) and its score.
    `sla_severity` is the severity class whose SLA targets the priority calls for.
    """

    tier: int
    queue: str
    reasons: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    priority: str | None = None
    score: int | None = None
    sla_severity: str | None = None
    priority_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CriticalityView:
    """One row of the criticality table."""

    entity_type: EntityKind
    value: str
    criticality: Criticality
    business_service: str


def _resolve(index: ContextIndex, keys: frozenset[EntityKey]) -> list[Resolution]:
    lookups = {EntityKind.HOST: index.host, EntityKind.USER: index.user, EntityKind.IP: index.ip}
    found = []
    for kind, value in sorted(keys):
        lookup = lookups.get(kind)
        match = lookup(value) if lookup is not None else None
        if match is not None:
            found.append(match)
    return found


def route(
    session: Session,
    keys: frozenset[EntityKey],
    severity: str = "medium",
    intel_confidence: int | None = None,
) -> RouteDecision:
    """Tier 1 by default; tier 2 when a business-critical entity is touched; the priority from context."""
    tier, reasons, services = DEFAULT_TIER, [], set()
    named: set[tuple[str, str]] = set()
    if keys:
        matches = or_(
            *(and_(CriticalEntity.entity_type == k.value, CriticalEntity.value == v) for k, v in keys)
        )
        for row in session.scalars(select(CriticalEntity).where(matches).order_by(CriticalEntity.id)):
            services.update([row.business_service] if row.business_service else [])
            wanted = TIER_BY_CRITICALITY.get(Criticality(row.criticality), DEFAULT_TIER)
            if wanted > DEFAULT_TIER:
                service = f" ({row.business_service})" if row.business_service else ""
                reasons.append(f"{row.entity_type} {row.value} is {row.criticality}{service}")
                named.add((row.entity_type, row.value))
            tier = max(tier, wanted)
    index = context_index(session)
    resolved = _resolve(index, keys)
    priority = compute_priority(severity, resolved, index.services, intel_confidence)
    services.update(priority.services)
    for match in resolved:
        if (match.entity_type.value, match.value) in named:
            continue
        alone = compute_priority(severity, [match], index.services)
        if alone.business_critical:
            tier = max(tier, BUSINESS_CRITICAL_TIER)
            supports = "" if isinstance(match.record, BusinessService) else match.record.service
            service = f" ({supports})" if supports else ""
            reasons.append(f"{match.entity_type.value} {match.value} is business critical{service}")
    return RouteDecision(
        tier,
        queue_for_tier(tier),
        tuple(reasons),
        tuple(sorted(services)),
        priority.priority.value,
        priority.score,
        priority.sla_severity,
        priority.reasons,
    )


_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}


def raise_priority(session: Session, actor: Actor, incident: Incident, decision: RouteDecision) -> bool:
    """Raise an incident's priority when a later alert calls for a higher one; audited. True if raised."""
    if decision.priority is None:
        return False
    current = _RANK.get(incident.priority or "", 5)
    if _RANK[decision.priority] >= current:
        return False
    before = {"priority": incident.priority, "priority_score": incident.priority_score}
    incident.priority, incident.priority_score = decision.priority, decision.score
    session.flush()
    record(
        session,
        actor=actor.username,
        action="incident.prioritized",
        target_type="incident",
        target_id=incident.id,
        before=before,
        after={
            "priority": decision.priority,
            "priority_score": decision.score,
            "sla_severity": decision.sla_severity,
            "reasons": list(decision.priority_reasons),
        },
        request_id=actor.request_id,
    )
    return True


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
    forget_index(session)
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
