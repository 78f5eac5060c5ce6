"""IBM QRadar LEEF 1.0 and 2.0 records, alone on a line or after a syslog header: source `leef`.

`parse_leef` is the pure parser the syslog listener reuses; field names are explained in `_leef`.
"""

from __future__ import annotations

from typing import ClassVar

from watchfloor.ingest.formats._leef import LEEF_MAPPING, parse_leef
from watchfloor.ingest.formats._route import LineFormat

__all__ = ["LEEF_MAPPING", "LeefFormat", "parse_leef"]


class LeefFormat(LineFormat):
    """Files whose lines are mostly LEEF records (other lines still go to their own sources)."""

    name: ClassVar[str] = "leef"
    description: ClassVar[str] = "IBM Log Event Extended Format (LEEF 1.0/2.0), bare or in syslog"
    claims: ClassVar[frozenset[str]] = frozenset({"leef"})
