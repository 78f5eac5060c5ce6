"""File ingestion: inputs → format → batches → OCSF core → event sink, with a summary.

Bad records are quarantined and counted; an input that no format recognises is reported by name and
the other inputs still go in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from watchfloor.errors import IngestError, WatchfloorError
from watchfloor.events import EventBatch, EventSink
from watchfloor.ingest.inputs import InputProblem, iter_inputs
from watchfloor.ingest.quarantine import QuarantineWriter
from watchfloor.ingest.registry import FormatRegistry, default_registry
from watchfloor.schema import add_core

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
                for item in fmt.read(source, batch_size):
                    if isinstance(item, EventBatch):
                        stored = sink.append(add_core(item, mappings))
                        result.events += stored
                        summary.by_format[fmt.name] += stored
                        summary.by_source[item.source] += stored
                    else:
                        quarantine.write(item)
                        result.quarantined += 1
            except WatchfloorError as exc:
                result.error = str(exc)
            except (OSError, ValueError, UnicodeError) as exc:
                result.error = f"{source.name}: cannot read as {fmt.name}: {exc}"
    finally:
        quarantine.close()
    return summary
