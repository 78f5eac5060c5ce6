"""CSV export of the per-incident rows of a metrics report, one incident per line."""

from __future__ import annotations

import csv
from typing import TextIO

from watchfloor.metrics.report import MetricsReport

__all__ = ["CSV_COLUMNS", "write_csv"]

CSV_COLUMNS = (
    "id",
    "severity",
    "tier",
    "initial_tier",
    "opened",
    "first_alert",
    "acknowledged",
    "remediated",
    "closed",
    "mtta_s",
    "mttr_s",
    "remediation",
    "verdict",
    "escalations",
    "deescalations",
    "reopens",
    "rules",
    "sources",
    "services",
    "is_exercise",
)


def write_csv(report: MetricsReport, out: TextIO) -> int:
    """Write the header and one row per incident; returns the number of incidents written."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        values = row.as_dict()
        writer.writerow({k: "" if values[k] is None else values[k] for k in CSV_COLUMNS})
    return len(report.rows)
