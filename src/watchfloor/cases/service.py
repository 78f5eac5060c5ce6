"""What analysts do to incidents: acknowledge, move through the workflow, assign, escalate, close, reopen.

Every function takes the session and the acting user, checks the actor's tier against the incident's,
refuses a stale `expected_version` with `Conflict`, applies the workflow, and writes an audit entry in
the same transaction. The CLI and the API are thin callers of these.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.errors import Forbidden, InvalidInput, NotAllowed, NotFound
from watchfloor.cases.fidelity import FidelityPolicy, feeds_of_incident, review_feeds
from watchfloor.cases.incidents import audit_incident, change_tier, load_incident, snapshot
from watchfloor.cases.models import Escalation, Incident, User, utcnow
from watchfloor.cases.users import Actor, require_tier
from watchfloor.cases.values import ROLE_TIER, TIERS, RemediationKind, Role, State, Verdict
from watchfloor.cases.workflow import Action, next_state

__all__ = [
    "acknowledge",
    "assign",
    "close",
    "contain",
    "deescalate",
    "escalate",
    "investigate",
    "remediate",
    "reopen",
]

_TIER_QUEUE = re.compile(r"^tier(\d+)$")


def _for_work(session: Session, actor: Actor, incident_id: int, version: int | None, doing: str) -> Incident:
    incident = load_incident(session, incident_id, version, for_update=True)
    require_tier(actor, incident.tier, f"{doing} tier {incident.tier} incident {incident_id}")
    return incident


def _move(
    session: Session, actor: Actor, incident: Incident, action: Action, extra: dict[str, Any]
) -> Incident:
    before = snapshot(incident)
    incident.state = next_state(incident.state, action).value
    incident.updated_at = utcnow()
    audit_incident(session, actor, f"incident.{incident.state}", incident, before, extra)
    return incident


def acknowledge(session: Session, actor: Actor, incident_id: int, expected_version: int | None) -> Incident:
    """Take a new incident: records who and when, the start of the MTTA clock's end."""
    incident = _for_work(session, actor, incident_id, expected_version, "acknowledge")
    next_state(incident.state, Action.ACKNOWLEDGE)
    now = utcnow()
    incident.acknowledged_at, incident.acknowledged_by = now, actor.username
    if incident.assignee is None:
        incident.assignee = actor.username
    extra = {
        "acknowledged_at": now,
        "first_alert_at": incident.first_alert_at,
        "acknowledged_by": actor.username,
    }
    return _move(session, actor, incident, Action.ACKNOWLEDGE, extra)


def investigate(session: Session, actor: Actor, incident_id: int, expected_version: int | None) -> Incident:
    """Start investigating an acknowledged incident."""
    incident = _for_work(session, actor, incident_id, expected_version, "investigate")
    return _move(session, actor, incident, Action.INVESTIGATE, {})


def contain(session: Session, actor: Actor, incident_id: int, expected_version: int | None) -> Incident:
    """Record that the threat is contained (spread stopped, not yet removed)."""
    incident = _for_work(session, actor, incident_id, expected_version, "contain")
    return _move(session, actor, incident, Action.CONTAIN, {"contained_at": utcnow()})


def _remediation(kind: str | None) -> RemediationKind:
    if not kind:
        raise InvalidInput("say how it was remediated: manual or automated")
    try:
        return RemediationKind(kind)
    except ValueError:
        raise InvalidInput(f"unknown remediation {kind!r} (manual or automated)") from None


def remediate(
    session: Session,
    actor: Actor,
    incident_id: int,
    expected_version: int | None,
    kind: str,
    actions: tuple[str, ...] = (),
) -> Incident:
    """Record that the threat is removed, how (manual or automated) and with which actions: MTTR ends here."""
    incident = _for_work(session, actor, incident_id, expected_version, "remediate")
    parsed = _remediation(kind)
    next_state(incident.state, Action.REMEDIATE)
    now = utcnow()
    incident.remediated_at, incident.remediation_kind = now, parsed.value
    incident.remediation_actions = [*incident.remediation_actions, *actions]
    extra = {
        "remediated_at": now,
        "acknowledged_at": incident.acknowledged_at,
        "remediation_kind": parsed.value,
        "actions": list(actions),
    }
    return _move(session, actor, incident, Action.REMEDIATE, extra)


def close(
    session: Session,
    actor: Actor,
    incident_id: int,
    expected_version: int | None,
    verdict: str | None,
    remediation: str | None = None,
    actions: tuple[str, ...] = (),
    note: str = "",
    fidelity: FidelityPolicy | None = None,
) -> Incident:
    """Close with a verdict; remediation (manual or automated) is required unless already recorded.

    The entry names the rules and sources of the incident's alerts, and those feeds are re-judged by the
    90% rule (`fidelity`, defaults when None) in the same transaction.
    """
    incident = _for_work(session, actor, incident_id, expected_version, "close")
    next_state(incident.state, Action.CLOSE)
    if not verdict:
        known = ", ".join(v.value for v in Verdict)
        raise InvalidInput(f"closing incident {incident_id} needs a verdict ({known})")
    try:
        parsed_verdict = Verdict(verdict)
    except ValueError:
        known = ", ".join(v.value for v in Verdict)
        raise InvalidInput(f"unknown verdict {verdict!r} ({known})") from None
    now = utcnow()
    if remediation or incident.remediation_kind is None:
        incident.remediation_kind = _remediation(remediation).value
        incident.remediation_actions = [*incident.remediation_actions, *actions]
    if incident.remediated_at is None:
        incident.remediated_at = now
    incident.verdict, incident.closed_at = parsed_verdict.value, now
    extra = {
        "closed_at": now,
        "verdict": parsed_verdict.value,
        "remediation_kind": incident.remediation_kind,
        "actions": list(actions),
        "note": note,
        "first_alert_at": incident.first_alert_at,
        "acknowledged_at": incident.acknowledged_at,
        "remediated_at": incident.remediated_at,
    }
    feeds = feeds_of_incident(session, incident_id)
    extra["rules"] = [f.name for f in feeds if f.kind == "rule"]
    extra["sources"] = [f.name for f in feeds if f.kind == "source"]
    closed = _move(session, actor, incident, Action.CLOSE, extra)
    review_feeds(session, actor, feeds, fidelity, now)
    return closed


def reopen(
    session: Session, actor: Actor, incident_id: int, expected_version: int | None, reason: str
) -> Incident:
    """Reopen a closed incident for more investigation; the verdict is cleared, the reopen is counted."""
    incident = _for_work(session, actor, incident_id, expected_version, "reopen")
    if not reason.strip():
        raise InvalidInput("reopening needs a reason")
    next_state(incident.state, Action.REOPEN)
    previous = incident.verdict
    incident.verdict, incident.closed_at, incident.merged_into_id = None, None, None
    incident.remediated_at = None
    return _move(session, actor, incident, Action.REOPEN, {"reason": reason, "previous_verdict": previous})


def assign(
    session: Session,
    actor: Actor,
    incident_id: int,
    expected_version: int | None,
    to_user: str | None = None,
    queue: str | None = None,
) -> Incident:
    """Assign to a person who may work the incident's tier, or put it back in a queue of that tier."""
    if (to_user is None) == (queue is None):
        raise InvalidInput("assign to a user or to a queue (exactly one)")
    incident = _for_work(session, actor, incident_id, expected_version, "assign")
    if incident.state == State.CLOSED:
        raise NotAllowed(f"incident {incident_id} is closed: reopen it first")
    before = snapshot(incident)
    if to_user is not None:
        user = session.scalars(select(User).where(User.username == to_user)).first()
        if user is None:
            raise NotFound(f"unknown user {to_user!r}")
        if ROLE_TIER[Role(user.role)] < incident.tier:
            raise Forbidden(
                f"{to_user} ({user.role}) cannot work tier {incident.tier} incident {incident_id}"
            )
        incident.assignee = to_user
    else:
        assert queue is not None
        match = _TIER_QUEUE.match(queue)
        if not queue.strip() or (match and int(match.group(1)) != incident.tier):
            raise InvalidInput(
                f"queue {queue!r} is another tier's: use escalate or deescalate to change tier"
            )
        incident.queue, incident.assignee = queue, None
    incident.updated_at = utcnow()
    audit_incident(session, actor, "incident.assigned", incident, before)
    return incident


def _tier_change(
    session: Session,
    actor: Actor,
    incident_id: int,
    expected_version: int | None,
    to_tier: int,
    note: str,
    reason: str,
    up: bool,
) -> Escalation:
    word = "escalate" if up else "de-escalate"
    if to_tier not in TIERS:
        raise InvalidInput(f"tier {to_tier} does not exist (tiers: {', '.join(map(str, TIERS))})")
    if not note.strip():
        raise InvalidInput(f"{word} needs a handoff note")
    incident = _for_work(session, actor, incident_id, expected_version, word)
    if incident.state == State.CLOSED:
        raise NotAllowed(f"cannot {word} incident {incident_id}: it is closed")
    if (to_tier > incident.tier) != up or to_tier == incident.tier:
        direction = "above" if up else "below"
        raise InvalidInput(
            f"cannot {word} incident {incident_id} to tier {to_tier}: "
            f"it must be {direction} tier {incident.tier}"
        )
    return change_tier(session, actor, incident, to_tier, reason or note, note)


def escalate(
    session: Session,
    actor: Actor,
    incident_id: int,
    expected_version: int | None,
    to_tier: int,
    note: str,
    reason: str = "",
) -> Escalation:
    """Hand the incident up to a higher tier with a note; the evidence ids at this moment are kept."""
    return _tier_change(session, actor, incident_id, expected_version, to_tier, note, reason, up=True)


def deescalate(
    session: Session,
    actor: Actor,
    incident_id: int,
    expected_version: int | None,
    to_tier: int,
    note: str,
    reason: str = "",
) -> Escalation:
    """Hand the incident down to a lower tier (for example, with a runbook to finish) with a note."""
    return _tier_change(session, actor, incident_id, expected_version, to_tier, note, reason, up=False)
