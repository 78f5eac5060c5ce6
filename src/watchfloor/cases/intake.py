"""How alerts arrive in incident management: one typed value in, one typed result out.

Detection (or anything else that raises alerts) adapts its findings to `IncomingAlert` and calls
`receive_alerts`. Each alert is grouped into an open incident it shares entities or a correlation key
with, or opens a new incident routed to the right tier. Receiving the same alert uid twice is harmless:
the second copy is reported as a duplicate and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.errors import InvalidInput
from watchfloor.cases.fidelity import FeedGate
from watchfloor.cases.grouping import GroupingPolicy, entity_keys, find_incident
from watchfloor.cases.incidents import attach_alert, change_tier, open_incident
from watchfloor.cases.models import Alert
from watchfloor.cases.routing import raise_priority, route
from watchfloor.cases.users import Actor
from watchfloor.cases.values import Severity

__all__ = ["IncomingAlert", "IntakeResult", "Placement", "receive_alerts"]


@dataclass(frozen=True, slots=True)
class IncomingAlert:
    """An alert as incident management needs it: what fired, when, on what, and the evidence."""

    uid: str
    rule_id: str
    rule_title: str
    severity: str
    event_time: dt.datetime
    techniques: tuple[str, ...] = ()
    tactics: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    evidence_event_ids: tuple[str, ...] = ()
    source: str = ""
    correlation_key: str | None = None
    is_exercise: bool = False
    queue: str = ""  # a queue the sender asks for (Watchfloor's own health alerts: `health`)

    def __post_init__(self) -> None:
        if not self.uid:
            raise InvalidInput("an alert needs a uid")
        if self.event_time.tzinfo is None:
            raise InvalidInput(f"alert {self.uid}: event_time must be timezone-aware")
        try:
            Severity(self.severity.lower())
        except ValueError:
            known = ", ".join(s.value for s in Severity)
            raise InvalidInput(f"alert {self.uid}: unknown severity {self.severity!r} ({known})") from None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one alert went: its incident, and whether it opened that incident."""

    alert_uid: str
    incident_id: int
    opened: bool


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What a batch of alerts did: each alert's placement, and the uids already known."""

    placements: tuple[Placement, ...] = ()
    duplicates: tuple[str, ...] = field(default=())

    @property
    def opened(self) -> tuple[int, ...]:
        """Incidents this batch opened, in order."""
        return tuple(p.incident_id for p in self.placements if p.opened)

    @property
    def joined(self) -> tuple[Placement, ...]:
        """Alerts that joined an incident that already existed (or that an earlier alert opened)."""
        return tuple(p for p in self.placements if not p.opened)

    def incident_of(self, alert_uid: str) -> int:
        """The incident an alert of this batch went to."""
        for placement in self.placements:
            if placement.alert_uid == alert_uid:
                return placement.incident_id
        raise KeyError(alert_uid)


def receive_alerts(
    session: Session,
    alerts: Iterable[IncomingAlert],
    *,
    policy: GroupingPolicy | None = None,
    actor: Actor | None = None,
) -> IntakeResult:
    """Group, route and store alerts in the caller's transaction; in event-time order."""
    policy = policy or GroupingPolicy()
    actor = actor or Actor.system("intake")
    batch = sorted(alerts, key=lambda a: (a.event_time, a.uid))
    uids = [a.uid for a in batch]
    known: set[str] = set()
    for start in range(0, len(uids), 500):
        chunk = uids[start : start + 500]
        known.update(session.scalars(select(Alert.uid).where(Alert.uid.in_(chunk))))
    placements: list[Placement] = []
    duplicates: list[str] = []
    gate = FeedGate(session)
    for alert in batch:
        if alert.uid in known:
            duplicates.append(alert.uid)
            continue
        known.add(alert.uid)
        keys = entity_keys(alert, policy)
        decision = gate.divert(route(session, keys, alert.severity), alert.rule_id, alert.source)
        if alert.queue:
            why = f"sent to the {alert.queue} queue by {alert.source or 'its sender'}"
            decision = replace(decision, queue=alert.queue, reasons=(*decision.reasons, why))
        incident = find_incident(session, alert, keys, policy)
        opened = incident is None
        if incident is None:
            incident = open_incident(session, actor, alert, decision)
        elif decision.tier > incident.tier:
            change_tier(session, actor, incident, decision.tier, "; ".join(decision.reasons), "")
        if not opened:
            raise_priority(session, actor, incident, decision)
        attach_alert(session, actor, incident, alert, keys)
        placements.append(Placement(alert.uid, incident.id, opened))
    return IntakeResult(tuple(placements), tuple(duplicates))
