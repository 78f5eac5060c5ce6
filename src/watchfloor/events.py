"""Domain values that cross layers: a batch of parsed events and a quarantined record.

Events travel in columnar batches (Apache Arrow) rather than as one dict each: parsing, normalising and
storing then work a column at a time, which is what lets ingestion keep pace with the store's own
readers. Producer fields keep their names and are stored as text, so that one source's files can always
be read together whatever types individual producers used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

__all__ = [
    "Acknowledger",
    "BatchBuilder",
    "Envelope",
    "EventBatch",
    "EventSink",
    "Quarantined",
    "flatten",
    "to_text",
]


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record that could not be parsed: kept with its origin and reason, never dropped."""

    path: str
    position: int
    reason: str
    raw: str
    format: str | None = None


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Parsed events of one source from one input.

    `fields` holds the producer fields (every column text, names as the producer wrote them, nested
    objects flattened with dots); `raw` the original text of each event; `positions` the line or record
    number each came from in `path`.
    """

    source: str
    format: str
    path: str
    fields: pa.Table
    raw: pa.Array
    positions: pa.Array

    def __post_init__(self) -> None:
        n = self.fields.num_rows
        if len(self.raw) != n or len(self.positions) != n:
            raise ValueError(f"batch of {self.source}: {n} rows but {len(self.raw)} raw texts")

    @property
    def num_rows(self) -> int:
        """Number of events in the batch."""
        return int(self.fields.num_rows)


def to_text(value: Any) -> str | None:
    """Producer values are stored as text: scalars as written, lists and objects as compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):  # 4688.0 is written "4688", as the producer most likely meant
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def flatten(doc: Mapping[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Flatten nested objects with dotted keys (`userIdentity.arn`), the way Sigma rules name fields."""
    result: dict[str, Any] = {} if out is None else out
    for key, value in doc.items():
        name = key if not prefix and type(key) is str else f"{prefix}{key}"
        kind = type(value)
        # Plain dicts and scalars are told apart without the (slow) abstract Mapping check.
        if (kind is dict or (kind is not str and value is not None and isinstance(value, Mapping))) and value:
            flatten(value, f"{name}.", result)
        else:
            result[name] = value
    return result


@dataclass(slots=True)
class BatchBuilder:
    """Collects flat records column by column and turns them into an `EventBatch`."""

    source: str
    format: str
    path: str
    _columns: dict[str, list[str | None]] = field(default_factory=dict)
    _raw: list[str] = field(default_factory=list)
    _positions: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._raw)

    def add(self, record: Mapping[str, Any], raw: str, position: int) -> None:
        """Add one flat record (values are converted to text)."""
        n = len(self._raw)
        columns = self._columns
        for key, value in record.items():
            if value is not None and type(value) is not str:
                value = to_text(value)
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * n
                column.append(value)
                continue
            size = len(column)
            if size < n:  # columns absent from the last rows are padded when next used, or in build
                column.extend([None] * (n - size))
            elif size > n:  # duplicate key in one record: the last value wins
                column.pop()
            column.append(value)
        self._raw.append(raw)
        self._positions.append(position)

    def extend(self, records: Iterable[tuple[Mapping[str, Any], str, int]]) -> None:
        """Add many `(record, raw, position)` triples."""
        for record, raw, position in records:
            self.add(record, raw, position)

    def build(self) -> EventBatch:
        """Freeze the collected rows into a batch and start empty again."""
        n = len(self._raw)
        for column in self._columns.values():
            if len(column) < n:
                column.extend([None] * (n - len(column)))
        table = pa.table({k: pa.array(v, type=pa.string()) for k, v in self._columns.items()})
        if not self._columns:
            table = pa.table({"__empty__": pa.nulls(len(self._raw), pa.string())}).drop(["__empty__"])
        batch = EventBatch(
            source=self.source,
            format=self.format,
            path=self.path,
            fields=table,
            raw=pa.array(self._raw, type=pa.string()),
            positions=pa.array(self._positions, type=pa.int64()),
        )
        self._columns = {}
        self._raw = []
        self._positions = []
        return batch


class EventSink(Protocol):
    """Where normalised events go: the event store, or a fake in tests. One method, one contract."""

    def append(self, table: pa.Table) -> int:
        """Store a table of producer columns plus the `ocsf` core; return how many rows were stored."""
        ...


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event as a live listener received it, before parsing: what the spool keeps durably.

    `channel` names the listener (`syslog`, `hec`, `bulk`, `otlp`); `body` is the event's text as it
    arrived (a syslog message, one JSON document); `meta` carries what the protocol said about it
    (peer address, HEC sourcetype and index, `_bulk` index name...).
    """

    channel: str
    body: str
    meta: Mapping[str, str] = field(default_factory=dict)


class Acknowledger(Protocol):
    """The durable hand-off a listener awaits before it acknowledges anything to a client."""

    def submit(self, envelopes: Sequence[Envelope]) -> int:
        """Write durably (fsync) and return the sequence number of the last envelope.

        Raises `watchfloor.errors.Overloaded` when it cannot take more; nothing is then written.
        """
        ...
