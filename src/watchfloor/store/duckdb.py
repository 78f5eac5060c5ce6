"""The embedded engine: Parquet partitioned by source and day, read through DuckDB.

Layout: `<data>/events/source=<name>/day=<YYYY-MM-DD>/part-<written>-<random>.parquet`. Files are
written to a temporary name and renamed, so a reader never sees half a file and an append never
rewrites an existing one. Queries run in a fresh in-memory DuckDB whose file access is limited to the
event folder and whose configuration is locked, and only single SELECT statements are accepted.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import shutil
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from watchfloor.errors import QueryError, StoreError
from watchfloor.schema import CORE_COLUMN, CORE_FIELDS
from watchfloor.store.base import SourceInfo, StoredPart

__all__ = ["DuckDBEventStore", "DuckDBReadSession"]

_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PART_NAME = re.compile(r"^source=([a-z][a-z0-9_]{0,62})/day=\d{4}-\d{2}-\d{2}/[^/]+\.parquet$")
_ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}
EVENTS_VIEW = "events"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEventStore:
    """`EventStore` on local Parquet files and DuckDB."""

    def __init__(self, root: Path, threads: int | None = None) -> None:
        self.root = root
        self.threads = threads

    # -- writing -----------------------------------------------------------------------------
    def append(self, table: pa.Table) -> int:
        """Write one file per (source, day) present in the table."""
        if table.num_rows == 0:
            return 0
        core = table.column(CORE_COLUMN)  # chunked: only the two key fields are read, nothing copied
        sources = pc.struct_field(core, "metadata_log_name").combine_chunks()
        dates = pc.cast(pc.struct_field(core, "time"), pa.date32()).combine_chunks()
        names = pc.unique(sources).to_pylist()
        for source in names:
            if source is None or not _SOURCE_NAME.match(source):
                raise StoreError(f"invalid source name {source!r} (lower-case letters, digits, _)")
        if len(names) == 1 and len(unique_dates := pc.unique(dates)) == 1:  # the usual case: no split
            return self._write_file(names[0], _day(unique_dates), _drop_all_null(table))
        # Several partitions: stable-sort rows by (source, day) once, then write contiguous slices,
        # so that each file keeps its rows in their original order.
        keys = pa.table({"source": sources, "date": dates})
        order = pc.sort_indices(keys, sort_keys=[("source", "ascending"), ("date", "ascending")])
        in_order = order.equals(pa.array(range(len(order)), order.type))  # time-ordered input: no copy
        ordered = table if in_order else table.take(order)
        groups = (
            (keys if in_order else keys.take(order))
            .group_by(["source", "date"], use_threads=False)
            .aggregate([("source", "count")])
        )
        written, start = 0, 0
        for source, date, count in zip(
            groups["source"].to_pylist(), groups["date"], groups["source_count"].to_pylist(), strict=True
        ):
            part = ordered.slice(start, count)
            start += count
            written += self._write_file(source, _day(pa.array([date])), _drop_all_null(part))
        return written

    def _write_file(self, source: str, day: str, table: pa.Table) -> int:
        folder = self.root / f"source={source}" / f"day={day}"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        final = folder / f"part-{stamp}-{secrets.token_hex(4)}.parquet"
        temporary = folder / f".{final.name}.tmp"
        encoding = _encoding(table)
        try:
            pq.write_table(
                table,
                temporary,
                compression="zstd",
                row_group_size=128 * 1024,
                use_dictionary=encoding.dictionary,
                write_statistics=encoding.statistics,
            )
            os.replace(temporary, final)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise StoreError(f"cannot write {final}: {exc}") from exc
        return int(table.num_rows)

    # -- reading -----------------------------------------------------------------------------
    def sources(self) -> list[SourceInfo]:
        """Sources with at least one file, sorted by name."""
        found: list[SourceInfo] = []
        if not self.root.is_dir():
            return found
        for folder in sorted(self.root.glob("source=*")):
            days = sorted(
                d.name.removeprefix("day=") for d in folder.glob("day=*") if any(d.glob("*.parquet"))
            )
            files = sum(1 for _ in folder.glob("day=*/*.parquet"))
            if files:
                found.append(SourceInfo(folder.name.removeprefix("source="), files, tuple(days)))
        return found

    def parts(self, written_since_ns: int = 0) -> list[StoredPart]:
        """Every visible Parquet file (written at or after `written_since_ns`), oldest first.

        A file's write time is its modification time: it is renamed into place whole, never touched again.
        """
        found: list[StoredPart] = []
        for path in self.root.glob("source=*/day=*/*.parquet") if self.root.is_dir() else ():
            try:
                written = path.stat().st_mtime_ns
            except FileNotFoundError:  # removed by retention meanwhile
                continue
            if written >= written_since_ns:
                source = path.parent.parent.name.removeprefix("source=")
                found.append(StoredPart(path.relative_to(self.root).as_posix(), source, written))
        found.sort(key=lambda part: (part.written_ns, part.name))
        return found

    def open_reader(self, parts: Collection[str] | None = None) -> DuckDBReadSession:
        """A read session over every file, or over the named parts only (those still present)."""
        return DuckDBReadSession(self.connect(parts))

    def connect(self, parts: Collection[str] | None = None) -> duckdb.DuckDBPyConnection:
        """A sandboxed in-memory connection with every view defined (over only `parts` when given)."""
        connection = duckdb.connect(":memory:")
        if self.threads:
            connection.execute(f"SET threads={int(self.threads)}")
        chosen = None if parts is None else self._files_by_source(parts)
        names = [info.name for info in self.sources()] if chosen is None else sorted(chosen)
        core_parts: list[str] = []
        for name in names:
            if chosen is None:
                files = _sql_string(str(self.root / f"source={name}" / "day=*" / "*.parquet"))
            else:
                files = "[" + ", ".join(_sql_string(str(self.root / f)) for f in chosen[name]) + "]"
            connection.execute(
                f"CREATE VIEW {_quote(name)} AS SELECT * FROM read_parquet({files}, "
                "union_by_name = true, hive_partitioning = false)"
            )
            core_parts.append(f"SELECT {CORE_COLUMN}.* FROM {_quote(name)}")
        if not core_parts:
            columns = ", ".join(f"CAST(NULL AS {_duck_type(t)}) AS {_quote(n)}" for n, t, _ in CORE_FIELDS)
            core_parts.append(f"SELECT {columns} WHERE false")
        connection.execute(f"CREATE VIEW {EVENTS_VIEW} AS " + " UNION ALL ".join(core_parts))
        allowed = _sql_string(str(self.root) + os.sep)
        connection.execute(f"SET allowed_directories = [{allowed}]")
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        return connection

    def _files_by_source(self, parts: Collection[str]) -> dict[str, list[str]]:
        """Part names grouped by source; names that are not this store's parts are refused."""
        out: dict[str, list[str]] = {}
        for name in sorted(set(parts)):
            found = _PART_NAME.match(name)
            if found is None:
                raise StoreError(f"not a part of this store: {name!r}")
            if (self.root / name).is_file():
                out.setdefault(found.group(1), []).append(name)
        return out

    def query(self, sql: str, limit: int | None = None) -> pa.Table:
        """One read-only statement; errors name what DuckDB disliked."""
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryError(f"invalid SQL: {_first_line(exc)}") from exc
        if len(statements) != 1:
            raise QueryError(f"expected exactly one statement, got {len(statements)}")
        kind = statements[0].type.name
        if kind not in _ALLOWED_STATEMENTS:
            raise QueryError(f"only SELECT queries are allowed here (got {kind})")
        connection = self.connect()
        try:
            relation = connection.sql(sql)
            if relation is None:
                raise QueryError("the statement returned no result")
            if limit is not None:
                relation = relation.limit(limit)
            return relation.to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(_first_line(exc)) from exc
        finally:
            connection.close()

    def drop_before(self, day: str) -> int:
        """Delete day partitions strictly older than `day`."""
        removed = 0
        for folder in self.root.glob("source=*/day=*"):
            if folder.name.removeprefix("day=") < day:
                removed += sum(1 for _ in folder.glob("*.parquet"))
                shutil.rmtree(folder)
        return removed


class DuckDBReadSession:
    """`ReadSession` on one sandboxed DuckDB connection (see `DuckDBEventStore.connect`)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection
        self._views: list[str] | None = None
        self._tables: dict[str, pa.Table] = {}

    def views(self) -> list[str]:
        """The views defined when the session opened."""
        if self._views is None:
            rows = self._connection.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY view_name"
            ).fetchall()
            self._views = [str(row[0]) for row in rows]
        return self._views

    def view_columns(self, view: str) -> list[str]:
        """Column names of `view`, or none if the session has no such view."""
        if view not in self.views():
            return []
        return [str(row[0]) for row in self._connection.execute(f"DESCRIBE {_quote(view)}").fetchall()]

    def query_batches(self, sql: str, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Stream one statement's rows; the connection is sandboxed like `DuckDBEventStore.query`'s.

        The statement runs through the DB-API path, which parses and plans large generated statements
        (thousands of predicate columns) about twice as fast as the relation API; the one extra copy
        of the result that DuckDB warns about is negligible next to that.

        Each statement runs on its own cursor (same database, same sandbox), so a second query can run
        while the rows of a first one are still being read; registered tables are visible to both.
        """
        cursor = self._connection.cursor()
        try:
            for name, table in self._tables.items():
                cursor.register(name, table)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                reader: pa.RecordBatchReader = cursor.execute(sql).to_arrow_reader(batch_rows)
            yield from reader
        except duckdb.Error as exc:
            raise QueryError(_first_line(exc)) from exc
        finally:
            cursor.close()

    def register_table(self, name: str, table: pa.Table) -> None:
        """Expose `table` to this connection's queries as `name` (a view over the Arrow data, no copy)."""
        if name in self.views():
            raise QueryError(f"{name!r} is already a view of this session")
        self._tables[name] = table

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def __enter__(self) -> DuckDBReadSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


#: Below this many rows a file is too small for dictionaries to pay for their per-column setup.
_DICTIONARY_MIN_ROWS = 1024
#: Rows sampled to guess each column's cardinality.
_SAMPLE_ROWS = 1024


def _day(dates: pa.Array) -> str:
    return str(pc.strftime(dates, format="%Y-%m-%d")[0].as_py())


@dataclass(frozen=True, slots=True)
class _Encoding:
    """Parquet options per column path, chosen from a sample of the rows."""

    dictionary: list[str] | bool
    statistics: list[str]


def _encoding(table: pa.Table) -> _Encoding:
    """Dictionaries for repetitive columns only; min/max statistics where they can prune.

    Parquet tries a dictionary first and gives up only after a page of distinct values, so a column
    of per-event values (times, GUIDs, hashes, raw text) costs the attempt twice over; a sample of the
    first rows tells them apart at a fraction of that cost (half the write time on Sysmon-like data,
    for smaller files). Min/max statistics of high-cardinality text never skip a row group and, in
    small files, weigh more than the data (raw text written twice more), so they are kept for numbers,
    times and repetitive text only. Values never change: only their encoding does.
    """
    # (Parquet column path, type, core field name or None for a producer column)
    paths: list[tuple[str, pa.DataType, str | None]] = []
    for column in table.schema:
        if column.name == CORE_COLUMN:
            paths += [(f"{CORE_COLUMN}.{f.name}", f.type, f.name) for f in column.type]
        else:
            paths.append((column.name, column.type, None))
    if table.num_rows < _DICTIONARY_MIN_ROWS:
        return _Encoding(False, [path for path, kind, _ in paths if not pa.types.is_string(kind)])
    sample = table.slice(0, _SAMPLE_ROWS)
    core = sample.column(CORE_COLUMN)
    repetitive: list[str] = []
    for path, _, core_field in paths:
        values = sample.column(path) if core_field is None else pc.struct_field(core, core_field)
        if 2 * pc.count_distinct(values).as_py() <= len(values):
            repetitive.append(path)
    chosen = set(repetitive)
    statistics = [path for path, kind, _ in paths if path in chosen or not pa.types.is_string(kind)]
    return _Encoding(repetitive, statistics)


def _drop_all_null(table: pa.Table) -> pa.Table:
    """Producer columns that are empty in this slice are left out of its file (union_by_name fills them)."""
    rows = table.num_rows
    keep = [
        n
        for n, c in zip(table.column_names, table.columns, strict=True)
        if n == CORE_COLUMN or c.null_count < rows
    ]
    return table.select(keep) if len(keep) < table.num_columns else table


def _duck_type(dtype: pa.DataType) -> str:
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMPTZ"
    if pa.types.is_int32(dtype):
        return "INTEGER"
    if pa.types.is_int64(dtype):
        return "BIGINT"
    return "VARCHAR"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
