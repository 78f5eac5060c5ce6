r"""Zeek logs: the native TSV writer (with `#fields` headers) and the JSON writer.

Each log path is its own source (`conn` → `zeek_conn`), named from the `#path` header, the JSON
`_path` field, or else the file name; unknown paths go to `zeek`. Field names stay exactly as Zeek
writes them (`id.orig_h`) because Sigma rules and analysts use those names. Unset (`-`) and empty
(`(empty)`) values are left out, `\xHH` escapes are decoded, and set/vector values are kept as the
comma-joined text the TSV writer uses, so a TSV and a JSON copy of one log store the same values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from watchfloor.events import BatchBuilder, EventBatch, Quarantined, to_text
from watchfloor.ingest.formats._json import JsonFamilyFormat
from watchfloor.ingest.formats._lines import decode_head, iter_lines
from watchfloor.ingest.formats._network_mapping import ZEEK_FALLBACK_SOURCE, ZEEK_MAPPINGS, zeek_source
from watchfloor.ingest.inputs import InputFile
from watchfloor.schema import SourceMapping

__all__ = ["ZeekJsonFormat", "ZeekTsvFormat", "decode_zeek_escapes", "zeek_source_from_name"]

_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_ROTATION_SUFFIX = re.compile(r"[_-]?\d.*$")


def decode_zeek_escapes(value: str) -> str:
    r"""Zeek writes separators, backslashes and non-printable bytes as `\xHH`."""
    if "\\x" not in value:
        return value
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


def zeek_source_from_name(name: str) -> str:
    """The source a file name suggests: `conn.log`, `dns.00:00:00-01:00:00.log`, `http_20230816.log`."""
    base = re.split(r"[\\/!]", name)[-1].lower()
    stem = base.split(".", 1)[0]
    found = zeek_source(stem)
    if found == ZEEK_FALLBACK_SOURCE:
        found = zeek_source(_ROTATION_SUFFIX.sub("", stem))
    return found


@dataclass(slots=True)
class _Header:
    """What the `#` lines of one log block declare."""

    separator: str = "\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str | None = None
    fields: list[str] = field(default_factory=list)

    def apply(self, line: str) -> None:
        """Read one header line; `#separator` itself is always space-separated and escaped."""
        if line.startswith("#separator"):
            self.separator = decode_zeek_escapes(line[len("#separator") :].strip()) or "\t"
            return
        key, _, value = line[1:].partition(self.separator)
        if key == "set_separator":
            self.set_separator = decode_zeek_escapes(value)
        elif key == "empty_field":
            self.empty_field = value
        elif key == "unset_field":
            self.unset_field = value
        elif key == "path":
            self.path = value
        elif key == "fields":
            self.fields = value.split(self.separator)


class ZeekTsvFormat:
    """Zeek's default ASCII logs: `#separator`, `#fields`, `#types` headers, one record per line."""

    name: ClassVar[str] = "zeek"
    description: ClassVar[str] = "Zeek logs in the native TSV format (#fields headers)"
    mappings: ClassVar[tuple[SourceMapping, ...]] = ZEEK_MAPPINGS

    def sniff(self, head: bytes, name: str) -> int:
        """The writer's header: `#separator` first, or a `#fields` line among the first lines."""
        text = decode_head(head)
        if text.startswith("#separator "):
            return 100
        first_lines = text.split("\n", 12)[:12]
        return 90 if any(line.startswith("#fields\t") for line in first_lines) else 0

    def read(self, source: InputFile, batch_size: int) -> Iterator[EventBatch | Quarantined]:
        """Every data line; a line whose field count disagrees with `#fields` is quarantined."""
        header = _Header()
        default_source = zeek_source_from_name(source.name)
        builders: dict[str, BatchBuilder] = {}
        for number, line in iter_lines(source):
            if line.startswith("#"):
                if line.startswith("#separator"):  # a new block: concatenated or rotated logs
                    header = _Header()
                header.apply(line)
                continue
            if not header.fields:
                yield Quarantined(source.name, number, "data line before the #fields header", line, self.name)
                continue
            values = line.split(header.separator)
            if len(values) != len(header.fields):
                reason = f"{len(values)} values for {len(header.fields)} fields"
                yield Quarantined(source.name, number, reason, line, self.name)
                continue
            record = {
                key: decode_zeek_escapes(value)
                for key, value in zip(header.fields, values, strict=True)
                if value != header.unset_field and value != header.empty_field
            }
            target = zeek_source(header.path) if header.path else default_source
            builder = builders.get(target)
            if builder is None:
                builder = builders[target] = BatchBuilder(target, self.name, source.name)
            builder.add(record, line, number)
            if len(builder) >= batch_size:
                yield builder.build()
        for builder in builders.values():
            if len(builder):
                yield builder.build()


def _zeek_value(value: Any) -> Any:
    """Sets and vectors as the TSV writer joins them; other values unchanged."""
    if isinstance(value, list):
        return ",".join(v if isinstance(v, str) else (to_text(v) or "") for v in value)
    return value


class ZeekJsonFormat(JsonFamilyFormat):
    """Zeek's JSON writer (`LogAscii::use_json`): one object per line with `ts`, `uid`, `id.orig_h`."""

    name = "zeek-json"
    description = "Zeek logs written as JSON lines"
    source = ZEEK_FALLBACK_SOURCE
    mappings = ZEEK_MAPPINGS
    confidence = 90
    _MARKERS: ClassVar[tuple[str, ...]] = ("uid", "fuid", "id.orig_h", "_path", "certificate.subject")

    def __init__(self, default_source: str = ZEEK_FALLBACK_SOURCE) -> None:
        self._default_source = default_source

    def matches(self, record: Mapping[str, Any]) -> bool:
        """A `ts` beside a Zeek connection or file id, or Zeek's own `_path`."""
        return "ts" in record and any(key in record for key in self._MARKERS)

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Keys are already dotted; the source comes from `_path`, else from the file name."""
        path = record.get("_path")
        target = zeek_source(path) if isinstance(path, str) else self._default_source
        id_part = record.get("id")
        out: dict[str, Any] = {}
        if isinstance(id_part, dict):  # shippers that nest the connection tuple
            for key, value in id_part.items():
                out[f"id.{key}"] = value
        for key, value in record.items():
            if key == "id" and isinstance(value, dict):
                continue
            out[key] = _zeek_value(value)
        return target, out

    def read(self, source: InputFile, batch_size: int) -> Iterator[EventBatch | Quarantined]:
        """As for any JSON, with the file name's log path as the default source."""
        per_file = ZeekJsonFormat(zeek_source_from_name(source.name))
        yield from JsonFamilyFormat.read(per_file, source, batch_size)
