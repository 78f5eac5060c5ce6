"""The typed pieces of a metrics report: summaries, groups, trends, tiers, breaches, per-incident rows.

Durations are seconds (floats). `summarize` fixes the statistics: the mean, the median (the mean of the
two middle values for an even count) and p90 by the nearest-rank method (the smallest value that at
least 90% of the values do not exceed), so a hand computation gives exactly the reported figure.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Breach",
    "GroupStats",
    "IncidentRow",
    "RemediationShare",
    "Summary",
    "TierPair",
    "TierTime",
    "TrendPoint",
    "percentile",
    "summarize",
]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Summary:
    """Count, mean, median and p90 of some durations in seconds (None when there are none)."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {"count": self.count, "mean_s": self.mean, "median_s": self.median, "p90_s": self.p90}


def summarize(values: Sequence[float]) -> Summary:
    """The summary of `values` (see the module docstring for the exact definitions)."""
    if not values:
        return Summary(0, None, None, None)
    return Summary(len(values), statistics.fmean(values), statistics.median(values), percentile(values, 0.9))


@dataclass(frozen=True, slots=True)
class GroupStats:
    """MTTA and MTTR of the incidents sharing one value of a grouping (a severity, a rule, ...)."""

    key: str
    incidents: int
    mtta: Summary
    mttr: Summary

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "key": self.key,
            "incidents": self.incidents,
            "mtta": self.mtta.as_dict(),
            "mttr": self.mttr.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One day (`2026-03-02`) or ISO week (`2026-W10`) of incidents, by the time they were opened."""

    period: str
    incidents: int
    mtta: Summary
    mttr: Summary

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "period": self.period,
            "incidents": self.incidents,
            "mtta": self.mtta.as_dict(),
            "mttr": self.mttr.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class TierTime:
    """Time incidents spent in one tier: in total, and per incident that was there."""

    tier: int
    seconds: float
    incidents: int

    @property
    def mean_seconds(self) -> float:
        """Mean time in this tier per incident that visited it."""
        return self.seconds / self.incidents if self.incidents else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "tier": self.tier,
            "seconds": self.seconds,
            "incidents": self.incidents,
            "mean_s": self.mean_seconds,
        }


@dataclass(frozen=True, slots=True)
class TierPair:
    """Moves from one tier to another: how many, and per incident in the range."""

    direction: str
    from_tier: int
    to_tier: int
    count: int
    rate: float

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "direction": self.direction,
            "from_tier": self.from_tier,
            "to_tier": self.to_tier,
            "count": self.count,
            "rate": self.rate,
        }


@dataclass(frozen=True, slots=True)
class RemediationShare:
    """Remediated incidents by who did it: people (manual) or automation."""

    manual: int
    automated: int

    @property
    def total(self) -> int:
        """Incidents with a recorded remediation."""
        return self.manual + self.automated

    @property
    def manual_share(self) -> float | None:
        """Manual remediations as a fraction of all remediations."""
        return self.manual / self.total if self.total else None

    @property
    def automated_share(self) -> float | None:
        """Automated remediations as a fraction of all remediations."""
        return self.automated / self.total if self.total else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "manual": self.manual,
            "automated": self.automated,
            "total": self.total,
            "manual_share": self.manual_share,
            "automated_share": self.automated_share,
        }


@dataclass(frozen=True, slots=True)
class Breach:
    """An SLA clock that ran past its target; `running` when the clock has not stopped yet."""

    incident_id: int
    severity: str
    clock: str
    target_s: float
    actual_s: float
    running: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "incident_id": self.incident_id,
            "severity": self.severity,
            "clock": self.clock,
            "target_s": self.target_s,
            "actual_s": self.actual_s,
            "running": self.running,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One incident as the CSV export and `--json` list it."""

    id: int
    severity: str
    tier: int
    initial_tier: int
    opened: dt.datetime
    first_alert: dt.datetime
    acknowledged: dt.datetime | None
    remediated: dt.datetime | None
    closed: dt.datetime | None
    mtta_s: float | None
    mttr_s: float | None
    remediation: str | None
    verdict: str | None
    escalations: int
    deescalations: int
    reopens: int
    rules: tuple[str, ...]
    sources: tuple[str, ...]
    services: tuple[str, ...]
    is_exercise: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (times in ISO 8601 UTC, lists joined by `;` for CSV readers)."""
        return {
            "id": self.id,
            "severity": self.severity,
            "tier": self.tier,
            "initial_tier": self.initial_tier,
            "opened": _iso(self.opened),
            "first_alert": _iso(self.first_alert),
            "acknowledged": _iso(self.acknowledged),
            "remediated": _iso(self.remediated),
            "closed": _iso(self.closed),
            "mtta_s": self.mtta_s,
            "mttr_s": self.mttr_s,
            "remediation": self.remediation,
            "verdict": self.verdict,
            "escalations": self.escalations,
            "deescalations": self.deescalations,
            "reopens": self.reopens,
            "rules": ";".join(self.rules),
            "sources": ";".join(self.sources),
            "services": ";".join(self.services),
            "is_exercise": self.is_exercise,
        }
