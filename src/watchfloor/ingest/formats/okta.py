"""Okta System Log: records from `/api/v1/logs` and the Sentinel-flattened `Okta_CL` rows.

API records are nested (`actor.alternateId`, `client.ipAddress`, `outcome.result`) and are flattened
with dots; `Okta_CL` rows already carry flat names with a type suffix (`actor_alternateId_s`,
`published_t`) and are kept as they are. Both land in one `okta` source whose mapping knows both names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchfloor.ingest.formats._cloud_mapping import OKTA_MAPPING
from watchfloor.ingest.formats._json import JsonFamilyFormat

__all__ = ["OktaFormat"]


class OktaFormat(JsonFamilyFormat):
    """Okta System Log events, from the API (JSON array or lines) or Microsoft Sentinel's `Okta_CL`."""

    name = "okta"
    description = "Okta System Log events (API records or Sentinel Okta_CL rows)"
    source = OKTA_MAPPING.source
    mappings = (OKTA_MAPPING,)
    confidence = 90

    def matches(self, record: Mapping[str, Any]) -> bool:
        """An `eventType` with Okta's `published` time and actor or uuid, in either naming."""
        if "eventType" in record and "published" in record:
            return "actor" in record or "uuid" in record or "actor.alternateId" in record
        if "eventType_s" in record:
            return any(k in record for k in ("published_t", "actor_alternateId_s", "uuid_g", "uuid_s"))
        return False
