"""The priority formula: severity, business criticality, data sensitivity and intel confidence → P1..P4.

    score = 45 * severity + 30 * criticality + 15 * sensitivity + 10 * confidence      (0..100)

each term normalised to 0..1: severity informational 0, low 0.25, medium 0.5, high 0.75, critical 1;
criticality (1..5) as (c - 1) / 4 and sensitivity (1..4) as (d - 1) / 3, both the highest among the
entities the alert touches (and the business services they support); intel confidence (0..100) / 100,
or 0.5 when no intelligence speaks to the alert. A crown-jewel asset counts as criticality 5 and at
least "confidential" data; a VIP identity as at least criticality 4. Entities nobody described count
as criticality 3 and sensitivity 2, so without context the severity decides.

Priority: P1 from 75, P2 from 55, P3 from 35, else P4; and at least P1 when a business-critical
entity (criticality 5 or crown jewel) meets a high or critical alert. Each priority names the SLA
severity class its clocks run under (`SLA_SEVERITY`); business-critical entities and P1 start in tier 2.
The weights and thresholds are declarations here, and docs/context.md shows worked examples.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from watchfloor.context.resolve import Resolution
from watchfloor.context.values import (
    BUSINESS_CRITICAL,
    CRITICALITY_NAMES,
    DEFAULT_CRITICALITY,
    DEFAULT_SENSITIVITY,
    SENSITIVITY_NAMES,
    Asset,
    BusinessService,
    Identity,
)

__all__ = [
    "NEUTRAL_CONFIDENCE",
    "SEVERITY_WEIGHT",
    "SLA_SEVERITY",
    "THRESHOLDS",
    "WEIGHTS",
    "Priority",
    "PriorityResult",
    "compute_priority",
]


class Priority(StrEnum):
    """How soon an incident must be worked: P1 first."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


#: Weight of each normalised factor in the 0..100 score.
WEIGHTS = {"severity": 45.0, "criticality": 30.0, "sensitivity": 15.0, "confidence": 10.0}
SEVERITY_WEIGHT = {"informational": 0.0, "low": 0.25, "medium": 0.5, "high": 0.75, "critical": 1.0}
#: Lowest score of each priority, best first; below the last is P4.
THRESHOLDS: tuple[tuple[Priority, float], ...] = (
    (Priority.P1, 75.0),
    (Priority.P2, 55.0),
    (Priority.P3, 35.0),
)
#: The severity whose SLA targets (metrics) an incident of each priority is held to.
SLA_SEVERITY = {Priority.P1: "critical", Priority.P2: "high", Priority.P3: "medium", Priority.P4: "low"}
NEUTRAL_CONFIDENCE = 50
_VIP_CRITICALITY = 4
_CROWN_JEWEL_SENSITIVITY = 3


@dataclass(frozen=True, slots=True)
class PriorityResult:
    """A priority, its score, the inputs that produced it and why, in words an analyst can check."""

    priority: Priority
    score: int
    criticality: int
    sensitivity: int
    business_critical: bool
    sla_severity: str
    reasons: tuple[str, ...]
    services: tuple[str, ...]


def _factors(
    matches: Iterable[Resolution], services: dict[str, BusinessService]
) -> tuple[int, int, bool, list[str], set[str]]:
    criticality, sensitivity, critical = DEFAULT_CRITICALITY, DEFAULT_SENSITIVITY, False
    reasons: list[str] = []
    names: set[str] = set()
    for match in matches:
        record = match.record
        level, data = record.criticality, DEFAULT_SENSITIVITY
        notes = [f"criticality {CRITICALITY_NAMES[level]}"]
        if isinstance(record, Asset):
            data = record.sensitivity
            if record.crown_jewel:
                level, data = BUSINESS_CRITICAL, max(data, _CROWN_JEWEL_SENSITIVITY)
                notes.append("crown jewel")
            if record.exposure.value == "internet":
                notes.append("internet-facing")
        elif isinstance(record, Identity):
            data = record.sensitivity
            if record.vip:
                level = max(level, _VIP_CRITICALITY)
                notes.append("VIP")
        service_name = "" if isinstance(record, BusinessService) else record.service
        if service_name:
            names.add(service_name)
            service = services.get(service_name.strip().lower())
            if service is not None and service.criticality > level:
                level = service.criticality
                notes.append(f"supports {service.name} ({CRITICALITY_NAMES[service.criticality]})")
        criticality, sensitivity = max(criticality, level), max(sensitivity, data)
        critical = critical or level >= BUSINESS_CRITICAL
        what = f"{match.entity_type.value} {match.value}"
        if match.value.lower() != record.key:
            what += f" ({record.key})"
        reasons.append(f"{what}: {', '.join(notes)}, data {SENSITIVITY_NAMES[data]}")
    return criticality, sensitivity, critical, reasons, names


def compute_priority(
    severity: str,
    matches: Iterable[Resolution] = (),
    services: dict[str, BusinessService] | None = None,
    intel_confidence: int | None = None,
) -> PriorityResult:
    """The priority of an alert of `severity` touching the resolved entities (see the module doc)."""
    level = severity.strip().lower()
    if level not in SEVERITY_WEIGHT:
        raise ValueError(f"unknown severity {severity!r} ({', '.join(SEVERITY_WEIGHT)})")
    if intel_confidence is not None and not 0 <= intel_confidence <= 100:
        raise ValueError(f"intel confidence {intel_confidence} is outside 0..100")
    criticality, sensitivity, critical, reasons, names = _factors(matches, services or {})
    confidence = NEUTRAL_CONFIDENCE if intel_confidence is None else intel_confidence
    score = (
        WEIGHTS["severity"] * SEVERITY_WEIGHT[level]
        + WEIGHTS["criticality"] * (criticality - 1) / 4
        + WEIGHTS["sensitivity"] * (sensitivity - 1) / 3
        + WEIGHTS["confidence"] * confidence / 100
    )
    rounded = round(score)
    priority = next((p for p, floor in THRESHOLDS if rounded >= floor), Priority.P4)
    if critical and SEVERITY_WEIGHT[level] >= SEVERITY_WEIGHT["high"]:
        priority = Priority.P1
        reasons.append(f"{level} alert on a business-critical entity is P1")
    if intel_confidence is not None:
        reasons.append(f"intel confidence {intel_confidence}")
    return PriorityResult(
        priority=priority,
        score=rounded,
        criticality=criticality,
        sensitivity=sensitivity,
        business_critical=critical,
        sla_severity=SLA_SEVERITY[priority],
        reasons=tuple(reasons),
        services=tuple(sorted(names)),
    )
