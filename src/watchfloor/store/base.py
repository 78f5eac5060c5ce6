"""The event store contract. Everything above the store speaks only this, never an engine's API."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import pyarrow as pa

__all__ = ["EventStore", "ReadSession", "SourceInfo", "StoredPart"]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One source in the store: its view name, how many files and days it holds."""

    name: str
    files: int
    days: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredPart:
    """One immutable unit of stored events (a file for Parquet engines), as incremental readers see it.

    `name` is stable and unique within the store; `written_ns` is when the store finished writing it
    (nanoseconds since the epoch). Parts are never changed once visible, so "what is new since I last
    looked" is the parts whose names a reader has not seen yet; `written_ns` lets it forget old names.
    """

    name: str
    source: str
    written_ns: int


class ReadSession(Protocol):
    """One consistent read of the store: the views as they were when the session was opened.

    Used as a context manager; closing it releases the engine's resources. SQL is the store's
    read-only dialect over the same views as `EventStore.query`.
    """

    def views(self) -> list[str]:
        """Names of the views this session can read (sources present, plus `events`)."""
        ...

    def view_columns(self, view: str) -> list[str]:
        """The columns of one view, in order; empty when the view does not exist here."""
        ...

    def query_batches(self, sql: str, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Run one read-only SELECT and stream its rows; engine errors become `QueryError`."""
        ...

    def register_table(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table readable by this session's queries as `name`.

        For joins of in-memory data (threat-intel indicators) with stored events; the table lives only
        as long as the session and queries cannot write to it.
        """
        ...

    def close(self) -> None:
        """Release the session (idempotent)."""
        ...

    def __enter__(self) -> ReadSession:
        """The session itself."""
        ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Close the session."""
        ...


class EventStore(Protocol):
    """Append-only, partitioned storage of events with read-only SQL over per-source views.

    Views: one per source (producer columns plus the `ocsf` struct) and `events` (the OCSF core of
    every source, flattened).
    """

    def append(self, table: pa.Table) -> int:
        """Store rows (producer columns plus `ocsf`); new files only, old ones never rewritten."""
        ...

    def query(self, sql: str, limit: int | None = None) -> pa.Table:
        """Run one read-only SELECT over the views; anything that could change data is refused."""
        ...

    def sources(self) -> list[SourceInfo]:
        """The sources stored so far."""
        ...

    def drop_before(self, day: str) -> int:
        """Retention: remove whole day partitions older than `day` (YYYY-MM-DD); return files removed."""
        ...

    def parts(self, written_since_ns: int = 0) -> list[StoredPart]:
        """The parts stored so far (those written at or after `written_since_ns`), oldest first."""
        ...

    def open_reader(self, parts: Collection[str] | None = None) -> ReadSession:
        """A read session over every stored event, or only over the named parts (incremental work)."""
        ...
