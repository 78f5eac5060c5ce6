"""The changes every path shares (intake, analyst actions, regrouping), each with its audit entry.

Service functions check permissions and versions, then call these; these never check, they only change
the incident consistently and record what changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import record
from watchfloor.cases.errors import Conflict, NotFound
from watchfloor.cases.grouping import EntityKey
from watchfloor.cases.models import Alert, AlertEntity, Escalation, Incident, Task, TaskTemplate, utcnow
from watchfloor.cases.users import Actor
from watchfloor.cases.values import Severity, State, queue_for_tier, severity_rank

if TYPE_CHECKING:
    from watchfloor.cases.intake import IncomingAlert
    from watchfloor.cases.routing import RouteDecision

__all__ = [
    "apply_templates",
    "attach_alert",
    "audit_incident",
    "change_tier",
    "evidence_snapshot",
    "load_incident",
    "open_incident",
    "recompute",
    "snapshot",
]

_SNAPSHOT_FIELDS = (
    "state",
    "tier",
    "queue",
    "severity",
    "assignee",
    "alert_count",
    "verdict",
    "remediation_kind",
    "merged_into_id",
    "version",
)


def snapshot(incident: Incident) -> dict[str, Any]:
    """The fields of an incident an audit entry's before/after carries."""
    return {name: getattr(incident, name) for name in _SNAPSHOT_FIELDS}


def audit_incident(
    session: Session,
    actor: Actor,
    action: str,
    incident: Incident,
    before: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Record a change to an incident; `extra` adds what metrics need (times, tiers, verdicts)."""
    session.flush()
    after = snapshot(incident) | (extra or {})
    record(
        session,
        actor=actor.username,
        action=action,
        target_type="incident",
        target_id=incident.id,
        before=before,
        after=after,
        request_id=actor.request_id,
    )


def load_incident(
    session: Session, incident_id: int, expected_version: int | None = None, *, for_update: bool = False
) -> Incident:
    """The incident, refusing a stale `expected_version` with a `Conflict` that names the current one.

    `for_update` locks the row (PostgreSQL) so the version read is the version written.
    """
    incident = session.get(Incident, incident_id, with_for_update=for_update or expected_version is not None)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    if expected_version is not None and incident.version != expected_version:
        raise Conflict(
            f"incident {incident_id} changed since you read it (version {expected_version}, now "
            f"{incident.version}): reload and try again",
            current_version=incident.version,
        )
    return incident


def _title(alert: IncomingAlert) -> str:
    on = alert.hosts[0] if alert.hosts else alert.users[0] if alert.users else ""
    return f"{alert.rule_title} on {on}" if on else alert.rule_title


def open_incident(session: Session, actor: Actor, alert: IncomingAlert, decision: RouteDecision) -> Incident:
    """A new incident in the queue routing chose, seeded from its first alert."""
    severity = Severity(alert.severity.lower())
    incident = Incident(
        title=_title(alert)[:512],
        state=State.NEW.value,
        tier=decision.tier,
        queue=decision.queue,
        severity=severity.value,
        severity_rank=severity_rank(severity),
        correlation_key=alert.correlation_key,
        is_exercise=alert.is_exercise,
        priority=decision.priority,
        priority_score=decision.score,
        alert_count=0,
        first_alert_at=alert.event_time,
        last_alert_at=alert.event_time,
        remediation_actions=[],
    )
    session.add(incident)
    extra = {
        "first_alert_at": alert.event_time,
        "routing": list(decision.reasons),
        "is_exercise": alert.is_exercise,
        "title": incident.title,
        "rule_id": alert.rule_id,
        "source": alert.source,
        "services": list(decision.services),
        "priority": decision.priority,
        "priority_score": decision.score,
        "sla_severity": decision.sla_severity,
        "priority_reasons": list(decision.priority_reasons),
    }
    audit_incident(session, actor, "incident.opened", incident, None, extra)
    return incident


def attach_alert(
    session: Session, actor: Actor, incident: Incident, alert: IncomingAlert, keys: frozenset[EntityKey]
) -> Alert:
    """Store an alert in an incident, index its entities for grouping, and add runbook tasks."""
    row = Alert(
        uid=alert.uid,
        incident_id=incident.id,
        rule_id=alert.rule_id,
        rule_title=alert.rule_title,
        severity=alert.severity.lower(),
        event_time=alert.event_time,
        source=alert.source,
        correlation_key=alert.correlation_key,
        is_exercise=alert.is_exercise,
        techniques=list(alert.techniques),
        tactics=list(alert.tactics),
        evidence_event_ids=list(alert.evidence_event_ids),
    )
    row.entities = [
        AlertEntity(incident_id=incident.id, kind=k.value, value=v, event_time=alert.event_time)
        for k, v in sorted(keys)
    ]
    session.add(row)
    before = snapshot(incident)
    incident.alert_count += 1
    incident.first_alert_at = min(incident.first_alert_at, alert.event_time)
    incident.last_alert_at = max(incident.last_alert_at, alert.event_time)
    rank = severity_rank(row.severity)
    if rank > incident.severity_rank:
        incident.severity, incident.severity_rank = row.severity, rank
    incident.updated_at = utcnow()
    extra = {
        "alert_uid": alert.uid,
        "rule_id": alert.rule_id,
        "source": alert.source,
        "event_time": alert.event_time,
    }
    audit_incident(session, actor, "alert.attached", incident, before, extra)
    apply_templates(session, actor, incident, alert.rule_id, alert.techniques)
    return row


def apply_templates(
    session: Session, actor: Actor, incident: Incident, rule_id: str, techniques: tuple[str, ...]
) -> list[Task]:
    """Add the runbook tasks whose template matches this rule or technique, once per incident."""
    templates = session.scalars(select(TaskTemplate).order_by(TaskTemplate.position, TaskTemplate.id)).all()
    wanted = [
        t
        for t in templates
        if t.match_kind == "any"
        or (t.match_kind == "rule" and t.match_value == rule_id)
        or (t.match_kind == "technique" and t.match_value.lower() in {x.lower() for x in techniques})
    ]
    if not wanted:
        return []
    have = set(
        session.scalars(
            select(Task.template_id).where(Task.incident_id == incident.id, Task.template_id.is_not(None))
        )
    )
    added = []
    for template in wanted:
        if template.id in have:
            continue
        task = Task(
            incident_id=incident.id,
            template_id=template.id,
            title=template.title,
            description=template.description,
        )
        session.add(task)
        session.flush()
        record(
            session,
            actor=actor.username,
            action="task.added",
            target_type="incident",
            target_id=incident.id,
            after={"task_id": task.id, "title": task.title, "template_id": template.id},
            request_id=actor.request_id,
        )
        added.append(task)
    return added


def evidence_snapshot(session: Session, incident_id: int) -> list[str]:
    """The evidence event ids of the incident's alerts right now, for escalation records."""
    ids: set[str] = set()
    for evidence in session.scalars(select(Alert.evidence_event_ids).where(Alert.incident_id == incident_id)):
        ids.update(evidence)
    return sorted(ids)


def change_tier(
    session: Session, actor: Actor, incident: Incident, to_tier: int, reason: str, note: str
) -> Escalation:
    """Move an incident to another tier's queue and keep the move as its own record.

    The assignee is cleared: the receiving tier picks the incident up from its queue.
    """
    before = snapshot(incident)
    direction = "escalate" if to_tier > incident.tier else "deescalate"
    escalation = Escalation(
        incident_id=incident.id,
        direction=direction,
        from_tier=incident.tier,
        to_tier=to_tier,
        actor=actor.username,
        reason=reason,
        handoff_note=note,
        evidence_snapshot=evidence_snapshot(session, incident.id),
    )
    session.add(escalation)
    incident.tier, incident.queue, incident.assignee = to_tier, queue_for_tier(to_tier), None
    incident.updated_at = utcnow()
    session.flush()
    extra = {
        "from_tier": escalation.from_tier,
        "to_tier": to_tier,
        "reason": reason,
        "handoff_note": note,
        "escalation_id": escalation.id,
        "evidence": escalation.evidence_snapshot,
    }
    audit_incident(session, actor, f"incident.{direction}d", incident, before, extra)
    return escalation


def recompute(session: Session, incident: Incident) -> None:
    """Refresh the derived fields (count, severity, first and last alert) after alerts moved."""
    count, first, last = session.execute(
        select(func.count(Alert.id), func.min(Alert.event_time), func.max(Alert.event_time)).where(
            Alert.incident_id == incident.id
        )
    ).one()
    severities = set(session.scalars(select(Alert.severity).where(Alert.incident_id == incident.id)))
    incident.alert_count = count
    if count:
        incident.first_alert_at = first
        incident.last_alert_at = last
        worst = max(severities, key=severity_rank)
        incident.severity, incident.severity_rank = worst, severity_rank(worst)
    incident.updated_at = utcnow()
