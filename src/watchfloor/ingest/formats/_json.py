"""The JSON family: one reader for line-delimited JSON and whole JSON documents.

Many producers write JSON (Windows shippers, CloudTrail, Okta, Entra ID, Zeek, Suricata); they differ
only in how their records look. A format of this family declares how to recognise one record
(`matches`) and how to turn it into producer fields (`convert`); the reader handles framing: one record
per line, a top-level array, or an envelope such as CloudTrail's `Records` or Graph's `value`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import orjson

from watchfloor.events import BatchBuilder, EventBatch, Quarantined, flatten
from watchfloor.ingest.formats._lines import decode_head, iter_lines, read_text
from watchfloor.ingest.inputs import InputFile
from watchfloor.schema import SourceMapping

__all__ = ["JsonFamilyFormat", "sample_records"]

ENVELOPE_KEYS = ("Records", "value", "records", "events", "data")


def _unwrap(doc: Any) -> list[Any] | None:
    """The records inside a whole JSON document, or None if it is a single record."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for key in ENVELOPE_KEYS:
            inner = doc.get(key)
            if isinstance(inner, list) and (not inner or isinstance(inner[0], dict)) and len(doc) <= 4:
                return inner
    return None


def sample_records(head: bytes, limit: int = 5) -> list[dict[str, Any]]:
    """Up to `limit` records from the head: parsed lines, or the start of a document's array."""
    text = decode_head(head).lstrip()
    if not text or text[0] not in "[{":
        return []
    records: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            break
        if isinstance(doc, dict):
            unwrapped = _unwrap(doc)
            records.extend(unwrapped if unwrapped is not None else [doc])
        if len(records) >= limit:
            return [r for r in records[:limit] if isinstance(r, dict)]
    if records:
        return [r for r in records if isinstance(r, dict)]
    try:  # a whole document that fits in the head
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _records_from_truncated_document(text, limit)
    unwrapped = _unwrap(doc)
    found = unwrapped if unwrapped is not None else [doc]
    return [r for r in found[:limit] if isinstance(r, dict)]


def _records_from_truncated_document(text: str, limit: int) -> list[dict[str, Any]]:
    """Parse the first complete objects of a large pretty-printed array that the head cuts off."""
    start = text.find("{", 1 if text.startswith("[") else 0)
    if start < 0:
        return []
    records: list[dict[str, Any]] = []
    depth, in_string, escaped, begin = 0, False, False, start
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            if depth == 0:
                begin = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                try:
                    doc = orjson.loads(text[begin : i + 1])
                except orjson.JSONDecodeError:
                    return records
                if isinstance(doc, dict):
                    records.append(doc)
                if len(records) >= limit:
                    break
    return records


def _concatenated(text: str) -> tuple[list[Any], tuple[int, str] | None]:
    """Documents written back to back; stops at the first damage and reports its character offset."""
    decoder = json.JSONDecoder()
    documents: list[Any] = []
    index, end = 0, len(text)
    while True:
        while index < end and text[index] in " \t\r\n,":
            index += 1
        if index >= end:
            return documents, None
        try:
            doc, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            return documents, (exc.pos, f"invalid JSON at character {exc.pos}: {exc.msg}")
        documents.append(doc)


class JsonFamilyFormat:
    """Base of JSON formats. Subclasses set `name`, `description`, `source` and override `matches`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    source: ClassVar[str] = ""
    #: How the sources this format writes fill the OCSF core.
    mappings: ClassVar[tuple[SourceMapping, ...]] = ()
    #: How sure a full match makes us; generic JSON lines sits below every specific format.
    confidence: ClassVar[int] = 80

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether one record looks like this format."""
        raise NotImplementedError

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The source name and flat producer fields of one record."""
        return self.source, flatten(record)

    def sniff(self, head: bytes, name: str) -> int:
        """Share of sampled records that match, scaled by `confidence`."""
        records = sample_records(head)
        if not records:
            return 0
        hits = sum(1 for r in records if self.matches(r))
        return (self.confidence * hits) // len(records) if hits * 2 > len(records) else 0

    def read(self, source: InputFile, batch_size: int) -> Iterator[EventBatch | Quarantined]:
        """Line-delimited when the first record sits on one line, a whole document otherwise."""
        first = decode_head(source.head).lstrip()
        first_line = first.split("\n", 1)[0].strip()
        try:
            line_mode = (
                isinstance(orjson.loads(first_line), dict) and _unwrap(orjson.loads(first_line)) is None
            )
        except orjson.JSONDecodeError:
            line_mode = False
        if line_mode:
            yield from self._read_lines(source, batch_size)
        else:
            yield from self._read_document(source, batch_size)

    def _emit(
        self,
        builders: dict[str, BatchBuilder],
        source: InputFile,
        record: Any,
        raw: str,
        position: int,
        batch_size: int,
    ) -> Iterator[EventBatch | Quarantined]:
        if not isinstance(record, dict):
            yield Quarantined(source.name, position, "not a JSON object", raw, self.name)
            return
        try:
            target, fields = self.convert(record)
        except (KeyError, TypeError, ValueError) as exc:
            yield Quarantined(source.name, position, f"unexpected record shape: {exc}", raw, self.name)
            return
        builder = builders.get(target)
        if builder is None:
            builder = builders[target] = BatchBuilder(target, self.name, source.name)
        builder.add(fields, raw, position)
        if len(builder) >= batch_size:
            yield builder.build()

    def _read_lines(self, source: InputFile, batch_size: int) -> Iterator[EventBatch | Quarantined]:
        builders: dict[str, BatchBuilder] = {}
        loads = orjson.loads
        for number, line in iter_lines(source):
            try:
                record = loads(line)
            except orjson.JSONDecodeError as exc:
                yield Quarantined(source.name, number, f"invalid JSON: {exc}", line, self.name)
                continue
            yield from self._emit(builders, source, record, line, number, batch_size)
        for builder in builders.values():
            if len(builder):
                yield builder.build()

    def _read_document(self, source: InputFile, batch_size: int) -> Iterator[EventBatch | Quarantined]:
        text = read_text(source)
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            # Several documents one after another (pretty-printed records), or damage inside.
            documents, damage = _concatenated(text)
            records = [r for d in documents for r in (_unwrap(d) or [d])]
            if damage is not None:
                offset, reason = damage
                yield Quarantined(source.name, offset, reason, text[offset : offset + 65536], self.name)
        else:
            unwrapped = _unwrap(doc)
            records = [doc] if unwrapped is None else unwrapped
        builders: dict[str, BatchBuilder] = {}
        dumps = orjson.dumps
        for index, record in enumerate(records, start=1):
            raw = dumps(record).decode("utf-8")
            yield from self._emit(builders, source, record, raw, index, batch_size)
        for builder in builders.values():
            if len(builder):
                yield builder.build()
