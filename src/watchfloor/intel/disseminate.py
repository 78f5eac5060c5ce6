"""Watchfloor's own intelligence as STIX 2.1: live indicators and what was seen of them, for TAXII.

Each indicator statement becomes one STIX `indicator` (its id derived from type, value and feed, so the
same statement keeps the same id across pulls) with the confidence it carries now, its TLP as a marking,
and `valid_from`/`valid_until`; each indicator seen in stored events becomes one `sighting` of it (count,
first and last seen). Only statements whose TLP allows sharing with the clients of this server are
published: up to `amber` by default, never `amber+strict` or `red`. An object's "date added" is when
Watchfloor last changed it (the statement's update, the latest sighting), which is what `added_after`
filters on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from watchfloor.intel.indicators import TLP_LEVELS
from watchfloor.intel.scoring import ScoringPolicy
from watchfloor.intel.store import IntelStore

__all__ = ["PublishedObject", "indicator_id", "published_objects", "stix_pattern"]

_NAMESPACE = uuid.UUID("6f0c6a0e-3d4b-4f8e-9a51-2c8b1e7d4a10")
_IDENTITY = "identity--" + str(uuid.uuid5(_NAMESPACE, "watchfloor"))
_TLP_MARKINGS = {
    "clear": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "amber": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
_PATHS = {
    "ipv4": "ipv4-addr:value",
    "ipv6": "ipv6-addr:value",
    "domain": "domain-name:value",
    "url": "url:value",
    "md5": "file:hashes.MD5",
    "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'",
    "email": "email-addr:value",
    "filename": "file:name",
    "user_agent": "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",
}


@dataclass(frozen=True, slots=True)
class PublishedObject:
    """A STIX object and when Watchfloor added (or last changed) it."""

    added: dt.datetime
    object: dict[str, Any]


def stix_pattern(kind: str, value: str) -> str:
    """The STIX pattern of one indicator (a network is an address comparison with a prefix)."""
    family = "ipv6-addr:value" if ":" in value else "ipv4-addr:value"
    path = family if kind == "cidr" else _PATHS[kind]
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{path} = '{escaped}']"


def _stamp(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    aware = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{aware.microsecond // 1000:03d}Z"


def indicator_id(kind: str, value: str, feed: str) -> str:
    """The stable STIX id of one feed's statement of a value."""
    return "indicator--" + str(uuid.uuid5(_NAMESPACE, f"{kind}\x00{value}\x00{feed}"))


def published_objects(
    store: IntelStore, policy: ScoringPolicy, max_tlp: str = "amber", now: dt.datetime | None = None
) -> list[PublishedObject]:
    """Every shareable indicator and sighting, oldest change first."""
    allowed = set(TLP_LEVELS[: TLP_LEVELS.index(max_tlp) + 1]) - {"amber+strict"}
    when = now or dt.datetime.now(dt.UTC)
    out: list[PublishedObject] = []
    ids: dict[tuple[str, str, str], str] = {}
    tlps: dict[tuple[str, str, str], str] = {}
    for row in store.live(policy, when).to_pylist():
        if row["tlp"] not in allowed:
            continue
        key = (row["type"], row["value"], row["feed"])
        ids[key] = indicator_id(*key)
        tlps[key] = row["tlp"]
        updated = row.get("updated") or row.get("last_seen") or when
        valid_from = row["first_seen"] or updated
        obj: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": ids[key],
            "created_by_ref": _IDENTITY,
            "created": _stamp(valid_from),
            "modified": _stamp(updated),
            "name": f"{row['type']} {row['value']}",
            "description": row["description"] or f"from feed {row['feed']}",
            "indicator_types": ["malicious-activity"],
            "pattern": stix_pattern(row["type"], row["value"]),
            "pattern_type": "stix",
            "valid_from": _stamp(valid_from),
            "confidence": int(row["confidence"]),
            "labels": [f"feed:{row['feed']}"],
            "object_marking_refs": [_TLP_MARKINGS[row["tlp"]]],
        }
        if row["valid_until"] is not None and row["valid_until"] > valid_from:
            obj["valid_until"] = _stamp(row["valid_until"])
        out.append(PublishedObject(_aware(updated), obj))
    for seen in store.sighting_summary():
        key = (seen["type"], seen["value"], seen["feed"])
        if key not in ids:
            continue
        recorded = _aware(seen["recorded"])
        out.append(
            PublishedObject(
                recorded,
                {
                    "type": "sighting",
                    "spec_version": "2.1",
                    "id": "sighting--" + str(uuid.uuid5(_NAMESPACE, ids[key] + "\x00sighting")),
                    "created_by_ref": _IDENTITY,
                    "created": _stamp(recorded),
                    "modified": _stamp(recorded),
                    "sighting_of_ref": ids[key],
                    "count": int(seen["count"]),
                    "first_seen": _stamp(seen["first_seen"] or recorded),
                    "last_seen": _stamp(seen["last_seen"] or recorded),
                    "object_marking_refs": [_TLP_MARKINGS[tlps[key]]],
                },
            )
        )
    out.sort(key=lambda p: (p.added, p.object["id"]))
    return out


def _aware(when: Any) -> dt.datetime:
    if not isinstance(when, dt.datetime):
        return dt.datetime.now(dt.UTC)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
