"""The business-context records: assets, identities and business services, as frozen typed values.

Each record carries where it was read from (`Location`), so a later problem (a duplicate host, a
service nobody declared) can name the file and line that introduced it. Criticality is one scale of
1 to 5 for every kind, data sensitivity one scale of 1 to 4; `parse_criticality` and
`parse_sensitivity` accept the numbers or the words of `CRITICALITY_WORDS` and `SENSITIVITY_WORDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from watchfloor.errors import Location

__all__ = [
    "BUSINESS_CRITICAL",
    "CRITICALITY_NAMES",
    "CRITICALITY_WORDS",
    "DEFAULT_CRITICALITY",
    "DEFAULT_SENSITIVITY",
    "SENSITIVITY_NAMES",
    "SENSITIVITY_WORDS",
    "Asset",
    "BusinessService",
    "ContextKind",
    "ContextRecord",
    "Exposure",
    "Identity",
    "parse_criticality",
    "parse_sensitivity",
]

#: Words for the criticality scale; the old criticality table's words (`normal`, `business_critical`)
#: are accepted so that its entries keep their meaning.
CRITICALITY_WORDS: dict[str, int] = {
    "minimal": 1,
    "low": 2,
    "medium": 3,
    "normal": 3,
    "high": 4,
    "critical": 5,
    "business_critical": 5,
}
CRITICALITY_NAMES: dict[int, str] = {1: "minimal", 2: "low", 3: "medium", 4: "high", 5: "critical"}
#: Criticality at or above which an entity is business critical (its incidents start in tier 2).
BUSINESS_CRITICAL = 5
#: What an entity nobody described counts as: the middle of the scale, so severity decides.
DEFAULT_CRITICALITY = 3

SENSITIVITY_WORDS: dict[str, int] = {"public": 1, "internal": 2, "confidential": 3, "restricted": 4}
SENSITIVITY_NAMES: dict[int, str] = {v: k for k, v in SENSITIVITY_WORDS.items()}
DEFAULT_SENSITIVITY = 2


class ContextKind(StrEnum):
    """The three kinds of record an import file holds."""

    ASSETS = "assets"
    IDENTITIES = "identities"
    SERVICES = "services"


class Exposure(StrEnum):
    """Where an asset is expected to be reachable from."""

    INTERNET = "internet"
    INTERNAL = "internal"


def _scale(value: str | int, words: dict[str, int], top: int, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be 1..{top} or one of {', '.join(words)}")
    if isinstance(value, int):
        number = value
    else:
        text = value.strip().lower().replace(" ", "_").replace("-", "_")
        if text in words:
            return words[text]
        try:
            number = int(text)
        except ValueError:
            raise ValueError(f"{what} {value!r} is not 1..{top} or one of {', '.join(words)}") from None
    if not 1 <= number <= top:
        raise ValueError(f"{what} {number} is outside 1..{top}")
    return number


def parse_criticality(value: str | int) -> int:
    """A criticality of 1 (minimal) to 5 (critical) from a number or a word."""
    return _scale(value, CRITICALITY_WORDS, 5, "criticality")


def parse_sensitivity(value: str | int) -> int:
    """A data sensitivity of 1 (public) to 4 (restricted) from a number or a word."""
    return _scale(value, SENSITIVITY_WORDS, 4, "data sensitivity")


def _check(criticality: int, sensitivity: int) -> None:
    if not 1 <= criticality <= 5:
        raise ValueError(f"criticality {criticality} is outside 1..5")
    if not 1 <= sensitivity <= 4:
        raise ValueError(f"data sensitivity {sensitivity} is outside 1..4")


@dataclass(frozen=True, slots=True)
class Asset:
    """A host: its names and addresses (single addresses or CIDR ranges) and what it means to the business."""

    hostname: str
    addresses: tuple[str, ...] = ()
    criticality: int = DEFAULT_CRITICALITY
    sensitivity: int = DEFAULT_SENSITIVITY
    owner: str = ""
    service: str = ""
    crown_jewel: bool = False
    exposure: Exposure = Exposure.INTERNAL
    origin: Location | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.hostname.strip():
            raise ValueError("an asset needs a hostname")
        _check(self.criticality, self.sensitivity)

    @property
    def key(self) -> str:
        """The asset's identity in the store: its host name in lower case."""
        return self.hostname.strip().lower()


@dataclass(frozen=True, slots=True)
class Identity:
    """A user account, the other names it goes by (e-mail addresses, aliases) and who it matters to."""

    username: str
    aliases: tuple[str, ...] = ()
    vip: bool = False
    criticality: int = DEFAULT_CRITICALITY
    sensitivity: int = DEFAULT_SENSITIVITY
    owner: str = ""
    service: str = ""
    origin: Location | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.username.strip():
            raise ValueError("an identity needs a username")
        _check(self.criticality, self.sensitivity)

    @property
    def key(self) -> str:
        """The identity's key in the store: its user name in lower case."""
        return self.username.strip().lower()


@dataclass(frozen=True, slots=True)
class BusinessService:
    """Something the organisation does that assets and identities support."""

    name: str
    criticality: int = DEFAULT_CRITICALITY
    owner: str = ""
    description: str = ""
    origin: Location | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a business service needs a name")
        _check(self.criticality, DEFAULT_SENSITIVITY)

    @property
    def key(self) -> str:
        """The service's key in the store: its name in lower case."""
        return self.name.strip().lower()


ContextRecord = Asset | Identity | BusinessService
