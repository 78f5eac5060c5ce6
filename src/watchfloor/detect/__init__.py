"""Detection: Sigma rules compiled into engine-neutral plans, run over the event store, giving alerts.

pySigma parses; `convert` turns detections into the `ir` tree through a `logsource` mapping; the
`compile_sql` engine scans each source view once for many rules; `correlate_window` runs correlation
rules over the matches; `alerts` records Detection Findings.
"""

from watchfloor.detect.alerts import (
    Alert,
    AlertStore,
    alert_uid,
    attack_from_tags,
    build_alerts,
    correlation_alerts,
    correlation_key,
)
from watchfloor.detect.correlate import Correlation, compile_correlation
from watchfloor.detect.correlate_window import CorrelationHit, correlate, correlate_rule
from watchfloor.detect.engine import Match, ScanStats, correlation_fields, match_rules, validate_for_duckdb
from watchfloor.detect.errors import RuleError, UnsupportedRule
from watchfloor.detect.library import RuleLibrary
from watchfloor.detect.loader import LoadResult, Rule, compile_detection, iter_rule_files, load_rules
from watchfloor.detect.logsource import Target, Variant, resolve_logsource
from watchfloor.detect.service import DetectionRun, run_detection

__all__ = [
    "Alert",
    "AlertStore",
    "Correlation",
    "CorrelationHit",
    "DetectionRun",
    "LoadResult",
    "Match",
    "Rule",
    "RuleError",
    "RuleLibrary",
    "ScanStats",
    "Target",
    "UnsupportedRule",
    "Variant",
    "alert_uid",
    "attack_from_tags",
    "build_alerts",
    "compile_correlation",
    "compile_detection",
    "correlate",
    "correlate_rule",
    "correlation_alerts",
    "correlation_fields",
    "correlation_key",
    "iter_rule_files",
    "load_rules",
    "match_rules",
    "resolve_logsource",
    "run_detection",
    "validate_for_duckdb",
]
