"""Analysts correcting the grouping: merge incidents, split alerts off into a new one, move alerts.

Alerts and their indexed entities move together, so later alerts group with where an analyst put them.
An incident left without alerts is closed as a duplicate of the one that received them. Both sides of
every move get an audit entry and their derived fields (count, severity, first and last alert) refreshed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from watchfloor.cases.errors import InvalidInput, NotAllowed, NotFound
from watchfloor.cases.incidents import audit_incident, load_incident, recompute, snapshot
from watchfloor.cases.models import Alert, AlertEntity, Incident, IncidentLink, utcnow
from watchfloor.cases.users import Actor, require_tier
from watchfloor.cases.values import State, Verdict

__all__ = ["merge", "move_alerts", "split"]


def _open_for(session: Session, actor: Actor, incident_id: int, version: int | None, doing: str) -> Incident:
    incident = load_incident(session, incident_id, version, for_update=True)
    require_tier(actor, incident.tier, f"{doing} tier {incident.tier} incident {incident_id}")
    if incident.state == State.CLOSED:
        raise NotAllowed(f"cannot {doing} incident {incident_id}: it is closed")
    return incident


def _relocate(session: Session, alert_ids: Sequence[int], target: Incident) -> None:
    session.execute(
        update(Alert).where(Alert.id.in_(alert_ids)).values(incident_id=target.id),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(AlertEntity).where(AlertEntity.alert_id.in_(alert_ids)).values(incident_id=target.id),
        execution_options={"synchronize_session": False},
    )
    session.expire_all()


def _close_as_duplicate(session: Session, actor: Actor, emptied: Incident, into: Incident) -> None:
    before = snapshot(emptied)
    now = utcnow()
    emptied.state, emptied.verdict, emptied.closed_at = State.CLOSED.value, Verdict.DUPLICATE.value, now
    emptied.merged_into_id = into.id
    recompute(session, emptied)
    low, high = sorted((emptied.id, into.id))
    linked = session.scalars(
        select(IncidentLink.id).where(IncidentLink.incident_id == low, IncidentLink.related_id == high)
    ).first()
    if linked is None:
        session.add(
            IncidentLink(incident_id=low, related_id=high, reason="merged", created_by=actor.username)
        )
    extra = {"closed_at": now, "verdict": Verdict.DUPLICATE.value, "merged_into": into.id}
    audit_incident(session, actor, "incident.merged", emptied, before, extra)


def merge(
    session: Session,
    actor: Actor,
    target_id: int,
    expected_version: int | None,
    sources: Mapping[int, int | None],
) -> Incident:
    """Move every alert of `sources` (incident id → expected version) into the target incident."""
    if not sources or target_id in sources:
        raise InvalidInput("merge names other incidents into a target")
    target = _open_for(session, actor, target_id, expected_version, "merge into")
    before = snapshot(target)
    moved: list[str] = []
    for source_id, version in sorted(sources.items()):
        source = _open_for(session, actor, source_id, version, "merge")
        rows = session.execute(select(Alert.id, Alert.uid).where(Alert.incident_id == source_id)).all()
        _relocate(session, [r.id for r in rows], target)
        moved += [r.uid for r in rows]
        _close_as_duplicate(session, actor, session.get(Incident, source.id) or source, target)
    target = session.get(Incident, target_id) or target
    recompute(session, target)
    extra = {"merged_from": sorted(sources), "alert_uids": moved}
    audit_incident(session, actor, "incident.merged_into", target, before, extra)
    return target


def _alerts_by_uid(session: Session, uids: Sequence[str]) -> list[Alert]:
    if not uids:
        raise InvalidInput("name at least one alert")
    rows = list(session.scalars(select(Alert).where(Alert.uid.in_(uids))))
    missing = sorted(set(uids) - {a.uid for a in rows})
    if missing:
        raise NotFound(f"unknown alert(s): {', '.join(missing)}")
    return rows


def split(
    session: Session, actor: Actor, incident_id: int, expected_version: int | None, alert_uids: Sequence[str]
) -> Incident:
    """Take some alerts out of an incident into a new incident in the same tier and queue."""
    source = _open_for(session, actor, incident_id, expected_version, "split")
    alerts = _alerts_by_uid(session, alert_uids)
    strangers = sorted(a.uid for a in alerts if a.incident_id != incident_id)
    if strangers:
        raise InvalidInput(f"alert(s) {', '.join(strangers)} are not in incident {incident_id}")
    if len(alerts) >= source.alert_count:
        raise InvalidInput(
            f"splitting every alert out of incident {incident_id} leaves it empty: keep at least one"
        )
    first = min(alerts, key=lambda a: a.event_time)
    new = Incident(
        title=f"{first.rule_title} (split from #{incident_id})"[:512],
        state=State.NEW.value,
        tier=source.tier,
        queue=source.queue,
        severity=first.severity,
        severity_rank=0,
        correlation_key=None,
        is_exercise=source.is_exercise,
        alert_count=0,
        first_alert_at=first.event_time,
        last_alert_at=first.event_time,
        remediation_actions=[],
    )
    session.add(new)
    session.flush()
    before = snapshot(source)
    uids = sorted(a.uid for a in alerts)
    _relocate(session, [a.id for a in alerts], new)
    new = session.get(Incident, new.id) or new
    source = session.get(Incident, incident_id) or source
    recompute(session, new)
    recompute(session, source)
    extra = {"split_from": incident_id, "alert_uids": uids, "first_alert_at": new.first_alert_at}
    audit_incident(session, actor, "incident.opened", new, None, extra)
    audit_incident(
        session, actor, "incident.split", source, before, {"split_into": new.id, "alert_uids": uids}
    )
    return new


def move_alerts(
    session: Session, actor: Actor, alert_uids: Sequence[str], target_id: int, expected_version: int | None
) -> Incident:
    """Move alerts from wherever they are into the target; an emptied incident closes as a duplicate."""
    target = _open_for(session, actor, target_id, expected_version, "move alerts into")
    alerts = [a for a in _alerts_by_uid(session, alert_uids) if a.incident_id != target_id]
    if not alerts:
        return target
    sources = sorted({a.incident_id for a in alerts})
    for source_id in sources:
        _open_for(session, actor, source_id, None, "move alerts out of")
    before_target = snapshot(target)
    befores = {sid: snapshot(session.get(Incident, sid) or target) for sid in sources}
    uids = sorted(a.uid for a in alerts)
    _relocate(session, [a.id for a in alerts], target)
    target = session.get(Incident, target_id) or target
    recompute(session, target)
    for source_id in sources:
        source = session.get(Incident, source_id)
        assert source is not None
        recompute(session, source)
        if source.alert_count == 0:
            _close_as_duplicate(session, actor, source, target)
        else:
            extra = {"moved_to": target_id, "alert_uids": uids}
            audit_incident(session, actor, "alert.moved_out", source, befores[source_id], extra)
    audit_incident(
        session, actor, "alert.moved_in", target, before_target, {"moved_from": sources, "alert_uids": uids}
    )
    return target
