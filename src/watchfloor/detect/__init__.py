"""Detection: Sigma rules compiled into engine-neutral plans, run over the event store, giving alerts.

pySigma parses; `convert` turns detections into the `ir` tree through a `logsource` mapping; the
`compile_sql` engine scans each source view once for many rules; `correlate_window` runs correlation
rules over the matches; `suppress` drops what owners have silenced; `alerts` records Detection Findings.
`library` keeps the installation's rules (reloaded when they change) and `samples` runs each rule's
sample events (detection as code).
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
from watchfloor.detect.canary import (
    CANARY_FIELD,
    HEALTH_QUEUE,
    UID_PREFIX,
    CanaryPolicy,
    CanaryResult,
    Injection,
    is_synthetic,
)
from watchfloor.detect.canary_monitor import CanaryMonitor, CanaryState, TickOutcome
from watchfloor.detect.correlate import Correlation, compile_correlation
from watchfloor.detect.correlate_window import CorrelationHit, correlate, correlate_rule
from watchfloor.detect.engine import Match, ScanStats, correlation_fields, match_rules, validate_for_duckdb
from watchfloor.detect.errors import RuleError, UnsupportedRule
from watchfloor.detect.library import Fingerprint, RuleLibrary, RuleSnapshot, rule_folders_of
from watchfloor.detect.loader import LoadResult, Rule, compile_detection, iter_rule_files, load_rules
from watchfloor.detect.logsource import Target, Variant, resolve_logsource
from watchfloor.detect.samples import (
    RegressionIndex,
    RuleCheck,
    Sample,
    collect_samples,
    find_regression_roots,
    inline_samples,
    run_samples,
)
from watchfloor.detect.service import DetectionRun, run_detection
from watchfloor.detect.stream import AlertSink, StreamCycle, StreamingDetector, StreamState, StreamStats
from watchfloor.detect.suppress import (
    Condition,
    Suppression,
    SuppressionSet,
    SuppressionStore,
    parse_condition,
)

__all__ = [
    "CANARY_FIELD",
    "HEALTH_QUEUE",
    "UID_PREFIX",
    "Alert",
    "AlertSink",
    "AlertStore",
    "CanaryMonitor",
    "CanaryPolicy",
    "CanaryResult",
    "CanaryState",
    "Condition",
    "Correlation",
    "CorrelationHit",
    "DetectionRun",
    "Fingerprint",
    "Injection",
    "LoadResult",
    "Match",
    "RegressionIndex",
    "Rule",
    "RuleCheck",
    "RuleError",
    "RuleLibrary",
    "RuleSnapshot",
    "Sample",
    "ScanStats",
    "StreamCycle",
    "StreamState",
    "StreamStats",
    "StreamingDetector",
    "Suppression",
    "SuppressionSet",
    "SuppressionStore",
    "Target",
    "TickOutcome",
    "UnsupportedRule",
    "Variant",
    "alert_uid",
    "attack_from_tags",
    "build_alerts",
    "collect_samples",
    "compile_correlation",
    "compile_detection",
    "correlate",
    "correlate_rule",
    "correlation_alerts",
    "correlation_fields",
    "correlation_key",
    "find_regression_roots",
    "inline_samples",
    "is_synthetic",
    "iter_rule_files",
    "load_rules",
    "match_rules",
    "parse_condition",
    "resolve_logsource",
    "rule_folders_of",
    "run_detection",
    "run_samples",
    "validate_for_duckdb",
]
