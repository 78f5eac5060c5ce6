"""ArcSight CEF records, alone on a line or after a syslog header: source `cef`.

`parse_cef` is the pure parser the syslog listener reuses; field names are explained in `_cef`.
"""

from __future__ import annotations

from typing import ClassVar

from watchfloor.ingest.formats._cef import CEF_MAPPING, parse_cef
from watchfloor.ingest.formats._route import LineFormat

__all__ = ["CEF_MAPPING", "CefFormat", "parse_cef"]


class CefFormat(LineFormat):
    """Files whose lines are mostly CEF records (other lines still go to their own sources)."""

    name: ClassVar[str] = "cef"
    description: ClassVar[str] = "ArcSight Common Event Format (CEF), bare or in syslog"
    claims: ClassVar[frozenset[str]] = frozenset({"cef"})
