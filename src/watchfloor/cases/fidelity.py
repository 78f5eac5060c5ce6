"""Alert-feed fidelity, the 90% rule: a feed whose alerts are mostly false leaves the analyst queues.

A feed is one detection rule or one source feed. Its record is read from the audit log only: the
`incident.closed` entries of the rolling window carry the verdict and the rules and sources of the
incident's alerts. `true_positive` and `benign_true_positive` count as true (the alert was right about
what happened), both `false_positive_*` verdicts as false, and `duplicate` not at all (it says nothing
about the rule). An incident closed, reopened and closed again counts once, with its latest verdict; one
reopened and not closed again does not count.

When an incident is closed, `review_feeds` re-judges the feeds of its alerts: a feed with at least
`min_verdicts` verdicts in the window whose true-positive rate is below `threshold` is demoted
(`feed.demoted`), and a demoted feed whose rate is back at or above the threshold is restored
(`feed.restored`). Intake reads the latest of those entries per feed (`FeedGate`) and sends new
incidents from a demoted feed to the `tuning` queue, for detection engineers, with the reason. The
alerts are still stored and grouped like any others.

Metrics (a higher layer) only report what this module decides; the decision lives here because routing,
which is part of incident management, needs it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import AuditRecord, entries, record
from watchfloor.cases.errors import InvalidInput
from watchfloor.cases.models import Alert, AuditEntry, utcnow
from watchfloor.cases.routing import RouteDecision
from watchfloor.cases.users import Actor
from watchfloor.cases.values import Verdict

__all__ = [
    "BASES",
    "FALSE_VERDICTS",
    "TRUE_VERDICTS",
    "TUNING_QUEUE",
    "Feed",
    "FeedChange",
    "FeedGate",
    "FeedRecord",
    "FeedStatus",
    "FidelityPolicy",
    "feed_history",
    "feed_records",
    "feed_status",
    "feeds_of_incident",
    "review_feeds",
    "wilson_interval",
]

TUNING_QUEUE = "tuning"
TRUE_VERDICTS = frozenset({Verdict.TRUE_POSITIVE.value, Verdict.BENIGN_TRUE_POSITIVE.value})
FALSE_VERDICTS = frozenset({Verdict.FALSE_POSITIVE_LOGIC.value, Verdict.FALSE_POSITIVE_DATA.value})
FEED_KINDS = ("rule", "source")
_Z95 = 1.959963984540054


def wilson_interval(successes: int, total: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of a proportion; (0, 1) when there is no evidence.

    Unlike the plain rate, its lower bound stays low while a feed has few verdicts, so a reader can tell
    "9 of 10" from "900 of 1000".
    """
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    z2 = z * z
    centre = p + z2 / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    scale = 1 + z2 / total
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


@dataclass(frozen=True, slots=True, order=True)
class Feed:
    """One alert feed: a detection rule (`rule`) or a source feed (`source`), by name."""

    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in FEED_KINDS:
            raise InvalidInput(f"unknown feed kind {self.kind!r} ({', '.join(FEED_KINDS)})")

    @property
    def target_id(self) -> str:
        """How feed entries in the audit log name this feed."""
        return f"{self.kind}:{self.name}"

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """A feed's verdicts in the window and what they say about it."""

    feed: Feed
    true_positives: int
    false_positives: int
    duplicates: int
    window_start: dt.datetime
    window_end: dt.datetime

    @property
    def verdicts(self) -> int:
        """Verdicts that count (true and false; duplicates do not)."""
        return self.true_positives + self.false_positives

    @property
    def rate(self) -> float | None:
        """The true-positive rate, or None without counted verdicts."""
        return self.true_positives / self.verdicts if self.verdicts else None

    @property
    def wilson(self) -> tuple[float, float]:
        """The 95% Wilson score interval of the rate."""
        return wilson_interval(self.true_positives, self.verdicts)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        low, high = self.wilson
        return {
            "kind": self.feed.kind,
            "name": self.feed.name,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "duplicates": self.duplicates,
            "verdicts": self.verdicts,
            "rate": self.rate,
            "wilson_lower": low,
            "wilson_upper": high,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
        }


def _rate_basis(record: FeedRecord) -> float | None:
    return record.rate


def _wilson_upper_basis(record: FeedRecord) -> float | None:
    return record.wilson[1] if record.verdicts else None


# What the threshold is compared with: the plain rate (default), or the Wilson upper bound (demote only
# when even the optimistic end of the interval is below the threshold).
BASES = {"rate": _rate_basis, "wilson_upper": _wilson_upper_basis}


@dataclass(frozen=True, slots=True)
class FidelityPolicy:
    """The 90% rule's parameters: configuration table `[fidelity]`."""

    threshold: float = 0.9
    window: dt.timedelta = dt.timedelta(days=30)
    min_verdicts: int = 10
    basis: str = "rate"

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise InvalidInput(f"fidelity threshold must be in (0, 1], not {self.threshold}")
        if self.window <= dt.timedelta(0):
            raise InvalidInput("fidelity window must be positive")
        if self.min_verdicts < 1:
            raise InvalidInput("fidelity min_verdicts must be at least 1")
        if self.basis not in BASES:
            raise InvalidInput(f"unknown fidelity basis {self.basis!r} ({', '.join(BASES)})")

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> FidelityPolicy:
        """From the `[fidelity]` table: threshold, window_days, min_verdicts, basis; defaults elsewhere."""
        table = dict(table or {})
        unknown = sorted(set(table) - {"threshold", "window_days", "min_verdicts", "basis"})
        if unknown:
            raise InvalidInput(f"[fidelity]: unknown setting(s) {', '.join(unknown)}")
        try:
            return cls(
                threshold=float(table.get("threshold", 0.9)),
                window=dt.timedelta(days=float(table.get("window_days", 30))),
                min_verdicts=int(table.get("min_verdicts", 10)),
                basis=str(table.get("basis", "rate")),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"[fidelity]: {exc}") from None

    def judge(self, record: FeedRecord) -> tuple[bool | None, str]:
        """Whether the record is bad (True), good (False) or not judgeable (None), and why.

        Fewer than `min_verdicts` counted verdicts judge nothing either way: a feed is neither demoted
        nor restored on a handful of verdicts.
        """
        value = BASES[self.basis](record)
        if value is None:
            return None, "no verdicts in the window"
        days = self.window.total_seconds() / 86400
        counts = f"{record.true_positives} true of {record.verdicts} verdicts in {days:g} days"
        what = "true-positive rate" if self.basis == "rate" else "Wilson upper bound"
        if record.verdicts < self.min_verdicts:
            return None, f"{what} {value:.2f} ({counts}): fewer than {self.min_verdicts} verdicts to judge"
        if value < self.threshold:
            return True, f"{what} {value:.2f} ({counts}) is below {self.threshold:.2f}"
        return False, f"{what} {value:.2f} ({counts}) is at or above {self.threshold:.2f}"


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """Where a feed stands now: demoted (its new incidents go to tuning) or not, since when and why."""

    feed: Feed
    demoted: bool
    since: dt.datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FeedChange:
    """A demotion or restoration `review_feeds` just recorded."""

    feed: Feed
    action: str
    reason: str
    record: FeedRecord


def feeds_of_incident(session: Session, incident_id: int) -> tuple[Feed, ...]:
    """The rules and sources of the alerts an incident holds now."""
    rows = session.execute(
        select(Alert.rule_id, Alert.source).where(Alert.incident_id == incident_id).distinct()
    ).all()
    feeds = {Feed("rule", r.rule_id) for r in rows if r.rule_id}
    feeds |= {Feed("source", r.source) for r in rows if r.source}
    return tuple(sorted(feeds))


def _entries_between(
    session: Session,
    actions: tuple[str, ...],
    since: dt.datetime,
    until: dt.datetime,
    needle: str | None,
    targets: list[str] | None = None,
) -> list[AuditRecord]:
    query = select(AuditEntry).where(
        AuditEntry.target_type == "incident",
        AuditEntry.action.in_(actions),
        AuditEntry.at > since,
        AuditEntry.at <= until,
    )
    if targets is not None:
        query = query.where(AuditEntry.target_id.in_(targets))
    if needle is not None:  # a cheap pre-filter; the parsed entry is checked exactly afterwards
        query = query.where(AuditEntry.after.contains(needle, autoescape=True))
    rows = session.scalars(query.order_by(AuditEntry.seq))
    return [
        AuditRecord(
            e.seq,
            e.at,
            e.actor,
            e.action,
            e.target_type,
            e.target_id,
            json.loads(e.before),
            json.loads(e.after),
            e.request_id,
            e.prev_hash,
            e.hash,
        )
        for e in rows
    ]


def _entry_feeds(entry: AuditRecord) -> set[Feed]:
    rules = entry.after.get("rules") or []
    sources = entry.after.get("sources") or []
    return {Feed("rule", r) for r in rules if r} | {Feed("source", s) for s in sources if s}


def feed_records(
    session: Session,
    policy: FidelityPolicy,
    now: dt.datetime | None = None,
    feeds: Iterable[Feed] | None = None,
) -> dict[Feed, FeedRecord]:
    """The window's record of the given feeds (every feed with a verdict in the window when None)."""
    until = now or utcnow()
    since = until - policy.window
    wanted = None if feeds is None else set(feeds)
    needle = None
    if wanted is not None and len(wanted) == 1:
        needle = json.dumps(next(iter(wanted)).name, ensure_ascii=False)
    closures = _entries_between(session, ("incident.closed",), since, until, needle)
    latest: dict[str, AuditRecord] = {}
    for entry in closures:
        latest[entry.target_id] = entry
    targets = sorted(latest)
    for start in range(0, len(targets), 500):  # a reopen after the latest closure takes the verdict back
        reopens = _entries_between(
            session, ("incident.investigating",), since, until, None, targets[start : start + 500]
        )
        for entry in reopens:
            closed = latest.get(entry.target_id)
            if closed is not None and entry.before.get("state") == "closed" and entry.seq > closed.seq:
                del latest[entry.target_id]
    counts: dict[Feed, list[int]] = {f: [0, 0, 0] for f in wanted or ()}
    for entry in latest.values():
        verdict = entry.after.get("verdict")
        slot = 0 if verdict in TRUE_VERDICTS else 1 if verdict in FALSE_VERDICTS else 2
        for feed in _entry_feeds(entry):
            if wanted is None or feed in wanted:
                counts.setdefault(feed, [0, 0, 0])[slot] += 1
    return {
        feed: FeedRecord(feed, tp, fp, dup, since, until) for feed, (tp, fp, dup) in sorted(counts.items())
    }


def feed_history(session: Session, feed: Feed | None = None) -> list[AuditRecord]:
    """Every demotion and restoration, oldest first (of one feed, or of all)."""
    return list(
        entries(
            session,
            target_type="feed",
            target_id=None if feed is None else feed.target_id,
            actions=("feed.demoted", "feed.restored"),
        )
    )


def feed_status(session: Session, feeds: Iterable[Feed]) -> dict[Feed, FeedStatus]:
    """The current status of each feed: the latest `feed.*` entry decides; none means in the queues."""
    by_target = {f.target_id: f for f in feeds}
    status = {f: FeedStatus(f, False) for f in by_target.values()}
    if not by_target:
        return status
    query = (
        select(AuditEntry.target_id, AuditEntry.action, AuditEntry.at, AuditEntry.after)
        .where(AuditEntry.target_type == "feed", AuditEntry.target_id.in_(list(by_target)))
        .order_by(AuditEntry.seq)
    )
    for target_id, action, at, after in session.execute(query):
        feed = by_target[target_id]
        reason = str(json.loads(after).get("reason", ""))
        status[feed] = FeedStatus(feed, action == "feed.demoted", at, reason)
    return status


def review_feeds(
    session: Session,
    actor: Actor,
    feeds: Iterable[Feed],
    policy: FidelityPolicy | None = None,
    now: dt.datetime | None = None,
) -> list[FeedChange]:
    """Re-judge feeds after a verdict; record each demotion and restoration as an audit entry."""
    policy = policy or FidelityPolicy()
    now = now or utcnow()
    wanted = sorted(set(feeds))
    status = feed_status(session, wanted)
    system = Actor("system:fidelity", actor.role, actor.request_id)
    changes: list[FeedChange] = []
    for feed in wanted:
        record_ = feed_records(session, policy, now, [feed])[feed]
        bad, reason = policy.judge(record_)
        demoted = status[feed].demoted
        if bad is True and not demoted:
            action = "feed.demoted"
        elif bad is False and demoted:
            action = "feed.restored"
        else:
            continue
        after = record_.as_dict() | {
            "reason": reason,
            "threshold": policy.threshold,
            "min_verdicts": policy.min_verdicts,
            "basis": policy.basis,
        }
        record(
            session,
            actor=system.username,
            action=action,
            target_type="feed",
            target_id=feed.target_id,
            before={"demoted": demoted},
            after=after,
            request_id=system.request_id,
            at=now,
        )
        changes.append(FeedChange(feed, action, reason, record_))
    return changes


class FeedGate:
    """Intake's view of feed status for one batch: demoted feeds divert new incidents to tuning.

    Statuses are read once per feed per batch (demotions happen only when incidents close, never during
    intake), so a batch of thousands of alerts from a few rules costs a few small queries.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._known: dict[Feed, FeedStatus] = {}

    def demoted(self, rule_id: str, source: str) -> list[FeedStatus]:
        """The demoted feeds among this alert's rule and source."""
        feeds = [Feed("rule", rule_id)] if rule_id else []
        feeds += [Feed("source", source)] if source else []
        missing = [f for f in feeds if f not in self._known]
        if missing:
            self._known.update(feed_status(self._session, missing))
        return [self._known[f] for f in feeds if self._known[f].demoted]

    def divert(self, decision: RouteDecision, rule_id: str, source: str) -> RouteDecision:
        """The routing decision, sent to the tuning queue with the reason when a feed is demoted."""
        demoted = self.demoted(rule_id, source)
        if not demoted:
            return decision
        reasons = tuple(f"{s.feed} is in tuning: {s.reason}" for s in demoted)
        return replace(decision, queue=TUNING_QUEUE, reasons=(*decision.reasons, *reasons))
