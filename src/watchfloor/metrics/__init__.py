"""SOC metrics, computed from the append-only audit log only: never from mutable incident columns.

`compute_metrics(session, MetricsQuery)` gives MTTA and MTTR (mean, median, p90) by severity, tier,
rule, source and business service, daily and weekly trends, time per tier, escalations and
de-escalations per tier pair, the reopen rate, the manual and automated remediation shares and SLA
breaches; `fidelity_report` shows the 90% rule's view of each alert feed. See docs/metrics.md for the
exact definitions.
"""

from watchfloor.metrics.config import BusinessHours, MetricsConfig, SlaTarget, format_duration, parse_duration
from watchfloor.metrics.export import CSV_COLUMNS, write_csv
from watchfloor.metrics.fidelity import FeedReport, FidelityReport, fidelity_report
from watchfloor.metrics.report import GROUPINGS, MetricsQuery, MetricsReport, compute_metrics
from watchfloor.metrics.values import (
    Breach,
    GroupStats,
    IncidentRow,
    RemediationShare,
    Summary,
    TierPair,
    TierTime,
    TrendPoint,
)

__all__ = [
    "CSV_COLUMNS",
    "GROUPINGS",
    "Breach",
    "BusinessHours",
    "FeedReport",
    "FidelityReport",
    "GroupStats",
    "IncidentRow",
    "MetricsConfig",
    "MetricsQuery",
    "MetricsReport",
    "RemediationShare",
    "SlaTarget",
    "Summary",
    "TierPair",
    "TierTime",
    "TrendPoint",
    "compute_metrics",
    "fidelity_report",
    "format_duration",
    "parse_duration",
    "write_csv",
]
