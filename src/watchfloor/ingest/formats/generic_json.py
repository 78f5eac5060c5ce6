"""Generic JSON lines (or a JSON array of objects): any producer, fields kept as written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchfloor.ingest.formats._json import JsonFamilyFormat

__all__ = ["GenericJsonFormat"]


class GenericJsonFormat(JsonFamilyFormat):
    """The fallback for JSON objects no specific format claims; stored in the `json` source."""

    name = "json"
    description = "JSON lines or a JSON array of objects (any producer)"
    source = "json"
    confidence = 20

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Any JSON object."""
        return True
