"""`compute_metrics`: MTTA, MTTR, tiers, escalations, reopens, automation share and SLA breaches.

A pure function of the audit log (replayed by `timeline.replay`) and a `MetricsQuery`; the CLI and the
API only format its `MetricsReport`. An incident belongs to the range [start, end) by the time of its
`incident.opened` entry. Clocks (see docs/metrics.md):

- MTTA runs from the incident's opening (the `incident.opened` entry; or the first alert's event time
  with `mtta_from = "first_alert"`) to its first `incident.acknowledged` entry.
- MTTR runs from that acknowledgement to the first `incident.remediated` entry, or to the closure that
  recorded the remediation when the incident was closed without a remediated step.

Incidents without an acknowledgement have neither clock (they still count, and can breach the ack SLA
while open). With business hours on, every duration counts only business time.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from watchfloor.cases import InvalidInput, Severity
from watchfloor.metrics.clock import elapsed
from watchfloor.metrics.config import BusinessHours, MetricsConfig
from watchfloor.metrics.timeline import IncidentTimeline, replay
from watchfloor.metrics.values import (
    Breach,
    GroupStats,
    IncidentRow,
    RemediationShare,
    Summary,
    TierPair,
    TierTime,
    TrendPoint,
    summarize,
)

__all__ = ["GROUPINGS", "MetricsQuery", "MetricsReport", "compute_metrics"]

UNKNOWN = "unknown"

# How each `--by` dimension names the groups an incident belongs to (one incident may be in several).
GROUPINGS: dict[str, Callable[[IncidentRow], Iterable[str]]] = {
    "severity": lambda row: [row.severity],
    "tier": lambda row: [str(row.tier)],
    "rule": lambda row: row.rules or [UNKNOWN],
    "source": lambda row: row.sources or [UNKNOWN],
    "service": lambda row: row.services or [UNKNOWN],
}


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """What to compute: the range, groupings, exercises or real incidents, and the clock rules."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    group_by: tuple[str, ...] = tuple(GROUPINGS)
    exercises: bool = False
    business_hours: bool | None = None
    config: MetricsConfig = field(default_factory=MetricsConfig)
    now: dt.datetime | None = None

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end), ("now", self.now)):
            if value is not None and value.tzinfo is None:
                raise InvalidInput(f"metrics {name} must be timezone-aware")
        if self.start and self.end and self.end <= self.start:
            raise InvalidInput("metrics range: --to must be after --from")
        unknown = [g for g in self.group_by if g not in GROUPINGS]
        if unknown:
            raise InvalidInput(f"unknown grouping {', '.join(unknown)} ({', '.join(GROUPINGS)})")

    @property
    def hours(self) -> BusinessHours | None:
        """The business hours clocks count, or None for wall-clock time."""
        wanted = self.config.business_hours_only if self.business_hours is None else self.business_hours
        return self.config.business_hours if wanted else None


@dataclass(frozen=True, slots=True)
class MetricsReport:
    """Everything `watchfloor metrics` shows, computed from the audit log."""

    start: dt.datetime | None
    end: dt.datetime | None
    exercises: bool
    business_hours: bool
    incidents: int
    acknowledged: int
    remediated: int
    closed: int
    mtta: Summary
    mttr: Summary
    groups: dict[str, list[GroupStats]]
    daily: list[TrendPoint]
    weekly: list[TrendPoint]
    tiers: list[TierTime]
    tier_moves: list[TierPair]
    escalations: int
    deescalations: int
    reopened: int
    reopens: int
    remediation: RemediationShare
    breaches: list[Breach]
    rows: list[IncidentRow]

    @property
    def escalation_rate(self) -> float | None:
        """Escalations per incident in the range."""
        return self.escalations / self.incidents if self.incidents else None

    @property
    def deescalation_rate(self) -> float | None:
        """De-escalations per incident in the range."""
        return self.deescalations / self.incidents if self.incidents else None

    @property
    def reopen_rate(self) -> float | None:
        """Incidents reopened at least once, as a fraction of incidents that were ever closed."""
        ever_closed = self.closed + sum(1 for r in self.rows if r.reopens and r.closed is None)
        return self.reopened / ever_closed if ever_closed else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (the API returns this)."""
        return {
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "exercises": self.exercises,
            "business_hours": self.business_hours,
            "incidents": self.incidents,
            "acknowledged": self.acknowledged,
            "remediated": self.remediated,
            "closed": self.closed,
            "mtta": self.mtta.as_dict(),
            "mttr": self.mttr.as_dict(),
            "groups": {name: [g.as_dict() for g in stats] for name, stats in self.groups.items()},
            "trend": {
                "daily": [p.as_dict() for p in self.daily],
                "weekly": [p.as_dict() for p in self.weekly],
            },
            "tiers": [t.as_dict() for t in self.tiers],
            "tier_moves": [m.as_dict() for m in self.tier_moves],
            "escalations": self.escalations,
            "deescalations": self.deescalations,
            "escalation_rate": self.escalation_rate,
            "deescalation_rate": self.deescalation_rate,
            "reopened": self.reopened,
            "reopens": self.reopens,
            "reopen_rate": self.reopen_rate,
            "remediation": self.remediation.as_dict(),
            "sla_breaches": [b.as_dict() for b in self.breaches],
            "incident_rows": [r.as_dict() for r in self.rows],
        }


def _row(line: IncidentTimeline, feeds: dict[str, tuple[str, str]], query: MetricsQuery) -> IncidentRow:
    hours = query.hours
    start = line.first_alert_at if query.config.mtta_from == "first_alert" else line.opened_at
    ack, fixed = line.acknowledged_at, line.remediated_at
    mtta = elapsed(start, ack, hours) if ack is not None else None
    mttr = elapsed(ack, fixed, hours) if ack is not None and fixed is not None and fixed >= ack else None
    pairs = [feeds[uid] for uid in sorted(line.alert_uids) if uid in feeds] or [line.opening_feed]
    return IncidentRow(
        id=line.incident_id,
        severity=line.severity,
        tier=line.tier,
        initial_tier=line.initial_tier,
        opened=line.opened_at,
        first_alert=line.first_alert_at,
        acknowledged=ack,
        remediated=fixed,
        closed=line.closed_at,
        mtta_s=mtta,
        mttr_s=mttr,
        remediation=line.remediation,
        verdict=line.verdict,
        escalations=sum(1 for m in line.moves if m.direction == "escalation"),
        deescalations=sum(1 for m in line.moves if m.direction == "deescalation"),
        reopens=line.reopens,
        rules=tuple(sorted({r for r, _ in pairs if r})),
        sources=tuple(sorted({s for _, s in pairs if s})),
        services=tuple(sorted(line.services)),
        is_exercise=line.is_exercise,
    )


def _summaries(rows: list[IncidentRow]) -> tuple[Summary, Summary]:
    mtta = [r.mtta_s for r in rows if r.mtta_s is not None]
    mttr = [r.mttr_s for r in rows if r.mttr_s is not None]
    return summarize(mtta), summarize(mttr)


def _trend(rows: list[IncidentRow], period: Callable[[dt.datetime], str]) -> list[TrendPoint]:
    buckets: dict[str, list[IncidentRow]] = defaultdict(list)
    for row in rows:
        buckets[period(row.opened)].append(row)
    return [TrendPoint(key, len(items), *_summaries(items)) for key, items in sorted(buckets.items())]


def _week(at: dt.datetime) -> str:
    year, week, _ = at.astimezone(dt.UTC).isocalendar()
    return f"{year}-W{week:02d}"


def _breaches(
    line: IncidentTimeline, row: IncidentRow, query: MetricsQuery, now: dt.datetime
) -> list[Breach]:
    try:
        target = query.config.sla[Severity(row.severity)]
    except (KeyError, ValueError):
        return []
    hours = query.hours
    found: list[Breach] = []
    start = line.first_alert_at if query.config.mtta_from == "first_alert" else line.opened_at
    ack_s, ack_running = row.mtta_s, False
    if ack_s is None and line.closed_at is None:
        ack_s, ack_running = elapsed(start, now, hours), True
    if ack_s is not None and ack_s > target.ack.total_seconds():
        found.append(Breach(row.id, row.severity, "ack", target.ack.total_seconds(), ack_s, ack_running))
    fix_s, fix_running = row.mttr_s, False
    if (
        fix_s is None
        and line.acknowledged_at is not None
        and line.closed_at is None
        and row.remediated is None
    ):
        fix_s, fix_running = elapsed(line.acknowledged_at, now, hours), True
    if fix_s is not None and fix_s > target.remediate.total_seconds():
        found.append(
            Breach(row.id, row.severity, "remediate", target.remediate.total_seconds(), fix_s, fix_running)
        )
    return found


def compute_metrics(session: Session, query: MetricsQuery) -> MetricsReport:
    """Replay the audit log and compute every metric for the incidents the query selects."""
    now = query.now or dt.datetime.now(dt.UTC)
    if query.end is not None:
        now = min(now, query.end)
    timelines, feeds = replay(session)
    chosen = [
        line
        for line in timelines.values()
        if line.is_exercise == query.exercises
        and (query.start is None or line.opened_at >= query.start)
        and (query.end is None or line.opened_at < query.end)
    ]
    chosen.sort(key=lambda line: (line.opened_at, line.incident_id))
    rows = [_row(line, feeds, query) for line in chosen]
    mtta, mttr = _summaries(rows)
    groups: dict[str, list[GroupStats]] = {}
    for name in query.group_by:
        buckets: dict[str, list[IncidentRow]] = defaultdict(list)
        for row in rows:
            for key in GROUPINGS[name](row):
                buckets[key].append(row)
        groups[name] = [
            GroupStats(key, len(items), *_summaries(items)) for key, items in sorted(buckets.items())
        ]
    hours = query.hours
    tier_seconds: dict[int, float] = defaultdict(float)
    tier_visits: dict[int, set[int]] = defaultdict(set)
    moves: dict[tuple[str, int, int], int] = defaultdict(int)
    for line in chosen:
        for tier, start, end in line.tier_periods(now):
            tier_seconds[tier] += elapsed(start, end, hours)
            tier_visits[tier].add(line.incident_id)
        for move in line.moves:
            moves[(move.direction, move.from_tier, move.to_tier)] += 1
    count = len(rows)
    tier_moves = [TierPair(direction, a, b, n, n / count) for (direction, a, b), n in sorted(moves.items())]
    kinds = [r.remediation for r in rows if r.remediated is not None]
    return MetricsReport(
        start=query.start,
        end=query.end,
        exercises=query.exercises,
        business_hours=hours is not None,
        incidents=count,
        acknowledged=sum(1 for r in rows if r.acknowledged is not None),
        remediated=len(kinds),
        closed=sum(1 for r in rows if r.closed is not None),
        mtta=mtta,
        mttr=mttr,
        groups=groups,
        daily=_trend(rows, lambda at: at.astimezone(dt.UTC).date().isoformat()),
        weekly=_trend(rows, _week),
        tiers=[TierTime(t, tier_seconds[t], len(tier_visits[t])) for t in sorted(tier_seconds)],
        tier_moves=tier_moves,
        escalations=sum(r.escalations for r in rows),
        deescalations=sum(r.deescalations for r in rows),
        reopened=sum(1 for r in rows if r.reopens),
        reopens=sum(r.reopens for r in rows),
        remediation=RemediationShare(kinds.count("manual"), kinds.count("automated")),
        breaches=[
            b for line, row in zip(chosen, rows, strict=True) for b in _breaches(line, row, query, now)
        ],
        rows=rows,
    )
