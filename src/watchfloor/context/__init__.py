"""Business context: assets, identities and business services, entity resolution, and priority.

Pure values and functions only: `parse_context` reads CSV or JSON imports (collecting every problem
with its file, line and field), `ContextIndex` resolves the host names, addresses and user names of
events to records, and `compute_priority` turns severity, criticality, data sensitivity and intel
confidence into P1..P4 by the formula documented in `watchfloor.context.priority` and docs/context.md.
Incident management stores the records and applies the priority when it routes (`watchfloor.cases`).
"""

from watchfloor.context.parse import (
    FIELD_ALIASES,
    ContextError,
    ImportResult,
    detect_kind,
    parse_context,
    parse_text,
)
from watchfloor.context.priority import (
    SLA_SEVERITY,
    THRESHOLDS,
    WEIGHTS,
    Priority,
    PriorityResult,
    compute_priority,
)
from watchfloor.context.resolve import ContextIndex, EntityType, Resolution, host_names, user_names
from watchfloor.context.values import (
    BUSINESS_CRITICAL,
    CRITICALITY_NAMES,
    SENSITIVITY_NAMES,
    Asset,
    BusinessService,
    ContextKind,
    ContextRecord,
    Exposure,
    Identity,
    parse_criticality,
    parse_sensitivity,
)

__all__ = [
    "BUSINESS_CRITICAL",
    "CRITICALITY_NAMES",
    "FIELD_ALIASES",
    "SENSITIVITY_NAMES",
    "SLA_SEVERITY",
    "THRESHOLDS",
    "WEIGHTS",
    "Asset",
    "BusinessService",
    "ContextError",
    "ContextIndex",
    "ContextKind",
    "ContextRecord",
    "EntityType",
    "Exposure",
    "Identity",
    "ImportResult",
    "Priority",
    "PriorityResult",
    "Resolution",
    "compute_priority",
    "detect_kind",
    "host_names",
    "parse_context",
    "parse_criticality",
    "parse_sensitivity",
    "parse_text",
    "user_names",
]
