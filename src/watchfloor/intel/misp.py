"""MISP feeds: `manifest.json` naming events, one `<uuid>.json` per event, attributes mapped to types.

Attribute types are mapped by declaration (`ATTRIBUTE_TYPES`); composite types (`filename|sha256`,
`domain|ip`, `ip-dst|port`) give one indicator per usable part. An attribute flagged `to_ids` is meant
for detection and gets confidence 75; one without the flag is context and gets 40. The event's TLP tag
applies unless the attribute carries its own.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from watchfloor.intel.errors import IntelError
from watchfloor.intel.indicators import Indicator, IndicatorType, infer_type, normalize_tlp
from watchfloor.intel.stix import ParseResult, Unsupported

__all__ = ["ATTRIBUTE_TYPES", "event_uuids", "indicators_from_event"]

_IP = None  # marker: IPv4, IPv6 or CIDR, decided by the value
#: MISP attribute type → the indicator type of each `|`-separated part (None: an IP of either family;
#: a missing entry for a part: that part, such as a port, is ignored).
ATTRIBUTE_TYPES: Mapping[str, Sequence[IndicatorType | str | None]] = {
    "ip-src": (_IP,),
    "ip-dst": (_IP,),
    "ip-src|port": (_IP, "skip"),
    "ip-dst|port": (_IP, "skip"),
    "domain": (IndicatorType.DOMAIN,),
    "hostname": (IndicatorType.DOMAIN,),
    "domain|ip": (IndicatorType.DOMAIN, _IP),
    "hostname|port": (IndicatorType.DOMAIN, "skip"),
    "url": (IndicatorType.URL,),
    "md5": (IndicatorType.MD5,),
    "sha1": (IndicatorType.SHA1,),
    "sha256": (IndicatorType.SHA256,),
    "filename": (IndicatorType.FILENAME,),
    "filename|md5": (IndicatorType.FILENAME, IndicatorType.MD5),
    "filename|sha1": (IndicatorType.FILENAME, IndicatorType.SHA1),
    "filename|sha256": (IndicatorType.FILENAME, IndicatorType.SHA256),
    "email": (IndicatorType.EMAIL,),
    "email-src": (IndicatorType.EMAIL,),
    "email-dst": (IndicatorType.EMAIL,),
    "user-agent": (IndicatorType.USER_AGENT,),
}
TO_IDS_CONFIDENCE = 75
CONTEXT_CONFIDENCE = 40


def event_uuids(manifest: bytes | str, origin: str) -> list[str]:
    """The event uuids a feed's manifest.json lists (its keys)."""
    try:
        doc = json.loads(manifest)
    except json.JSONDecodeError as exc:
        raise IntelError(f"{origin}: manifest is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise IntelError(f"{origin}: manifest is not an object of events")
    return sorted(str(key) for key in doc)


def _tlp(tags: Any) -> str | None:
    for tag in tags or ():
        name = str(tag.get("name", "")) if isinstance(tag, dict) else ""
        if name.lower().startswith("tlp:"):
            try:
                return normalize_tlp(name)
            except IntelError:
                continue
    return None


def _stamp(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _ip_type(value: str) -> IndicatorType | None:
    kind = infer_type(value)
    return kind if kind in (IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR) else None


def indicators_from_event(text: bytes | str, feed: str, origin: str) -> ParseResult:
    """Indicators of one MISP event document (`{"Event": {...}}`), objects' attributes included."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IntelError(f"{origin}: not JSON: {exc}") from exc
    event = doc.get("Event") if isinstance(doc, dict) else None
    if not isinstance(event, dict):
        raise IntelError(f"{origin}: not a MISP event")
    event_tlp = _tlp(event.get("Tag")) or "amber"
    attributes = list(event.get("Attribute") or [])
    for obj in event.get("Object") or []:
        attributes.extend(obj.get("Attribute") or [])
    info = str(event.get("info") or "")
    result = ParseResult()
    for attribute in attributes:
        kind_name = str(attribute.get("type", ""))
        where = f"{origin}#{attribute.get('uuid', '?')}"
        value = str(attribute.get("value", ""))
        parts_types = ATTRIBUTE_TYPES.get(kind_name)
        if parts_types is None:
            result.unsupported.append(
                Unsupported(where, f"{kind_name}: {value}", "attribute type not matched on")
            )
            continue
        if attribute.get("deleted"):
            continue
        seen = _stamp(attribute.get("timestamp")) or _stamp(event.get("timestamp"))
        common: dict[str, Any] = {
            "confidence": TO_IDS_CONFIDENCE if attribute.get("to_ids") else CONTEXT_CONFIDENCE,
            "tlp": _tlp(attribute.get("Tag")) or event_tlp,
            "first_seen": _stamp(attribute.get("first_seen")) or seen,
            "last_seen": _stamp(attribute.get("last_seen")) or seen,
            "description": info,
            "origin": where,
        }
        values = value.split("|") if len(parts_types) > 1 else [value]
        for part, kind in zip(values, parts_types, strict=False):
            if kind == "skip":
                continue
            typed = _ip_type(part) if kind is None else IndicatorType(kind)
            if typed is None:
                result.unsupported.append(Unsupported(where, f"{kind_name}: {value}", f"not an IP: {part!r}"))
                continue
            try:
                result.indicators.append(Indicator.create(typed, part, feed, **common))
            except IntelError as exc:
                result.unsupported.append(Unsupported(where, f"{kind_name}: {value}", exc.message))
    return result
