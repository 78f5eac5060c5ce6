"""Event storage: one `EventStore` contract; DuckDB over Parquet is the embedded default engine."""

from pathlib import Path

from watchfloor.store.base import EventStore, ReadSession, SourceInfo, StoredPart
from watchfloor.store.duckdb import DuckDBEventStore, DuckDBReadSession

__all__ = [
    "DuckDBEventStore",
    "DuckDBReadSession",
    "EventStore",
    "ReadSession",
    "SourceInfo",
    "StoredPart",
    "open_store",
]


def open_store(events_dir: Path, engine: str = "duckdb") -> EventStore:
    """The store of an installation, by engine name."""
    if engine != "duckdb":
        raise ValueError(f"unknown storage engine {engine!r}")
    return DuckDBEventStore(events_dir)
