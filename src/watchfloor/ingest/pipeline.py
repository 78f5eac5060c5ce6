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
                            stored = sink.append(table)
                            result.events += stored
                            summary.by_format[fmt.name] += stored
                            summary.by_source[item.source] += stored
            except WatchfloorError as exc:
                result.error = str(exc)
            except (OSError, ValueError, UnicodeError) as exc:
                result.error = f"{source.name}: cannot read as {fmt.name}: {exc}"
    finally:
        quarantine.close()
    return summary


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
