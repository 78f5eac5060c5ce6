"""Built-in log formats. A new format is one module here and one line in `BUILTIN_FORMATS`."""

from __future__ import annotations

from watchfloor.ingest.formats.generic_json import GenericJsonFormat
from watchfloor.ingest.formats.windows import (
    EvtxFormat,
    EvtxJsonFormat,
    WindowsJsonFormat,
    WinlogbeatFormat,
)

__all__ = ["BUILTIN_FORMATS"]

BUILTIN_FORMATS = (
    EvtxFormat(),
    EvtxJsonFormat(),
    WinlogbeatFormat(),
    WindowsJsonFormat(),
    GenericJsonFormat(),
)
