"""The JSON family: one reader for line-delimited JSON and whole JSON documents.

Many producers write JSON (Windows shippers, CloudTrail, Okta, Entra ID, Zeek, Suricata); they differ
only in how their records look. A format of this family declares how to recognise one record
(`matches`) and how to turn it into producer fields (`convert`); the reader handles framing: one record
per line, a top-level array, or an envelope such as CloudTrail's `Records` or Graph's `value`.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from watchfloor.events import BatchBuilder, EventBatch, Quarantined, flatten, to_text
from watchfloor.ingest.formats._lines import (
    decode_head,
    iter_block_lines,
    iter_blocks,
    iter_lines,
    read_text,
)
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


#: Bytes of JSON lines parsed at once by Arrow; a failing block is halved down to `_MIN_SPLIT`.
BLOCK_SIZE = 8 << 20
_MIN_SPLIT = 64 << 10
#: Doubles at or above this may be integers Arrow rounded; their block takes the row path.
_MAX_EXACT = 2.0**53
#: Arrow's JSON reader parses at least this much at once; a whole block is one parse when it fits.
_MIN_READ_BLOCK = 1 << 20
#: Arrow's block size is a 32-bit count of bytes.
_MAX_READ_BLOCK = (1 << 31) - 1
#: Blocks parsed at once (Arrow releases the GIL): one per core, at most four.
PARSE_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True, slots=True)
class _Scanned:
    """One block as a worker thread read it, without touching the parser's state."""

    raw: pa.Array
    offsets: pa.Array  # 0-based line index of each record within the block
    newlines: int
    table: pa.Table
    declared: tuple[str, ...]  # fields read as text, the ones declared up front first
    typed: frozenset[str]  # integer and boolean fields declared up front (not inferred) in this parse
    inferred: tuple[str, ...]  # fields in the order Arrow met them


#: Fields declared to Arrow before a parse, with their types, in the order the records hold them.
Declared = tuple[tuple[str, pa.DataType], ...]


_INDICES: list[pa.Array] = [pa.array([], pa.int64())]


def _indices(n: int) -> pa.Array:
    """0, 1, ... n-1 as a slice of one cached array, instead of a Python range converted per block."""
    indices = _INDICES[0]  # read once: another thread may replace it meanwhile, never shrinking ours
    if len(indices) < n:
        indices = pa.array(range(max(n, 2 * len(indices))), pa.int64())
        _INDICES[0] = indices
    return indices.slice(0, n)


def _as_binary(block: bytes) -> pa.Array:
    """The block as a one-value binary array over the same memory (`pa.array` would copy it)."""
    if len(block) >= 1 << 31:  # beyond 32-bit offsets: the copying form raises as it always did
        return pa.array([block], pa.binary())
    offsets = pa.array([0, len(block)], pa.int32()).buffers()[1]
    return pa.Array.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(block)])


def _all_braced(lines: pa.Array) -> bool:
    return bool(pc.all(pc.starts_with(lines, "{")).as_py() and pc.all(pc.ends_with(lines, "}")).as_py())


def _scan(block: bytes, declared: Declared) -> _Scanned | None:
    """Split a block into its record lines and parse it with Arrow; None where the row path must go.

    Pure (safe in a worker thread): what it learns about text fields is returned, not stored.
    """
    crlf = b"\r" in block
    if crlf and block.count(b"\r") != block.count(b"\r\n"):
        return None
    try:
        text = pc.cast(_as_binary(block), pa.string())
    except pa.ArrowInvalid:  # invalid UTF-8: the row path replaces it, as it always did
        return None
    lines = pc.list_flatten(pc.split_pattern(text, pattern="\n"))
    newlines = len(lines) - 1
    if crlf:
        lines = pc.utf8_rtrim(lines, characters="\r")
    raw = lines.slice(0, newlines) if block.endswith(b"\n") else lines
    if _all_braced(raw):
        offsets = _indices(len(raw))  # no blank line: every line is a record
    else:  # blank lines, or whitespace around records: keep exactly what `iter_lines` keeps
        trimmed = pc.utf8_trim(lines, characters=" \t\r")
        keep = pc.greater(pc.binary_length(trimmed), 0)
        if not _all_braced(pc.filter(trimmed, keep)):
            return None
        raw = pc.filter(lines, keep)
        offsets = pc.cast(pc.indices_nonzero(keep), pa.int64())
    if len(raw) == 0:
        return None
    # The whole block in one parse: every column comes out as one chunk, which the OCSF core and the
    # Parquet writer then use as it is instead of concatenating eight 1 MiB chunks per column.
    read_options = pj.ReadOptions(
        use_threads=False, block_size=min(max(len(block) + 1, _MIN_READ_BLOCK), _MAX_READ_BLOCK)
    )
    scanned = _parse(block, read_options, raw, offsets, newlines, declared)
    if scanned is None and any(not pa.types.is_string(kind) for _, kind in declared):
        # A field known as an integer or boolean holds another kind of value here (a string, a
        # double): read the block as before, with only the text fields declared.
        text_only = tuple((name, kind) for name, kind in declared if pa.types.is_string(kind))
        scanned = _parse(block, read_options, raw, offsets, newlines, text_only)
    return scanned


def _parse(
    block: bytes,
    read_options: pj.ReadOptions,
    raw: pa.Array,
    offsets: pa.Array,
    newlines: int,
    declared: Declared,
) -> _Scanned | None:
    """One block through Arrow's JSON reader with `declared` fields, plus the fields it infers.

    Declaring every known field, in the order the records hold them, spares Arrow both the type
    inference of integers and booleans and a hash lookup per key (about 15% of its parse time).
    """
    kinds = dict(declared)
    typed = frozenset(name for name, kind in declared if not pa.types.is_string(kind))
    inferred: dict[str, None] = {}
    for _ in range(3):
        options = pj.ParseOptions(
            explicit_schema=pa.schema(list(kinds.items())), unexpected_field_behavior="infer"
        )
        try:
            # A buffer reader, not BytesIO: Arrow reads it without copying and without the GIL.
            table = pj.read_json(pa.BufferReader(block), read_options=read_options, parse_options=options)
        except (pa.ArrowInvalid, UnicodeError):
            return None
        inferred.update((name, None) for name in table.column_names if name not in kinds)
        temporal = [f.name for f in table.schema if pa.types.is_temporal(f.type)]
        kinds.update((f.name, pa.string()) for f in table.schema if pa.types.is_string(f.type))
        kinds.update((name, pa.string()) for name in temporal)
        if not temporal:
            if table.num_rows != len(raw):
                return None
            strings = tuple(name for name, kind in kinds.items() if pa.types.is_string(kind))
            return _Scanned(raw, offsets, newlines, table, strings, typed, tuple(inferred))
    return None


class _BlockParser:
    """Turns scanned blocks into text columns, or answers None for the row path.

    The row path (`orjson`, `flatten`, `to_text`) is the reference, so only what is certain to come out
    the same is taken: every non-blank line holds exactly one object (it starts with `{`, ends with `}`
    and Arrow counts one row per such line), and every value is a string, an integer, a boolean, a
    null, or a finite double below 2**53 (so no integer was rounded). Nested objects, lists, duplicate
    keys, damage, lone carriage returns and invalid UTF-8 all send the block to the row path, which
    quarantines exactly as before. Fields once seen as text are declared as text from then on, because
    Arrow would otherwise turn date-like strings into timestamps. Blocks are scanned in worker threads;
    what they learn is merged here in block order, so the result never depends on thread timing.
    """

    def __init__(self) -> None:
        self._strings: dict[str, None] = {}
        self._typed: dict[str, pa.DataType] = {}  # integer and boolean fields, never text so far
        self._order: dict[str, None] = {}

    def declared(self) -> Declared:
        """Fields known so far (text, integers, booleans), in the order the records hold them."""
        kinds: dict[str, pa.DataType] = dict.fromkeys(self._strings, pa.string())
        kinds.update((name, kind) for name, kind in self._typed.items() if name not in kinds)
        order = [name for name in self._order if name in kinds]
        order += [name for name in kinds if name not in self._order]
        return tuple((name, kinds[name]) for name in order)

    def finish(self, first: int, scanned: _Scanned) -> tuple[pa.Table, pa.Array, pa.Array] | None:
        """(text fields, raw lines, line numbers) of a scanned block starting at line `first`."""
        self._strings.update(dict.fromkeys(scanned.declared))
        self._order.update(dict.fromkeys(scanned.inferred))
        for name, kind in zip(scanned.table.column_names, scanned.table.schema.types, strict=True):
            if name in self._strings or not (pa.types.is_int64(kind) or pa.types.is_boolean(kind)):
                if not pa.types.is_null(kind):  # seen as text or a double: declared as it is no longer
                    self._typed.pop(name, None)
            else:
                self._typed[name] = kind
        fields = self._texts(scanned.table, scanned.typed)
        if fields is None:
            return None
        return fields, scanned.raw, pc.add(scanned.offsets, first)

    def _texts(self, table: pa.Table, typed: frozenset[str]) -> pa.Table | None:
        """Every column as text, rendered as `to_text` renders it, in first-appearance order."""
        columns: dict[str, pa.ChunkedArray | pa.Array] = {}
        for name, column in zip(table.column_names, table.columns, strict=True):
            kind = column.type
            if pa.types.is_string(kind):
                if column.null_count == len(column) and name in self._strings:
                    continue  # declared but absent from this block
                columns[name] = column
            elif pa.types.is_null(kind):
                columns[name] = pa.nulls(len(column), pa.string())
            elif pa.types.is_boolean(kind) or pa.types.is_int64(kind):
                if column.null_count == len(column) and name in typed:
                    continue  # declared but absent from this block, as for text fields
                columns[name] = pc.cast(column, pa.string())
            elif pa.types.is_float64(kind):
                exact = pc.and_(pc.is_finite(column), pc.less(pc.abs(column), _MAX_EXACT))
                if not pc.all(exact).as_py():
                    return None
                columns[name] = pa.array([to_text(v) for v in column.to_pylist()], pa.string())
            else:
                return None
        order = [name for name in self._order if name in columns]
        order += [name for name in columns if name not in self._order]
        return pa.table({name: columns[name] for name in order})


@dataclass(slots=True)
class _Pending:
    """Rows of one input waiting to fill batches of exactly `batch_size`, per target source."""

    format: str
    path: str
    batch_size: int
    _parts: dict[str, list[tuple[pa.Table, pa.Array, pa.Array]]] = field(default_factory=dict)
    _rows: dict[str, int] = field(default_factory=dict)

    def add(self, target: str, fields: pa.Table, raw: pa.Array, positions: pa.Array) -> Iterator[EventBatch]:
        """Queue rows; yield every batch that is now full.

        A whole block with nothing queued before it goes out as it is: concatenating blocks would
        copy every raw line once more, and the pipeline writes consecutive batches together anyway.
        """
        if not self._rows.get(target) and 0 < fields.num_rows <= self.batch_size:
            yield EventBatch(target, self.format, self.path, fields, raw, positions)
            return
        self._parts.setdefault(target, []).append((fields, raw, positions))
        self._rows[target] = self._rows.get(target, 0) + fields.num_rows
        while self._rows[target] >= self.batch_size:
            yield self._take(target, self.batch_size)

    def add_batch(self, batch: EventBatch) -> Iterator[EventBatch]:
        """Queue a batch the row path built."""
        yield from self.add(batch.source, batch.fields, batch.raw, batch.positions)

    def flush(self) -> Iterator[EventBatch]:
        """The remaining rows of every target."""
        for target, rows in self._rows.items():
            if rows:
                yield self._take(target, rows)

    def _take(self, target: str, count: int) -> EventBatch:
        parts = self._parts[target]
        fields = pa.concat_tables([p[0] for p in parts], promote_options="default")
        raw = pa.concat_arrays([p[1] for p in parts])
        positions = pa.concat_arrays([p[2] for p in parts])
        rest = fields.num_rows - count
        self._parts[target] = (
            [(fields.slice(count), raw.slice(count), positions.slice(count))] if rest else []
        )
        self._rows[target] = rest
        return EventBatch(
            source=target,
            format=self.format,
            path=self.path,
            fields=fields.slice(0, count),
            raw=raw.slice(0, count),
            positions=positions.slice(0, count),
        )


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

    def convert_table(self, table: pa.Table) -> tuple[str, pa.Table] | None:
        """Columnar twin of `convert` for a block of flat records whose columns are all text.

        None means "no columnar form": the block is read row by row through `convert`. The default
        answers only for formats that keep `convert` as inherited, so a subclass that overrides
        `convert` alone keeps exactly its row-by-row results.
        """
        if type(self).convert is JsonFamilyFormat.convert:
            return self.source, table
        return None

    def _columnar(self) -> bool:
        cls = type(self)
        return (
            cls.convert is JsonFamilyFormat.convert or cls.convert_table is not JsonFamilyFormat.convert_table
        )

    def _read_lines(self, source: InputFile, batch_size: int) -> Iterator[EventBatch | Quarantined]:
        if not self._columnar() or source.head.startswith((b"\xff\xfe", b"\xfe\xff")):
            yield from self._read_rows(source, iter_lines(source), batch_size)
            return
        parser = _BlockParser()
        pending = _Pending(self.name, source.name, batch_size)
        first = 1
        ahead: deque[tuple[bytes, Future[_Scanned | None]]] = deque()
        with ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix="watchfloor-json") as pool:
            for block in iter_blocks(source, BLOCK_SIZE):
                ahead.append((block, pool.submit(_scan, block, parser.declared())))
                # The first block alone until it is done: it declares the text fields, which spares
                # the next blocks the repeated reads that discovering them costs.
                if len(ahead) > (PARSE_THREADS if first > 1 else 0):
                    done, job = ahead.popleft()
                    first += yield from self._read_block(parser, pending, source, first, done, job.result())
            while ahead:
                done, job = ahead.popleft()
                first += yield from self._read_block(parser, pending, source, first, done, job.result())
        yield from pending.flush()

    def _read_block(
        self,
        parser: _BlockParser,
        pending: _Pending,
        source: InputFile,
        first: int,
        block: bytes,
        scanned: _Scanned | None,
    ) -> Generator[EventBatch | Quarantined, None, int]:
        """Columnar when the block allows it; else halves, down to line by line for the damaged part.

        Returns the number of newlines in the block, so the caller knows the next line's number.
        """
        parsed = None if scanned is None else parser.finish(first, scanned)
        converted = None if parsed is None else self.convert_table(parsed[0])
        if parsed is not None and converted is not None and scanned is not None:
            yield from pending.add(converted[0], converted[1], parsed[1], parsed[2])
            return scanned.newlines
        middle = block.find(b"\n", len(block) // 2) + 1
        if len(block) > _MIN_SPLIT and 0 < middle < len(block):
            head, tail = block[:middle], block[middle:]
            done = yield from self._read_block(
                parser, pending, source, first, head, _scan(head, parser.declared())
            )
            rest = yield from self._read_block(
                parser, pending, source, first + done, tail, _scan(tail, parser.declared())
            )
            return done + rest
        for item in self._read_rows(source, iter_block_lines(first, block), pending.batch_size):
            if isinstance(item, EventBatch):
                yield from pending.add_batch(item)
            else:
                yield item
        return block.count(b"\n")

    def _read_rows(
        self, source: InputFile, lines: Iterator[tuple[int, str]], batch_size: int
    ) -> Iterator[EventBatch | Quarantined]:
        """The row path: every line through `orjson` and `convert`; the reference for the fast path."""
        builders: dict[str, BatchBuilder] = {}
        loads = orjson.loads
        for number, line in lines:
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
