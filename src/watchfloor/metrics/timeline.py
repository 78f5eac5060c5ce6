"""Replaying the audit log into one timeline per incident: the only input metrics have.

Nothing here reads the incidents table. Each incident's timeline is built from its `incident.*` and
`alert.*` entries in log order:

- `incident.opened`: the open time (the entry's time), `first_alert_at`, exercise flag, starting tier,
  the first alert's rule and source, and the business services routing matched.
- `alert.attached`: the rule and source of each alert (remembered by alert uid, so alerts moved by a
  split, merge or move are credited to the incident that holds them at the end).
- `incident.acknowledged`: the first one is the acknowledgement.
- `incident.remediated`: the first one is the remediation, with its kind (manual or automated).
- `incident.closed`: the closure, verdict and remediation kind; also a remediation if none came before.
- `incident.merged`: closed as a duplicate of another incident (not a remediation).
- `incident.escalated` / `incident.deescalated`: tier moves (from, to, time).
- `incident.investigating` whose previous state was `closed`: a reopen (the closure no longer stands).

Every entry's snapshot also carries the severity, so the timeline keeps the latest one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from watchfloor.cases import AuditRecord, entries

__all__ = ["IncidentTimeline", "TierMove", "replay"]


@dataclass(frozen=True, slots=True)
class TierMove:
    """One tier change of an incident."""

    at: dt.datetime
    from_tier: int
    to_tier: int
    actor: str

    @property
    def direction(self) -> str:
        """`escalation` (up) or `deescalation` (down)."""
        return "escalation" if self.to_tier > self.from_tier else "deescalation"


@dataclass(slots=True)
class IncidentTimeline:
    """What the log says happened to one incident, in the terms metrics need."""

    incident_id: int
    opened_at: dt.datetime
    first_alert_at: dt.datetime
    initial_tier: int
    tier: int
    severity: str
    is_exercise: bool = False
    acknowledged_at: dt.datetime | None = None
    remediated_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    verdict: str | None = None
    remediation: str | None = None
    reopens: int = 0
    pauses: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)
    moves: list[TierMove] = field(default_factory=list)
    services: set[str] = field(default_factory=set)
    alert_uids: set[str] = field(default_factory=set)
    opening_feed: tuple[str, str] = ("", "")

    @property
    def closed(self) -> bool:
        """Whether a closure stands (closed and not reopened since)."""
        return self.closed_at is not None

    def tier_periods(self, until: dt.datetime) -> Iterator[tuple[int, dt.datetime, dt.datetime]]:
        """(tier, start, end) for each stretch open in one tier, up to the closure or `until`.

        Time between a closure and a reopen is not in any tier.
        """
        end = min(self.closed_at or until, until)
        stretches: list[tuple[int, dt.datetime, dt.datetime]] = []
        start, tier = self.opened_at, self.initial_tier
        for move in self.moves:
            if move.at >= end:
                break
            stretches.append((tier, start, move.at))
            start, tier = move.at, move.to_tier
        stretches.append((tier, start, end))
        for tier, a, b in stretches:
            for paused_from, paused_to in self.pauses:
                if paused_from < b and paused_to > a:
                    if paused_from > a:
                        yield tier, a, paused_from
                    a = max(a, paused_to)
            if b > a:
                yield tier, a, b


def _time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


_ACTIONS = (
    "incident.opened",
    "incident.acknowledged",
    "incident.remediated",
    "incident.closed",
    "incident.merged",
    "incident.merged_into",
    "incident.escalated",
    "incident.deescalated",
    "incident.investigating",
    "incident.split",
    "alert.attached",
    "alert.moved_in",
)


def _relocate(
    timelines: dict[int, IncidentTimeline], owner: dict[str, int], uids: list[str], to: int
) -> None:
    for uid in uids:
        old = owner.get(uid)
        if old is not None and old in timelines:
            timelines[old].alert_uids.discard(uid)
        owner[uid] = to
        if to in timelines:
            timelines[to].alert_uids.add(uid)


def _apply(entry: AuditRecord, line: IncidentTimeline) -> None:
    after = entry.after
    if isinstance(after.get("severity"), str):
        line.severity = after["severity"]
    if isinstance(after.get("tier"), int):
        line.tier = after["tier"]
    action = entry.action
    if action == "incident.acknowledged" and line.acknowledged_at is None:
        line.acknowledged_at = entry.at
    elif action == "incident.remediated":
        if line.remediated_at is None:
            line.remediated_at = entry.at
        line.remediation = after.get("remediation_kind") or line.remediation
    elif action == "incident.closed":
        line.closed_at, line.verdict = entry.at, after.get("verdict")
        line.remediation = after.get("remediation_kind") or line.remediation
        if line.remediated_at is None and line.remediation is not None:
            line.remediated_at = entry.at
    elif action == "incident.merged":
        line.closed_at, line.verdict = entry.at, after.get("verdict", "duplicate")
    elif action in ("incident.escalated", "incident.deescalated"):
        line.moves.append(TierMove(entry.at, int(after["from_tier"]), int(after["to_tier"]), entry.actor))
    elif action == "incident.investigating" and entry.before.get("state") == "closed":
        line.reopens += 1
        if line.closed_at is not None:
            line.pauses.append((line.closed_at, entry.at))
        line.closed_at, line.verdict = None, None


def replay(session: Session) -> tuple[dict[int, IncidentTimeline], dict[str, tuple[str, str]]]:
    """Every incident's timeline, and each alert uid's (rule, source), from one pass over the log."""
    timelines: dict[int, IncidentTimeline] = {}
    feeds: dict[str, tuple[str, str]] = {}
    owner: dict[str, int] = {}
    for entry in entries(session, target_type="incident", actions=_ACTIONS):
        incident_id = int(entry.target_id)
        after = entry.after
        if entry.action == "incident.opened":
            first = _time(after.get("first_alert_at")) or entry.at
            timelines[incident_id] = IncidentTimeline(
                incident_id=incident_id,
                opened_at=entry.at,
                first_alert_at=first,
                initial_tier=int(after.get("tier", 1)),
                tier=int(after.get("tier", 1)),
                severity=str(after.get("severity", "medium")),
                is_exercise=bool(after.get("is_exercise", False)),
                services=set(after.get("services") or ()),
                opening_feed=(str(after.get("rule_id", "")), str(after.get("source", ""))),
            )
            parent = timelines.get(int(after.get("split_from") or 0))
            if parent is not None:  # a split: the alerts, and the exercise flag, come from the parent
                timelines[incident_id].is_exercise = parent.is_exercise
                _relocate(timelines, owner, list(after.get("alert_uids") or ()), incident_id)
            continue
        line = timelines.get(incident_id)
        if line is None:  # entries of an incident opened before the log began: nothing to measure
            continue
        if entry.action == "alert.attached":
            uid = str(after.get("alert_uid", ""))
            feeds[uid] = (str(after.get("rule_id", "")), str(after.get("source", "")))
            _relocate(timelines, owner, [uid], incident_id)
        elif entry.action in ("alert.moved_in", "incident.merged_into"):
            _relocate(timelines, owner, list(after.get("alert_uids") or ()), incident_id)
        _apply(entry, line)
    return timelines, feeds
