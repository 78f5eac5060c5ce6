"""The event store: partitions, views, read-only hunting, retention."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from watchfloor.errors import QueryError
from watchfloor.events import BatchBuilder
from watchfloor.schema import MappingRegistry, add_core
from watchfloor.store import DuckDBEventStore


def _store_lines(store: DuckDBEventStore, source: str, rows: list[dict[str, str]]) -> None:
    builder = BatchBuilder(source, "json", "test.jsonl")
    for i, row in enumerate(rows, start=1):
        builder.add(row, str(row), i)
    store.append(add_core(builder.build(), MappingRegistry()))


def test_partitions_views_and_count(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "events")
    assert store.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 0}]
    _store_lines(store, "alpha", [{"timestamp": "2024-01-01T10:00:00Z", "user": "ann"}] * 3)
    _store_lines(store, "beta", [{"timestamp": "2024-01-02T10:00:00Z", "Other Field": "x"}] * 2)
    _store_lines(store, "alpha", [{"timestamp": "2024-01-03T10:00:00Z", "extra": "y"}])
    assert store.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 6}]
    assert store.query('SELECT count("extra") AS n FROM alpha').to_pylist() == [{"n": 1}]
    assert store.query(
        "SELECT DISTINCT actor_user_name AS u FROM events WHERE u IS NOT NULL"
    ).to_pylist() == [{"u": "ann"}]
    days = {(s.name, s.days) for s in store.sources()}
    assert days == {("alpha", ("2024-01-01", "2024-01-03")), ("beta", ("2024-01-02",))}
    assert (tmp_path / "events" / "source=alpha" / "day=2024-01-01").is_dir()


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM events",
        "DROP VIEW events",
        "COPY (SELECT 1) TO 'x.parquet'",
        "SELECT 1; SELECT 2",
        "ATTACH 'x.db'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM nowhere",
        "SELEC 1",
    ],
)
def test_hunting_is_read_only_and_errors_are_clear(tmp_path: Path, sql: str) -> None:
    store = DuckDBEventStore(tmp_path / "events")
    _store_lines(store, "alpha", [{"timestamp": "2024-01-01T10:00:00Z"}])
    with pytest.raises(QueryError):
        store.query(sql)
    assert store.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 1}]


def test_retention_drops_old_days_only(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "events")
    today = dt.datetime.now(dt.UTC)
    old = (today - dt.timedelta(days=40)).isoformat()
    _store_lines(store, "alpha", [{"timestamp": old}, {"timestamp": today.isoformat()}])
    cutoff = (today - dt.timedelta(days=30)).strftime("%Y-%m-%d")
    assert store.drop_before(cutoff) == 1
    assert store.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 1}]


def test_encoding_follows_cardinality_and_keeps_values(tmp_path: Path) -> None:
    """Repetitive columns get dictionaries, per-event ones plain pages; values read back unchanged."""
    rows = [
        {
            "timestamp": f"2024-01-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "host": f"ws{i % 7}",
            "guid": f"g-{i:06d}",
        }
        for i in range(3000)
    ]
    store = DuckDBEventStore(tmp_path / "events")
    _store_lines(store, "alpha", rows)
    [path] = list((tmp_path / "events").rglob("*.parquet"))
    meta = pq.ParquetFile(path).metadata.row_group(0)
    columns = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    assert "RLE_DICTIONARY" in columns["host"].encodings
    assert "RLE_DICTIONARY" not in columns["guid"].encodings
    assert not columns["ocsf.raw_data"].is_stats_set  # min/max of unique text never prunes
    assert columns["ocsf.time"].is_stats_set and columns["host"].is_stats_set
    stored = store.query("SELECT timestamp, host, guid FROM alpha ORDER BY ocsf.metadata_origin_position")
    assert stored.to_pylist() == rows
