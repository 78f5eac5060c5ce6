"""STIX 2.1: indicators out of bundles (validated by the `stix2` library) and their simple patterns.

A pattern is usable when it is one or more observation expressions joined by OR, each a list of
equality comparisons joined by OR on an observable's value: `[ipv4-addr:value = '198.51.100.7']`,
`[file:hashes.'SHA-256' = '...' OR file:hashes.MD5 = '...']`, `[domain-name:value = 'x.example'] OR
[url:value = 'http://x.example/a']`. Anything else (AND, FOLLOWEDBY, qualifiers such as WITHIN, other
operators, object paths we do not match on) is returned as unsupported with the reason, never guessed.
Objects are parsed one at a time, so one invalid object is reported and the rest of the bundle is kept.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from watchfloor.intel.errors import IntelError
from watchfloor.intel.indicators import Indicator, IndicatorStatus, IndicatorType, normalize_tlp

__all__ = ["ParseResult", "Unsupported", "indicators_from_bundle", "indicators_from_objects", "parse_pattern"]

DEFAULT_CONFIDENCE = 50

#: Object paths whose value an indicator can name, and the type it then has.
_PATHS: Mapping[str, IndicatorType] = {
    "ipv4-addr:value": IndicatorType.IPV4,
    "ipv6-addr:value": IndicatorType.IPV6,
    "domain-name:value": IndicatorType.DOMAIN,
    "url:value": IndicatorType.URL,
    "email-addr:value": IndicatorType.EMAIL,
    "email-message:from_ref.value": IndicatorType.EMAIL,
    "file:name": IndicatorType.FILENAME,
    "file:hashes.md5": IndicatorType.MD5,
    "file:hashes.sha-1": IndicatorType.SHA1,
    "file:hashes.sha1": IndicatorType.SHA1,
    "file:hashes.sha-256": IndicatorType.SHA256,
    "file:hashes.sha256": IndicatorType.SHA256,
    "network-traffic:extensions.http-request-ext.request_header.user-agent": IndicatorType.USER_AGENT,
}
_COMPARISON = re.compile(
    r"(?P<path>[a-z0-9-]+:(?:[A-Za-z0-9_-]+|'[^']+')(?:\.(?:[A-Za-z0-9_-]+|'[^']+')|\[(?:\d+|\*)\])*)"
    r"\s*(?P<op>!=|>=|<=|=|>|<|NOT\s+\w+|MATCHES|LIKE|IN|ISSUBSET|ISSUPERSET)\s*"
    r"(?P<val>'(?:[^'\\]|\\.)*'|\([^)]*\)|[^\s\]]+)"
)
_LEFTOVER_WORD = re.compile(r"[A-Za-z_]+")
#: The four TLP 1.0 marking definitions STIX 2.1 predefines (stix2.TLP_WHITE... ids).
_TLP_IDS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
}


@dataclass(frozen=True, slots=True)
class Unsupported:
    """An object or pattern that was not turned into indicators, and why."""

    origin: str
    pattern: str
    reason: str


@dataclass(slots=True)
class ParseResult:
    """What a feed yielded: indicators, and what was skipped with reasons."""

    indicators: list[Indicator] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)

    def extend(self, other: ParseResult) -> None:
        """Add another result's indicators and skips to this one."""
        self.indicators.extend(other.indicators)
        self.unsupported.extend(other.unsupported)


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def parse_pattern(pattern: str) -> list[tuple[IndicatorType, str]]:
    """The (type, raw value) pairs an OR-only equality pattern names; `IntelError` says why not."""
    pairs: list[tuple[IndicatorType, str]] = []
    for found in _COMPARISON.finditer(pattern):
        op = found.group("op")
        if op != "=":
            raise IntelError(f"operator {op!r} is not supported (only '=')")
        path = found.group("path").replace("'", "").lower()
        kind = _PATHS.get(path)
        if kind is None:
            raise IntelError(f"object path {found.group('path')!r} is not matched on")
        value = found.group("val")
        if not value.startswith("'"):
            raise IntelError(f"value {value!r} is not a string literal")
        text = _unquote(value)
        if kind in (IndicatorType.IPV4, IndicatorType.IPV6) and "/" in text:
            kind = IndicatorType.CIDR
        pairs.append((kind, text))
    leftover = _COMPARISON.sub(" ", pattern)
    words = {w.upper() for w in _LEFTOVER_WORD.findall(leftover)} - {"OR"}
    if words:
        raise IntelError(f"{', '.join(sorted(words))} is not supported (only OR of equality comparisons)")
    if re.sub(r"[\s\[\]()]|OR", "", leftover):
        raise IntelError("pattern is not a list of comparisons")
    if not pairs:
        raise IntelError("pattern has no comparison")
    return pairs


def _when(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    text = str(value).replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _tlp_of(obj: Mapping[str, Any], markings: Mapping[str, str]) -> str:
    found = [markings.get(ref) or _TLP_IDS.get(ref) for ref in obj.get("object_marking_refs", ())]
    levels = [t for t in found if t]
    if not levels:
        return "amber"
    order = ("clear", "green", "amber", "amber+strict", "red")
    return max(levels, key=order.index)


def _markings(objects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """TLP marking definitions carried in the bundle (TLP 2.0 ones name themselves `TLP:GREEN`...)."""
    out: dict[str, str] = {}
    for obj in objects:
        if obj.get("type") != "marking-definition":
            continue
        name = obj.get("name") or (obj.get("definition") or {}).get("tlp")
        if isinstance(name, str):
            try:
                out[str(obj.get("id"))] = normalize_tlp(name)
            except IntelError:
                continue
    return out


def indicators_from_objects(objects: Sequence[Mapping[str, Any]], feed: str, origin: str) -> ParseResult:
    """Indicators from STIX 2.1 objects (a bundle's `objects` or a TAXII page); other types are skipped."""
    import stix2  # heavy (pattern grammar); only feeds that carry STIX need it

    result = ParseResult()
    markings = _markings(objects)
    for raw in objects:
        if raw.get("type") != "indicator":
            continue
        where = f"{origin}#{raw.get('id', '?')}"
        pattern = str(raw.get("pattern", ""))
        try:
            obj = stix2.parse(dict(raw), allow_custom=True, version="2.1")
        except (stix2.exceptions.STIXError, ValueError) as exc:
            result.unsupported.append(Unsupported(where, pattern, f"invalid STIX object: {exc}"))
            continue
        if obj.get("pattern_type", "stix") != "stix":
            result.unsupported.append(Unsupported(where, pattern, f"pattern type {obj['pattern_type']!r}"))
            continue
        try:
            pairs = parse_pattern(pattern)
        except IntelError as exc:
            result.unsupported.append(Unsupported(where, pattern, exc.message))
            continue
        confidence = obj.get("confidence")
        attributes: dict[str, Any] = {
            "confidence": DEFAULT_CONFIDENCE if confidence is None else int(confidence),
            "tlp": _tlp_of(raw, markings),
            "first_seen": _when(obj.get("valid_from")),
            "last_seen": _when(obj.get("modified")),
            "valid_until": _when(obj.get("valid_until")),
            "status": IndicatorStatus.REVOKED if obj.get("revoked") else IndicatorStatus.ACTIVE,
            "description": str(obj.get("name") or obj.get("description") or ""),
            "origin": where,
        }
        for kind, value in pairs:
            try:
                result.indicators.append(Indicator.create(kind, value, feed, **attributes))
            except IntelError as exc:
                result.unsupported.append(Unsupported(where, pattern, exc.message))
    return result


def indicators_from_bundle(text: str | bytes, feed: str, origin: str) -> ParseResult:
    """Indicators of one STIX 2.1 bundle (JSON text)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IntelError(f"{origin}: not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "bundle":
        raise IntelError(f"{origin}: not a STIX bundle")
    objects = doc.get("objects") or []
    return indicators_from_objects([o for o in objects if isinstance(o, dict)], feed, origin)
