"""CSV feeds and plain lists: columns found by header name (or given), types named or inferred.

A CSV's columns are mapped to indicator attributes by the names in `COLUMN_NAMES` (case-insensitive),
or explicitly (`--column value=ioc --column type=kind`). A file with no recognisable value column, or
only one column, is a plain list: one value per line, `#` comments and blank lines skipped, the type of
each inferred from its shape. A named type is read through `TYPE_NAMES` (`ip-dst`, `FileHash-SHA256`,
`hostname`...); an unknown or missing one is inferred too.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from typing import Any

from watchfloor.intel.errors import IntelError
from watchfloor.intel.indicators import Indicator, IndicatorType, infer_type, normalize_tlp
from watchfloor.intel.stix import DEFAULT_CONFIDENCE, ParseResult, Unsupported

__all__ = ["COLUMN_NAMES", "TYPE_NAMES", "indicators_from_csv", "indicators_from_list"]

#: Indicator attribute → header names that hold it.
COLUMN_NAMES: Mapping[str, tuple[str, ...]] = {
    "value": ("value", "indicator", "ioc", "observable", "ioc_value", "ip", "domain", "url", "hash"),
    "type": ("type", "indicator_type", "ioc_type", "kind", "observable_type"),
    "confidence": ("confidence", "score"),
    "tlp": ("tlp", "marking"),
    "first_seen": ("first_seen", "firstseen", "first_seen_utc", "created"),
    "last_seen": ("last_seen", "lastseen", "last_seen_utc", "modified"),
    "valid_until": ("valid_until", "expiry", "expires", "expiration"),
    "description": ("description", "comment", "threat", "malware", "tags"),
}
#: Type names feeds use → indicator types.
TYPE_NAMES: Mapping[str, IndicatorType] = {
    **{t.value: t for t in IndicatorType},
    "ip": IndicatorType.IPV4,
    "ip-src": IndicatorType.IPV4,
    "ip-dst": IndicatorType.IPV4,
    "ipv4-addr": IndicatorType.IPV4,
    "ipv6-addr": IndicatorType.IPV6,
    "hostname": IndicatorType.DOMAIN,
    "fqdn": IndicatorType.DOMAIN,
    "domain-name": IndicatorType.DOMAIN,
    "uri": IndicatorType.URL,
    "filehash-md5": IndicatorType.MD5,
    "filehash-sha1": IndicatorType.SHA1,
    "filehash-sha256": IndicatorType.SHA256,
    "sha-1": IndicatorType.SHA1,
    "sha-256": IndicatorType.SHA256,
    "email-addr": IndicatorType.EMAIL,
    "user-agent": IndicatorType.USER_AGENT,
    "useragent": IndicatorType.USER_AGENT,
}
_IP_TYPES = (IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR)


def _time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _typed(named: str | None, value: str) -> IndicatorType | None:
    kind = TYPE_NAMES.get((named or "").strip().lower())
    inferred = infer_type(value)
    if kind is None or (kind in _IP_TYPES and inferred in _IP_TYPES):
        return inferred  # an "ip" column can hold either family or a network
    return kind


def indicators_from_list(
    text: str, feed: str, origin: str, confidence: int = DEFAULT_CONFIDENCE
) -> ParseResult:
    """One value per line; types inferred."""
    result = ParseResult()
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not value:
            continue
        where = f"{origin}:{number}"
        kind = infer_type(value)
        if kind is None:
            result.unsupported.append(Unsupported(where, value, "type cannot be inferred"))
            continue
        try:
            result.indicators.append(Indicator.create(kind, value, feed, confidence=confidence, origin=where))
        except IntelError as exc:
            result.unsupported.append(Unsupported(where, value, exc.message))
    return result


def _mapping(header: list[str], columns: Mapping[str, str]) -> dict[str, int]:
    lowered = [h.strip().lower() for h in header]
    found: dict[str, int] = {}
    for attribute, name in columns.items():
        if attribute not in COLUMN_NAMES:
            raise IntelError(f"unknown indicator attribute {attribute!r} in --column")
        if name.strip().lower() not in lowered:
            raise IntelError(f"column {name!r} is not in the CSV header {header}")
        found[attribute] = lowered.index(name.strip().lower())
    for attribute, names in COLUMN_NAMES.items():
        if attribute not in found:
            index = next((lowered.index(n) for n in names if n in lowered), None)
            if index is not None and index not in found.values():
                found[attribute] = index
    return found


def indicators_from_csv(
    text: str, feed: str, origin: str, columns: Mapping[str, str] | None = None
) -> ParseResult:
    """Indicators of a CSV with a header (see the module docstring); a plain list when it has none."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    rows = [r for r in rows if r and not r[0].lstrip().startswith("#")]
    if not rows:
        return ParseResult()
    mapping = _mapping(rows[0], columns or {})
    if "value" not in mapping or len(rows[0]) < 2:
        return indicators_from_list(text, feed, origin)
    result = ParseResult()
    for number, row in enumerate(rows[1:], start=2):
        cell = {k: (row[i].strip() if i < len(row) else "") for k, i in mapping.items()}
        value, where = cell.get("value", ""), f"{origin}:{number}"
        if not value:
            continue
        kind = _typed(cell.get("type"), value)
        if kind is None:
            result.unsupported.append(Unsupported(where, value, f"type {cell.get('type')!r} not recognised"))
            continue
        attributes: dict[str, Any] = {"origin": where, "description": cell.get("description", "")}
        try:
            attributes["confidence"] = (
                int(float(cell["confidence"])) if cell.get("confidence") else DEFAULT_CONFIDENCE
            )
            if cell.get("tlp"):
                attributes["tlp"] = normalize_tlp(cell["tlp"])
            attributes["first_seen"] = _time(cell.get("first_seen"))
            attributes["last_seen"] = _time(cell.get("last_seen"))
            attributes["valid_until"] = _time(cell.get("valid_until"))
            result.indicators.append(Indicator.create(kind, value, feed, **attributes))
        except (IntelError, ValueError) as exc:
            result.unsupported.append(Unsupported(where, value, str(exc)))
    return result
