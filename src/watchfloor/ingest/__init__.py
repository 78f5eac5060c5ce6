"""Getting events in: file formats, archive unpacking, quarantine, and the ingestion pipeline."""

from watchfloor.ingest.channels import ChannelDecoder, MemoryAcknowledger
from watchfloor.ingest.inputs import InputFile, InputProblem, iter_inputs
from watchfloor.ingest.pipeline import FileResult, IngestSummary, ingest_paths
from watchfloor.ingest.quarantine import QuarantineWriter
from watchfloor.ingest.registry import FormatRegistry, LogFormat, default_registry

__all__ = [
    "ChannelDecoder",
    "FileResult",
    "FormatRegistry",
    "IngestSummary",
    "InputFile",
    "InputProblem",
    "LogFormat",
    "MemoryAcknowledger",
    "QuarantineWriter",
    "default_registry",
    "ingest_paths",
    "iter_inputs",
]
