"""Getting events in: file formats, archive unpacking, quarantine, and the ingestion pipeline."""

from watchfloor.ingest.inputs import InputFile, iter_inputs
from watchfloor.ingest.pipeline import FileResult, IngestSummary, ingest_paths
from watchfloor.ingest.quarantine import QuarantineWriter
from watchfloor.ingest.registry import FormatRegistry, LogFormat, default_registry

__all__ = [
    "FileResult",
    "FormatRegistry",
    "IngestSummary",
    "InputFile",
    "LogFormat",
    "QuarantineWriter",
    "default_registry",
    "ingest_paths",
    "iter_inputs",
]
