"""Threat intelligence: feeds gathered, indicators typed and scored, matched against events.

`feeds` reads STIX 2.1 bundles, TAXII 2.1 collections, MISP feeds and CSV or plain lists into typed,
normalised `Indicator`s (`indicators`), kept in the `IntelStore` (`store`) with their feed, confidence,
TLP, lifetime and sightings. `scoring` decays confidence with age and weighs it by incident verdicts.
`match` matches a batch of new events in memory (streaming); `retro` joins indicators with the stored
history in the event store (retro-hunt). `attack` holds the ATT&CK matrix (offline) and computes
detection coverage as a Navigator layer. Matches become alerts above this layer (the CLI), with rule id
`intel:<feed>`, so incident management and the 90% fidelity rule treat each feed like a rule.
"""

from watchfloor.intel.attack import (
    Coverage,
    RuleCoverage,
    Technique,
    attack_matrix,
    coverage,
    navigator_layer,
)
from watchfloor.intel.disseminate import PublishedObject, published_objects, stix_pattern
from watchfloor.intel.errors import IntelError
from watchfloor.intel.feeds import FEED_KINDS, Credentials, PullResult, credentials_for, pull_feed
from watchfloor.intel.fields import CORE_MATCH_FIELDS, PRODUCER_MATCH_FIELDS, MatchField
from watchfloor.intel.indicators import (
    MATCH_KEY,
    TLP_LEVELS,
    Indicator,
    IndicatorStatus,
    IndicatorType,
    infer_type,
    normalize_tlp,
    normalize_value,
)
from watchfloor.intel.match import IndicatorIndex, IntelMatch, match_batch
from watchfloor.intel.misp import indicators_from_event
from watchfloor.intel.report import (
    ReportAlert,
    build_summary,
    changes_since,
    render_html,
    render_markdown,
    write_report,
)
from watchfloor.intel.retro import retro_hunt
from watchfloor.intel.scoring import ScoringPolicy, decay_factor, effective_confidence, verdict_factor
from watchfloor.intel.service import (
    IntelLookupService,
    hunt,
    intel_store,
    live_index,
    policy_of,
    pull,
    record_sightings,
    record_verdicts,
)
from watchfloor.intel.stix import ParseResult, Unsupported, indicators_from_bundle, parse_pattern
from watchfloor.intel.store import INDICATOR_SCHEMA, FeedInfo, IntelStore, Sighting
from watchfloor.intel.tabular import indicators_from_csv, indicators_from_list

__all__ = [
    "CORE_MATCH_FIELDS",
    "FEED_KINDS",
    "INDICATOR_SCHEMA",
    "MATCH_KEY",
    "PRODUCER_MATCH_FIELDS",
    "TLP_LEVELS",
    "Coverage",
    "Credentials",
    "FeedInfo",
    "Indicator",
    "IndicatorIndex",
    "IndicatorStatus",
    "IndicatorType",
    "IntelError",
    "IntelLookupService",
    "IntelMatch",
    "IntelStore",
    "MatchField",
    "ParseResult",
    "PublishedObject",
    "PullResult",
    "ReportAlert",
    "RuleCoverage",
    "ScoringPolicy",
    "Sighting",
    "Technique",
    "Unsupported",
    "attack_matrix",
    "build_summary",
    "changes_since",
    "coverage",
    "credentials_for",
    "decay_factor",
    "effective_confidence",
    "hunt",
    "indicators_from_bundle",
    "indicators_from_csv",
    "indicators_from_event",
    "indicators_from_list",
    "infer_type",
    "intel_store",
    "live_index",
    "match_batch",
    "navigator_layer",
    "normalize_tlp",
    "normalize_value",
    "parse_pattern",
    "policy_of",
    "published_objects",
    "pull",
    "pull_feed",
    "record_sightings",
    "record_verdicts",
    "render_html",
    "render_markdown",
    "retro_hunt",
    "stix_pattern",
    "verdict_factor",
    "write_report",
]
