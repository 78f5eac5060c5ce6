"""One reader for every line-oriented Linux and appliance format: each line goes to its own source.

A syslog file rarely holds one kind of message: auth.log mixes sshd and sudo, a collector's file mixes
plain messages with CEF from a firewall and Sysmon XML from a Linux host. So the text formats share one
router: a line that is a bare CEF/LEEF record, audit record or Sysmon `<Event>` is parsed as that; any
other line must be syslog, and a syslog message that is CEF/LEEF/audit/Sysmon is parsed as that too,
with the syslog header kept as `syslog.*` fields. The formats registered on top (`syslog`, `cef`,
`leef`, `auditd`, `sysmon-linux`) differ only in what they claim when sniffing a file.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from watchfloor.events import BatchBuilder, EventBatch, Quarantined, flatten
from watchfloor.ingest.formats._audit_parse import AUDIT_MAPPING, find_audit, parse_audit
from watchfloor.ingest.formats._cef import CEF_MAPPING, find_cef, parse_cef
from watchfloor.ingest.formats._leef import LEEF_MAPPING, find_leef, parse_leef
from watchfloor.ingest.formats._lines import decode_head, iter_lines
from watchfloor.ingest.formats._syslog_parse import SYSLOG_MAPPING, parse_syslog
from watchfloor.ingest.formats._sysmon_xml import SYSMON_LINUX_MAPPING, find_sysmon_xml, parse_sysmon_xml
from watchfloor.ingest.inputs import InputFile
from watchfloor.schema import SourceMapping

__all__ = [
    "LINE_MAPPINGS",
    "LineFormat",
    "Parsed",
    "parse_message",
    "route_line",
    "sample_sources",
    "sentinel_row_fields",
]

Fields = dict[str, str | None]
Parsed = tuple[str, Fields]

#: Every source a line may land in.
LINE_MAPPINGS: tuple[SourceMapping, ...] = (
    SYSLOG_MAPPING,
    CEF_MAPPING,
    LEEF_MAPPING,
    AUDIT_MAPPING,
    SYSMON_LINUX_MAPPING,
)


def _cef(text: str) -> Parsed | None:
    start = find_cef(text)
    return ("cef", parse_cef(text[start:])) if start >= 0 else None


def _leef(text: str) -> Parsed | None:
    start = find_leef(text)
    return ("leef", parse_leef(text[start:])) if start >= 0 else None


def _sysmon(text: str) -> Parsed | None:
    start = find_sysmon_xml(text)
    return ("sysmon_linux", parse_sysmon_xml(text[start:])) if start >= 0 else None


def _audit(text: str) -> Parsed | None:
    return ("auditd", parse_audit(text)) if find_audit(text) else None


#: Message kinds recognised inside (or instead of) a syslog message, tried in order.
_EMBEDDED: tuple[Callable[[str], Parsed | None], ...] = (_cef, _leef, _sysmon, _audit)


#: Records that may stand alone on a line, without a syslog header, by how they start; a line that
#: starts like one of them and does not parse gets that parser's reason.
_BARE: tuple[tuple[str, Callable[[str], Parsed]], ...] = (
    ("CEF:", lambda text: ("cef", parse_cef(text))),
    ("LEEF:", lambda text: ("leef", parse_leef(text))),
    ("<Event", lambda text: ("sysmon_linux", parse_sysmon_xml(text))),
    ("type=", lambda text: ("auditd", parse_audit(text))),
    ("node=", lambda text: ("auditd", parse_audit(text))),
)


def parse_message(text: str) -> Parsed | None:
    """A CEF, LEEF, Sysmon XML or audit record as (source, fields); None if it is none of them.

    Raises `ValueError` when the text announces one of them but is damaged.
    """
    for parser in _EMBEDDED:
        parsed = parser(text)
        if parsed is not None:
            return parsed
    return None


def route_line(line: str, now: dt.datetime | None = None) -> Parsed:
    """The source and producer fields of one line; `ValueError` with the reason for a bad line."""
    text = line.strip().removeprefix("\ufeff")
    for prefix, parser in _BARE:
        if text.startswith(prefix):
            return parser(text)
    header = parse_syslog(text, now)
    message = header.get("message")
    inner = parse_message(message) if message else None
    if inner is None:
        return "syslog", header
    source, fields = inner
    for key, value in header.items():
        if key != "message":
            fields[f"syslog.{key}"] = value
    return source, fields


@functools.lru_cache(maxsize=4)  # every line format sniffs the same head in turn
def sample_sources(head: bytes, limit: int = 50) -> tuple[str | None, ...]:
    """The source each of the first lines of a head routes to (None for a line that does not parse)."""
    found: list[str | None] = []
    for line in decode_head(head).splitlines():
        if not line.strip():
            continue
        try:
            found.append(route_line(line)[0])
        except ValueError:
            found.append(None)
        if len(found) >= limit:
            break
    return tuple(found)


class LineFormat:
    """Base of the line formats: sniffing by the share of head lines routed to `claims`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    mappings: ClassVar[tuple[SourceMapping, ...]] = LINE_MAPPINGS
    #: Sources whose lines this format claims, and how sure a head of only those lines makes it.
    claims: ClassVar[frozenset[str]] = frozenset()
    confidence: ClassVar[int] = 90

    def sniff(self, head: bytes, name: str) -> int:
        """`confidence` scaled by the share of parsable head lines that are this format's own."""
        sources = sample_sources(head)
        parsed = [s for s in sources if s is not None]
        if not parsed or len(parsed) * 2 < len(sources):
            return 0
        own = sum(1 for s in parsed if s in self.claims)
        return (self.confidence * own) // len(parsed) if own * 2 > len(parsed) else 0

    def read(self, source: InputFile, batch_size: int) -> Iterator[EventBatch | Quarantined]:
        """Every line routed to its source; a line that parses as nothing is quarantined."""
        builders: dict[str, BatchBuilder] = {}
        now = dt.datetime.now(dt.UTC)
        for number, line in iter_lines(source):
            try:
                target, fields = route_line(line, now)
            except ValueError as exc:
                yield Quarantined(source.name, number, str(exc), line, self.name)
                continue
            builder = builders.get(target)
            if builder is None:
                builder = builders[target] = BatchBuilder(target, self.name, source.name)
            builder.add(fields, line, number)
            if len(builder) >= batch_size:
                yield builder.build()
        for builder in builders.values():
            if len(builder):
                yield builder.build()


def sentinel_row_fields(record: dict[str, Any], parsed: Fields) -> dict[str, Any]:
    """A Log Analytics `Syslog` row: parsed `SyslogMessage` fields, then the other columns.

    A column whose name the parsed fields already use (ignoring case) is kept as `table.<name>`.
    """
    out: dict[str, Any] = dict(parsed)
    taken = {k.lower() for k in out}  # SQL names are case-insensitive: `Type` would clash with `type`
    for key, value in flatten(record).items():
        if key != "SyslogMessage":
            out[f"table.{key}" if key.lower() in taken else key] = value
    return out
