"""Typed indicators: what an indicator is, how its value is written canonically, and how it is guessed.

Every value is normalised once, when it enters the intel store, so that matching is a plain equality
(a hash join) against event values that receive the same treatment: domains and hashes lower-cased,
IP addresses in their canonical text (`ipaddress` compressed form), networks in CIDR notation with host
bits cleared, URLs with a lower-case scheme and host, no default port and no fragment.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

from watchfloor.intel.errors import IntelError

__all__ = [
    "MATCH_KEY",
    "TLP_LEVELS",
    "Indicator",
    "IndicatorStatus",
    "IndicatorType",
    "infer_type",
    "normalize_tlp",
    "normalize_value",
]


class IndicatorType(enum.StrEnum):
    """The kinds of observable an indicator can name."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    CIDR = "cidr"
    DOMAIN = "domain"
    URL = "url"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    EMAIL = "email"
    USER_AGENT = "user_agent"
    FILENAME = "filename"


class IndicatorStatus(enum.StrEnum):
    """Lifecycle: active until it expires (valid_until passed) or a feed or analyst revokes it."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


#: Which event-value namespace each type is matched in: hashes share one (their lengths differ), IPv4 and
#: IPv6 share one (an event column holds either).
MATCH_KEY: dict[IndicatorType, str] = {
    IndicatorType.IPV4: "ip",
    IndicatorType.IPV6: "ip",
    IndicatorType.CIDR: "cidr",
    IndicatorType.DOMAIN: "domain",
    IndicatorType.URL: "url",
    IndicatorType.MD5: "hash",
    IndicatorType.SHA1: "hash",
    IndicatorType.SHA256: "hash",
    IndicatorType.EMAIL: "email",
    IndicatorType.USER_AGENT: "user_agent",
    IndicatorType.FILENAME: "filename",
}

#: Traffic Light Protocol 2.0 labels, least to most restrictive.
TLP_LEVELS = ("clear", "green", "amber", "amber+strict", "red")

_HEX = {IndicatorType.MD5: 32, IndicatorType.SHA1: 40, IndicatorType.SHA256: 64}
_HEX_CHARS = re.compile(r"^[0-9a-f]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


def _ip(value: str, version: int) -> str:
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError as exc:
        raise IntelError(f"not an IP address: {value!r}") from exc
    if address.version != version:
        raise IntelError(f"not an IPv{version} address: {value!r}")
    return str(address)


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as exc:
        raise IntelError(f"not a network: {value!r}") from exc
    return str(network)


def _domain(value: str) -> str:
    text = value.strip().rstrip(".").lower()
    try:
        text = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError as exc:
        raise IntelError(f"not a domain name: {value!r}") from exc
    if not _DOMAIN.match(text):
        raise IntelError(f"not a domain name: {value!r}")
    return text


def _url(value: str) -> str:
    text = value.strip()
    parts = urllib.parse.urlsplit(text if "://" in text else "http://" + text)
    if not parts.hostname:
        raise IntelError(f"not a URL: {value!r}")
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise IntelError(f"not a URL (bad port): {value!r}") from exc
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    path = parts.path or "/"
    return urllib.parse.urlunsplit((scheme, netloc, path, parts.query, ""))


def _hash(kind: IndicatorType, value: str) -> str:
    text = value.strip().lower()
    if len(text) != _HEX[kind] or not _HEX_CHARS.match(text):
        raise IntelError(f"not a {kind.value} hash: {value!r}")
    return text


def normalize_value(kind: IndicatorType, value: str) -> str:
    """The canonical text of `value` as an indicator of `kind`; `IntelError` if it is not one."""
    if kind is IndicatorType.IPV4:
        return _ip(value, 4)
    if kind is IndicatorType.IPV6:
        return _ip(value, 6)
    if kind is IndicatorType.CIDR:
        return _cidr(value)
    if kind is IndicatorType.DOMAIN:
        return _domain(value)
    if kind is IndicatorType.URL:
        return _url(value)
    if kind in _HEX:
        return _hash(kind, value)
    if kind is IndicatorType.EMAIL:
        text = value.strip().lower()
        if not _EMAIL.match(text):
            raise IntelError(f"not an e-mail address: {value!r}")
        return text
    text = value.strip()
    if not text:
        raise IntelError(f"empty {kind.value} indicator")
    return text.lower() if kind is IndicatorType.FILENAME else text


def infer_type(value: str) -> IndicatorType | None:
    """The type a bare value most likely has (for plain lists and unlabelled CSV), or None."""
    text = value.strip()
    if not text:
        return None
    if any(ch.isspace() for ch in text):
        return IndicatorType.USER_AGENT if "/" in text else None
    try:
        return IndicatorType.IPV4 if ipaddress.ip_address(text).version == 4 else IndicatorType.IPV6
    except ValueError:
        pass
    if "/" in text and "://" not in text:
        try:
            ipaddress.ip_network(text, strict=False)
            return IndicatorType.CIDR
        except ValueError:
            pass
    lowered = text.lower()
    if _HEX_CHARS.match(lowered):
        return {32: IndicatorType.MD5, 40: IndicatorType.SHA1, 64: IndicatorType.SHA256}.get(len(lowered))
    if "://" in text:
        return IndicatorType.URL
    if _EMAIL.match(lowered):
        return IndicatorType.EMAIL
    if _DOMAIN.match(lowered.rstrip(".")):
        return IndicatorType.DOMAIN
    return None


def normalize_tlp(value: str | None) -> str:
    """A TLP label from `TLP:AMBER`, `tlp:white` (TLP 1.0, now `clear`), `amber+strict`...; default amber."""
    if not value:
        return "amber"
    text = value.strip().lower().removeprefix("tlp:").strip()
    text = "clear" if text == "white" else text
    if text not in TLP_LEVELS:
        raise IntelError(f"unknown TLP marking {value!r}")
    return text


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator as one feed states it: a typed, canonical value and what the feed says about it.

    `confidence` is the feed's own (0-100) before decay and verdict feedback; `origin` says where in the
    feed it was read (a file and STIX id, a MISP event), for analysts following a match back.
    """

    type: IndicatorType
    value: str
    feed: str
    confidence: int = 50
    tlp: str = "amber"
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    status: IndicatorStatus = IndicatorStatus.ACTIVE
    description: str = ""
    origin: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.confidence <= 100:
            raise IntelError(f"confidence must be 0-100, got {self.confidence} for {self.value!r}")
        if self.tlp not in TLP_LEVELS:
            raise IntelError(f"unknown TLP marking {self.tlp!r} for {self.value!r}")

    @classmethod
    def create(cls, kind: IndicatorType | str, value: str, feed: str, **attributes: object) -> Indicator:
        """An indicator with its value normalised (the way every parser builds one)."""
        typed = IndicatorType(kind)
        return cls(typed, normalize_value(typed, value), feed, **attributes)  # type: ignore[arg-type]
