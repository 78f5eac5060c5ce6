"""Readers of live payloads: each turns one event into producer fields as a file format does.

A `Payload` is an event's content as the shipper sent it. Readers wrap the file formats' own
converters (`JsonFamilyFormat.convert`, the syslog line router, the `.evtx` flattening through
`windows_xml`), so the fields an event gets never depend on how it arrived.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from watchfloor.ingest.formats._json import JsonFamilyFormat
from watchfloor.ingest.formats.syslog import route_line
from watchfloor.ingest.formats.zeek import ZeekJsonFormat, zeek_source_from_name
from watchfloor.ingest.routing.windows_xml import is_windows_xml, windows_xml_fields

__all__ = ["JsonReader", "LineReader", "Payload", "PayloadReader", "WindowsXmlReader", "ZeekReader"]


@dataclass(frozen=True, slots=True)
class Payload:
    """One event's content as a shipper sent it: its text, and the JSON object it holds, if any."""

    text: str
    doc: dict[str, Any] | None = None
    json_error: str | None = None

    @classmethod
    def of_text(cls, text: str) -> Payload:
        """A text payload; one that looks like a JSON object is parsed (and its damage noted)."""
        stripped = text.strip()
        if not stripped.startswith("{"):
            return cls(text)
        try:
            doc = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            return cls(text, None, f"invalid JSON: {exc}")
        return cls(text, doc if isinstance(doc, dict) else None)

    @classmethod
    def of_doc(cls, doc: dict[str, Any], text: str | None = None) -> Payload:
        """A JSON-object payload; `text` is its raw form as received (re-serialised when not given)."""
        return cls(orjson.dumps(doc).decode("utf-8") if text is None else text, doc)


class PayloadReader(Protocol):
    """Turns one payload into (source, producer fields), exactly as the file format of that name does."""

    @property
    def name(self) -> str:
        """The format name events read by it carry (`metadata_log_format`)."""
        ...

    def accepts(self, payload: Payload) -> bool:
        """Whether the payload has this reader's shape (XML `<Event>`, a CloudTrail record...)."""
        ...

    def read(self, payload: Payload, hint: str) -> tuple[str, dict[str, Any]]:
        """Source and fields; `ValueError`/`KeyError`/`TypeError` for a payload damaged inside its shape.

        `hint` is the value that chose the route (`zeek:dns:json`), for readers it refines.
        """
        ...


@dataclass(frozen=True, slots=True)
class WindowsXmlReader:
    """Windows events as XML (`XmlWinEventLog`), flattened as .evtx files are."""

    name: str = "windows-xml"

    def accepts(self, payload: Payload) -> bool:
        """Text that starts as an `<Event>` element."""
        return is_windows_xml(payload.text)

    def read(self, payload: Payload, hint: str) -> tuple[str, dict[str, Any]]:
        """The `.evtx` flattening of the XML."""
        return "windows", windows_xml_fields(payload.text)


@dataclass(frozen=True, slots=True)
class LineReader:
    """Syslog and auth.log lines (and CEF, LEEF, audit, Sysmon XML in them), routed as file lines are."""

    name: str = "syslog"

    def accepts(self, payload: Payload) -> bool:
        """Any non-blank text that is not a JSON object."""
        return payload.doc is None and bool(payload.text.strip())

    def read(self, payload: Payload, hint: str) -> tuple[str, dict[str, Any]]:
        """The line router of syslog files; a line that is no syslog raises `ValueError`."""
        source, fields = route_line(payload.text)
        return source, dict(fields)


@dataclass(frozen=True, slots=True)
class JsonReader:
    """A JSON family file format: its `matches` and `convert`."""

    fmt: JsonFamilyFormat

    @property
    def name(self) -> str:
        """The format's own name."""
        return self.fmt.name

    def accepts(self, payload: Payload) -> bool:
        """A JSON object the format recognises."""
        return payload.doc is not None and self.fmt.matches(payload.doc)

    def read(self, payload: Payload, hint: str) -> tuple[str, dict[str, Any]]:
        """The format's `convert` (on a copy: converters may change the record)."""
        assert payload.doc is not None  # accepts() said so
        return self.fmt.convert(dict(payload.doc))


_ZEEK_LOG = re.compile(r"(?:zeek|bro)[:_.-]([a-z0-9_]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ZeekReader:
    """Zeek JSON; a record without `_path` takes its log from the hint (`zeek:dns:json` → `zeek_dns`)."""

    name: str = "zeek-json"
    fmt: ZeekJsonFormat = field(default_factory=ZeekJsonFormat)

    def accepts(self, payload: Payload) -> bool:
        """A Zeek JSON record."""
        return payload.doc is not None and self.fmt.matches(payload.doc)

    def read(self, payload: Payload, hint: str) -> tuple[str, dict[str, Any]]:
        """As the format converts it, with the log named by the hint as the default source."""
        assert payload.doc is not None
        found = _ZEEK_LOG.search(hint)
        fmt = ZeekJsonFormat(zeek_source_from_name(f"{found.group(1)}.log")) if found else self.fmt
        return fmt.convert(dict(payload.doc))
