"""File ingestion: inputs → format → batches → OCSF core → event sink, with a summary.

Bad records are quarantined and counted; an input that no format recognises is reported by name and
the other inputs still go in.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pyarrow as pa

from watchfloor.errors import IngestError, WatchfloorError
from watchfloor.events import EventBatch, EventSink, Quarantined
from watchfloor.ingest.inputs import InputFile, InputProblem, iter_inputs
from watchfloor.ingest.quarantine import QuarantineWriter
from watchfloor.ingest.registry import FormatRegistry, LogFormat, default_registry
from watchfloor.schema import MappingRegistry, add_core

__all__ = ["FileResult", "IngestSummary", "ingest_paths"]


@dataclass(slots=True)
class FileResult:
    """What happened to one input."""

    path: str
    format: str | None = None
    events: int = 0
    quarantined: int = 0
    error: str | None = None


@dataclass(slots=True)
class IngestSummary:
    """Totals of one `ingest` run, by format and by source."""

    files: list[FileResult] = field(default_factory=list)
    by_format: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)

    @property
    def events(self) -> int:
        """Events stored."""
        return sum(f.events for f in self.files)

    @property
    def quarantined(self) -> int:
        """Records quarantined."""
        return sum(f.quarantined for f in self.files)

    @property
    def errors(self) -> list[FileResult]:
        """Inputs that could not be read at all."""
        return [f for f in self.files if f.error]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for `--json`."""
        return {
            "events": self.events,
            "quarantined": self.quarantined,
            "files": [
                {k: getattr(f, k) for k in ("path", "format", "events", "quarantined", "error")}
                for f in self.files
            ],
            "by_format": dict(sorted(self.by_format.items())),
            "by_source": dict(sorted(self.by_source.items())),
            "errors": len(self.errors),
        }


def ingest_paths(
    paths: Sequence[Path],
    sink: EventSink,
    quarantine_dir: Path,
    format_name: str = "auto",
    batch_size: int = 50_000,
    registry: FormatRegistry | None = None,
) -> IngestSummary:
    """Read every input under `paths` into `sink`."""
    formats = registry or default_registry()
    mappings = formats.mappings()
    forced = None if format_name == "auto" else formats.get(format_name)
    summary = IngestSummary()
    quarantine = QuarantineWriter(quarantine_dir)
    writes = _Coalescer(sink, summary, batch_size)
    try:
        for source in iter_inputs(list(paths)):
            result = FileResult(source.name)
            summary.files.append(result)
            if isinstance(source, InputProblem):
                result.error = str(source)
                continue
            try:
                fmt = forced or formats.detect(source)
            except IngestError as exc:
                result.error = str(exc)
                continue
            result.format = fmt.name
            try:
                with _ReadAhead(_prepared(fmt, source, batch_size, mappings)) as items:
                    for item, table in items:
                        if isinstance(item, Quarantined):
                            quarantine.write(item)
                            result.quarantined += 1
                        elif table is not None:
                            writes.add(_Held(result, fmt.name, item.source, table))
            except WatchfloorError as exc:
                result.error = str(exc)
            except (OSError, ValueError, UnicodeError) as exc:
                result.error = f"{source.name}: cannot read as {fmt.name}: {exc}"
        writes.flush_all()
    finally:
        quarantine.close()
    return summary


#: Bytes of stored-form tables held back at most, across sources, before they are written.
HOLD_BYTES = 32 << 20
#: Columns a group of held tables may span (inputs with different fields are padded with nulls).
MAX_COLUMNS = 160


@dataclass(frozen=True, slots=True)
class _Held:
    """One batch in its stored form, waiting to be written with its neighbours."""

    result: FileResult
    format: str
    source: str
    table: pa.Table


@dataclass(slots=True, eq=False)  # compared by identity: two groups may hold equal tables
class _Group:
    """Held batches of one source whose columns can share a file: same types, no case-only clashes."""

    items: list[_Held] = field(default_factory=list)
    types: dict[str, pa.DataType] = field(default_factory=dict)
    folded: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    nbytes: int = 0

    def accepts(self, table: pa.Table) -> bool:
        """Whether `table` can join without changing any value or any column's type or name.

        DuckDB matches column names case-insensitively, so `Status` and `status` in one file would
        clash where two files keep them apart; a type that differs by name would need a cast; and a
        union of too many columns would cost more in null padding than the write it saves.
        """
        names = table.column_names
        if len(set(names)) != len(names):
            return False
        if len(self.types) + sum(1 for n in names if n not in self.types) > MAX_COLUMNS:
            return False  # every held table is padded to the union: bound its width
        for name, kind in zip(names, table.schema.types, strict=True):
            known = self.types.get(name)
            if known is not None and known != kind:
                return False
            if self.folded.get(name.casefold(), name) != name:
                return False
        return True

    def add(self, held: _Held) -> None:
        """Hold one more batch (`accepts` said yes)."""
        self.items.append(held)
        for name, kind in zip(held.table.column_names, held.table.schema.types, strict=True):
            self.types.setdefault(name, kind)
            self.folded.setdefault(name.casefold(), name)
        self.rows += held.table.num_rows
        self.nbytes += held.table.nbytes

    def combined(self) -> pa.Table:
        """Every held table over the union of their columns (missing ones null), without copying."""
        schema = pa.schema(list(self.types.items()))
        if len(self.items) == 1:
            return self.items[0].table
        tables = []
        for held in self.items:
            table = held.table
            columns = dict(zip(table.column_names, table.columns, strict=True))
            tables.append(
                pa.Table.from_arrays(
                    [
                        columns[f.name] if f.name in columns else pa.nulls(table.num_rows, f.type)
                        for f in schema
                    ],
                    schema=schema,
                )
            )
        return pa.concat_tables(tables)


class _Coalescer:
    """Writes the stored form of small batches from consecutive inputs together.

    A folder of small files (EVTX exports average 17 events) would otherwise cost one Parquet file,
    and its fixed setup, per input and day. Batches of one source are held in a few groups (a batch
    joins the first group it fits, see `_Group.accepts`) until a group has `batch_size` rows or all
    groups `HOLD_BYTES`; each group is written in one `append`, which still splits it by day. Counts go
    to each input only once its rows are stored, exactly as many as it gave; a failed write is reported
    on every input whose rows were in it.
    """

    #: Groups held per source at most; the oldest is written to make room.
    GROUPS = 8

    def __init__(self, sink: EventSink, summary: IngestSummary, batch_size: int) -> None:
        self._sink = sink
        self._summary = summary
        self._batch_size = batch_size
        self._groups: dict[str, list[_Group]] = {}

    def add(self, held: _Held) -> None:
        """Hold a batch, writing what must go first to keep within the bounds."""
        groups = self._groups.setdefault(held.source, [])
        group = next((g for g in groups if g.accepts(held.table)), None)
        if group is not None and group.rows + held.table.num_rows > self._batch_size:
            self._write(groups, group)
            group = None
        if group is None:
            if len(groups) >= self.GROUPS:
                self._write(groups, groups[0])
            group = _Group()
            groups.append(group)
        group.add(held)
        if group.rows >= self._batch_size:
            self._write(groups, group)
        elif sum(g.nbytes for gs in self._groups.values() for g in gs) > HOLD_BYTES:
            self.flush_all()

    def flush_all(self) -> None:
        """Write everything held."""
        for groups in self._groups.values():
            while groups:
                self._write(groups, groups[0])

    def _write(self, groups: list[_Group], group: _Group) -> None:
        groups.remove(group)
        try:
            self._sink.append(group.combined())
        except (WatchfloorError, OSError, ValueError) as exc:
            for held in group.items:
                reason = f"{held.result.path}: events not stored: {exc}"
                held.result.error = reason if held.result.error is None else f"{held.result.error}; {reason}"
            return
        for held in group.items:
            rows = held.table.num_rows
            held.result.events += rows
            self._summary.by_format[held.format] += rows
            self._summary.by_source[held.source] += rows


Prepared = tuple[EventBatch | Quarantined, pa.Table | None]


def _prepared(
    fmt: LogFormat, source: InputFile, batch_size: int, mappings: MappingRegistry
) -> Generator[Prepared, None, None]:
    """Each item the format reads, with the stored form (OCSF core added) of each batch."""
    for item in fmt.read(source, batch_size):
        yield item, add_core(item, mappings) if isinstance(item, EventBatch) else None


class _ReadAhead:
    """Runs a reader in a worker thread, up to `depth` items ahead of the caller.

    Parsing and adding the OCSF core (Arrow work that releases the GIL) then overlap with the sink's
    Parquet writes on another core. Items arrive in order; an exception the reader raises is raised
    to the caller where the item would have been; leaving early stops and closes the reader.
    """

    def __init__(self, items: Generator[Prepared, None, None], depth: int = 2) -> None:
        self._items = items
        self._queue: queue.Queue[tuple[Prepared | None, BaseException | None]] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="watchfloor-read-ahead", daemon=True)

    def __enter__(self) -> Iterator[Prepared]:
        self._thread.start()
        return self._drain()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
        self._thread.join()

    def _drain(self) -> Iterator[Prepared]:
        while True:
            item, error = self._queue.get()
            if error is not None:
                raise error
            if item is None:
                return
            yield item

    def _put(self, entry: tuple[Prepared | None, BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
            self._put((None, None))
        except BaseException as exc:  # handed to the caller's thread, raised there
            self._put((None, exc))
        finally:
            self._items.close()
