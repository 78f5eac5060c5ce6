"""One detection run: load the rules, scan the store, record new alerts.

The CLI, the demo and (later) the scheduler call this, so a run means the same thing wherever it starts.
Correlation rules are evaluated over the run's base-rule matches after the scan; their alerts follow the
plain ones. Suppressions and exceptions (`suppress`) drop matches after the scan, before correlation
and before any alert is stored; how many each rule lost is part of the run's summary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from watchfloor.detect.alerts import Alert, AlertStore, build_alerts, correlation_alerts
from watchfloor.detect.correlate_window import correlate
from watchfloor.detect.engine import match_rules, validate_for_duckdb
from watchfloor.detect.errors import RuleError
from watchfloor.detect.library import RuleLibrary
from watchfloor.detect.loader import LoadResult, load_rules
from watchfloor.detect.suppress import SuppressionSet
from watchfloor.store import EventStore

__all__ = ["DetectionRun", "run_detection"]


@dataclass(frozen=True, slots=True)
class DetectionRun:
    """What a run did: the rules it loaded, what matched, and which alerts are new."""

    loaded: LoadResult
    statements: int
    matches: int
    alerts: list[Alert]
    new_alerts: list[Alert]
    suppressed: Mapping[str, int] = field(default_factory=dict)
    suppression_errors: tuple[RuleError, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary for `--json`."""
        return {
            "rules_active": len(self.loaded.by_status("active")),
            "statements": self.statements,
            "matches": self.matches,
            "alerts": len(self.alerts),
            "new_alerts": len(self.new_alerts),
            "unsupported": len(self.loaded.by_status("unsupported")),
            "suppressed": sum(self.suppressed.values()),
            "suppressed_by_rule": dict(sorted(self.suppressed.items())),
            "errors": [str(e) for e in (*self.loaded.errors, *self.suppression_errors)],
        }


def run_detection(
    store: EventStore,
    library: RuleLibrary,
    alert_store: AlertStore,
    since: dt.datetime | None = None,
    rules_path: Path | None = None,
) -> DetectionRun:
    """Run the library's active rules (or only those under `rules_path`) over stored events."""
    if rules_path is None:
        snapshot = library.snapshot()
        loaded, suppressions = snapshot.loaded, snapshot.suppressions
    else:
        loaded = load_rules([rules_path], library.disabled(), library.placeholders, validate_for_duckdb)
        suppressions = library.suppressions.read() if library.suppressions is not None else SuppressionSet()
    matches, stats = match_rules(store, loaded.rules, since)
    kept, suppressed = suppressions.filter_matches(matches, store)
    hits, dropped = suppressions.filter_hits(correlate(kept, loaded.rules))
    alerts = build_alerts(kept, loaded.rules) + correlation_alerts(hits, loaded.rules)
    return DetectionRun(
        loaded,
        sum(stats.statements.values()),
        len(matches),
        alerts,
        alert_store.add(alerts),
        dict(suppressed + dropped),
        suppressions.errors,
    )
