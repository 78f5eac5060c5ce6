"""The event store contract. Everything above the store speaks only this, never an engine's API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

__all__ = ["EventStore", "SourceInfo"]


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One source in the store: its view name, how many files and days it holds."""

    name: str
    files: int
    days: tuple[str, ...]


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
