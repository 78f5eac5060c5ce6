"""The closed vocabularies of incident management: states, verdicts, roles, severities, entity kinds.

They are `StrEnum`s so the database, the JSON output and the command line all carry the same plain words.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ROLE_TIER",
    "SEVERITY_RANK",
    "TIERS",
    "EntityKind",
    "RemediationKind",
    "Role",
    "Severity",
    "State",
    "Verdict",
    "queue_for_tier",
    "severity_rank",
]

TIERS = (1, 2, 3)


class State(StrEnum):
    """Where an incident is in its lifecycle; `closed` is the only terminal state (until reopened)."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    CONTAINED = "contained"
    REMEDIATED = "remediated"
    CLOSED = "closed"


class Verdict(StrEnum):
    """Why an incident was closed; rule fidelity metrics are computed from these."""

    TRUE_POSITIVE = "true_positive"
    BENIGN_TRUE_POSITIVE = "benign_true_positive"
    FALSE_POSITIVE_LOGIC = "false_positive_logic"
    FALSE_POSITIVE_DATA = "false_positive_data"
    DUPLICATE = "duplicate"


class RemediationKind(StrEnum):
    """Whether people or automation remediated; the automation share metric counts these."""

    MANUAL = "manual"
    AUTOMATED = "automated"


class Role(StrEnum):
    """What a user does in the SOC; `ROLE_TIER` says which incidents each may work on."""

    STAKEHOLDER = "stakeholder"
    TIER1 = "tier1"
    TIER2 = "tier2"
    TIER3 = "tier3"
    DETECTION_ENGINEER = "detection_engineer"
    ADMIN = "admin"


# The highest incident tier a role may act on; 0 means read and comment only.
ROLE_TIER: dict[Role, int] = {
    Role.STAKEHOLDER: 0,
    Role.DETECTION_ENGINEER: 0,
    Role.TIER1: 1,
    Role.TIER2: 2,
    Role.TIER3: 3,
    Role.ADMIN: 3,
}


class Severity(StrEnum):
    """Sigma's levels, reused for incidents (an incident is as severe as its worst alert)."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_RANK: dict[Severity, int] = {s: i for i, s in enumerate(Severity)}


class EntityKind(StrEnum):
    """The entities alerts are grouped by, and the kinds a criticality entry can name."""

    HOST = "host"
    USER = "user"
    IP = "ip"
    PROCESS = "process"


def severity_rank(value: str) -> int:
    """Rank of a severity word for sorting; unknown words rank as medium rather than failing intake."""
    try:
        return SEVERITY_RANK[Severity(value.lower())]
    except ValueError:
        return SEVERITY_RANK[Severity.MEDIUM]


def queue_for_tier(tier: int) -> str:
    """The default queue of a tier: incidents routed or escalated there land in it."""
    return f"tier{tier}"
