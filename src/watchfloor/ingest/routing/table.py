"""Routing of live events to the file format that reads them, so they land where files of that kind do.

A live listener knows what its events are only from what the shipper says: Splunk HEC's `sourcetype`,
`source` and `index`, the `_bulk` index and Beats' `agent.type` / `event.module` / `winlog.channel`,
OpenTelemetry resource attributes (`com.splunk.sourcetype`, `event.dataset`). The syslog channel needs
no table: its messages are routed by their content (CEF, LEEF, Sysmon XML, audit records) as syslog
files are. This module turns those hints into a destination (`windows`, `linux`, `cloudtrail`...), and
the destination into the readers that parse the event: the same converters and source mappings file
ingestion uses, so an event sent live gets the producer fields and OCSF core a file would give it.

Everything is declared in two tables, `DESTINATIONS` and `ROUTES`; `RoutingTable.register` adds to
them the way `FormatRegistry.register` adds formats, and a JSON format registered by a plugin can be a
destination's reader by its name. The decision depends only on an envelope's body and metadata, which
the spool keeps, so a replay after a crash routes every event as the first attempt did.

A hint is `strict` when the shipper declares the kind of data (a sourcetype such as `aws:cloudtrail`):
an event none of the destination's readers accepts, or one damaged inside its format, is then
quarantined with the reason. A hint that only suggests (an index name, a dataset, a file path) never
quarantines: an event its readers decline or cannot read stays in its channel's own source. Events
with no hint, or a hint no rule knows (`_json`), stay in the channel's source as before.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from watchfloor.ingest.formats._json import JsonFamilyFormat
from watchfloor.ingest.registry import FormatRegistry, default_registry
from watchfloor.ingest.routing.readers import (
    JsonReader,
    LineReader,
    Payload,
    PayloadReader,
    WindowsXmlReader,
    ZeekReader,
)

__all__ = [
    "DESTINATIONS",
    "ROUTES",
    "Destination",
    "Refused",
    "RouteRule",
    "Routed",
    "RoutingTable",
    "default_routing",
]


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a hint sends events: the readers tried in order (by format name); the first that accepts wins."""

    name: str
    readers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RouteRule:
    """`hint` (a case-insensitive glob over the hint's value) sends an event to `destination`."""

    hint: str
    pattern: str
    destination: str
    strict: bool = False
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.compile(fnmatch.translate(self.pattern), re.IGNORECASE)
        object.__setattr__(self, "_regex", regex)

    def matches(self, value: str) -> bool:
        """Whether a hint value fits the pattern."""
        return self._regex.match(value) is not None


#: Destinations by name. `windows` reads XML, Winlogbeat, the evtx JSON rendering and flat shipper JSON.
DESTINATIONS: tuple[Destination, ...] = (
    Destination("windows", ("windows-xml", "winlogbeat", "evtx-json", "windows-json")),
    Destination("linux", ("syslog",)),
    Destination("cloudtrail", ("cloudtrail",)),
    Destination("suricata", ("suricata",)),
    Destination("zeek", ("zeek-json",)),
    Destination("okta", ("okta",)),
    Destination("entra", ("entra",)),
)


def _rules(hint: str, destination: str, patterns: str, strict: bool = False) -> tuple[RouteRule, ...]:
    return tuple(RouteRule(hint, p, destination, strict) for p in patterns.split())


#: Hints in order of precedence; the first rule whose hint is present and matches decides.
ROUTES: tuple[RouteRule, ...] = (
    # An explicit destination name (OTLP attribute `watchfloor.route`).
    *(RouteRule("route", d.name, d.name, strict=True) for d in DESTINATIONS),
    # Splunk sourcetypes (HEC, or `com.splunk.sourcetype` from the OpenTelemetry collector).
    *_rules("sourcetype", "windows", "XmlWinEventLog* WinEventLog:Xml* winlogbeat*", strict=True),
    *_rules("sourcetype", "windows", "WinEventLog* wineventlog:* ms:windows:*"),  # may be classic text
    *_rules(
        "sourcetype", "linux", "linux_secure linux_messages_syslog syslog linux:auth rfc5424_syslog", True
    ),
    *_rules("sourcetype", "linux", "cef *:cef leef *:leef linux:audit linux_audit auditd sysmon:linux", True),
    *_rules("sourcetype", "cloudtrail", "aws:cloudtrail", strict=True),
    *_rules("sourcetype", "suricata", "suricata suricata:* suricata_eve", strict=True),
    *_rules("sourcetype", "zeek", "zeek:*:json bro:*:json zeek_json bro_json", strict=True),
    *_rules("sourcetype", "zeek", "zeek:* bro:* zeek_* bro_*"),
    *_rules("sourcetype", "okta", "okta:im2 OktaIM2:* okta:*", strict=True),
    *_rules("sourcetype", "entra", "azure:aad:* ms:aad:* azure:monitor:aad", strict=True),
    # Elastic datasets (`event.dataset`, `data_stream.dataset`), from `_bulk` documents or OTLP.
    *_rules("dataset", "windows", "windows.* system.security winlog*"),
    *_rules("dataset", "linux", "system.auth system.syslog"),
    *_rules("dataset", "cloudtrail", "aws.cloudtrail"),
    *_rules("dataset", "suricata", "suricata.*"),
    *_rules("dataset", "zeek", "zeek.*"),
    # Beats metadata of `_bulk` documents.
    *_rules("agent.type", "windows", "winlogbeat"),
    *_rules("winlog.channel", "windows", "*"),
    *_rules("event.module", "windows", "sysmon security powershell windows"),
    # The event's source (a file path, a Windows channel).
    *_rules("source", "windows", "*WinEventLog:* Microsoft-Windows-*"),
    *_rules("source", "linux", "*/auth.log* */secure* */syslog* */messages*"),
    *_rules("source", "suricata", "*eve.json* *eve*.json"),
    *_rules("source", "cloudtrail", "*CloudTrail*"),
    *_rules("source", "zeek", "*zeek* *bro*"),
    # Index names (HEC indexes, `_bulk` indices and data streams).
    *_rules(
        "index", "windows", "winlogbeat-* .ds-winlogbeat-* logs-windows.* logs-system.security-* wineventlog*"
    ),
    *_rules("index", "suricata", "suricata* logs-suricata.*"),
    *_rules("index", "zeek", "zeek* logs-zeek.*"),
    *_rules("index", "cloudtrail", "cloudtrail* logs-aws.cloudtrail-*"),
)


@dataclass(frozen=True, slots=True)
class Routed:
    """An event read by a destination's reader: where it goes and its producer fields."""

    source: str
    format: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Refused:
    """An event a strict route's readers refuse, or one damaged inside its format: to quarantine."""

    reason: str
    format: str


class RoutingTable:
    """Rules, destinations and readers; `route` decides for one event, from its hints and payload alone."""

    def __init__(
        self,
        rules: Iterable[RouteRule] = ROUTES,
        destinations: Iterable[Destination] = DESTINATIONS,
        formats: FormatRegistry | None = None,
    ) -> None:
        self._rules: list[RouteRule] = []
        self._destinations: dict[str, Destination] = {}
        self._readers: dict[str, PayloadReader] = {
            reader.name: reader for reader in (WindowsXmlReader(), LineReader(), ZeekReader())
        }
        self._formats = formats if formats is not None else default_registry()
        self._cache: dict[tuple[tuple[str, str], ...], tuple[RouteRule, str] | None] = {}
        for destination in destinations:
            self.add_destination(destination)
        for rule in rules:
            self.register(rule)

    def add_destination(self, destination: Destination) -> Destination:
        """Declare a destination; its readers are resolved now, so a typo fails at start-up."""
        if destination.name in self._destinations:
            raise ValueError(f"destination {destination.name!r} declared twice")
        for name in destination.readers:
            self._reader(name)
        self._destinations[destination.name] = destination
        return destination

    def register(self, rule: RouteRule) -> RouteRule:
        """Add a rule after the existing ones; its destination must be declared."""
        if rule.destination not in self._destinations:
            raise ValueError(
                f"route {rule.hint}={rule.pattern!r} names unknown destination {rule.destination!r}"
            )
        self._rules.append(rule)
        self._cache.clear()
        return rule

    def _reader(self, name: str) -> PayloadReader:
        reader = self._readers.get(name)
        if reader is None:
            fmt = self._formats.get(name)
            if not isinstance(fmt, JsonFamilyFormat):
                raise ValueError(f"format {name!r} cannot read live events (not a JSON format)")
            reader = self._readers[name] = JsonReader(fmt)
        return reader

    def choose(self, hints: Mapping[str, str | None]) -> tuple[RouteRule, str] | None:
        """The first rule that fits the hints, with the hint value it matched; None: no routing."""
        key = tuple((k, v) for k, v in hints.items() if v)
        if key in self._cache:
            return self._cache[key]
        present = dict(key)
        found: tuple[RouteRule, str] | None = None
        for rule in self._rules:
            value = present.get(rule.hint)
            if value is not None and rule.matches(value):
                found = (rule, value)
                break
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = found
        return found

    def route(self, hints: Mapping[str, str | None], payload: Payload) -> Routed | Refused | None:
        """Read the payload with its destination's first accepting reader.

        None leaves the event in its channel's source (no rule fits, or a suggestive hint whose readers
        decline or fail). A strict hint whose readers all decline, or one failing on the payload, gives
        `Refused` with the reason.
        """
        chosen = self.choose(hints)
        if chosen is None:
            return None
        rule, value = chosen
        destination = self._destinations[rule.destination]
        label = f"{rule.hint} {value!r} routes to {destination.name}"
        for name in destination.readers:
            reader = self._reader(name)
            if not reader.accepts(payload):
                continue
            try:
                source, fields = reader.read(payload, value)
            except (KeyError, TypeError, ValueError) as exc:
                if not rule.strict:
                    return None
                return Refused(f"{label}, but the event is damaged: {exc}", reader.name)
            return Routed(source, reader.name, fields)
        if not rule.strict:
            return None
        shape = payload.json_error or "the event is none of " + ", ".join(destination.readers)
        return Refused(f"{label}, but {shape}", destination.readers[0])


_DEFAULT: RoutingTable | None = None


def default_routing() -> RoutingTable:
    """The built-in tables over the default format registry, built once."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = RoutingTable()
    return _DEFAULT
