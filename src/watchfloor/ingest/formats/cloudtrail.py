"""AWS CloudTrail: the `{"Records": [...]}` files AWS delivers (often gzipped) and JSON lines.

Nested objects are flattened with dots (`userIdentity.arn`, `requestParameters.bucketName`), the names
Sigma's CloudTrail rules use. Fields a shipper added beside the record (Logstash's `@timestamp`,
`@version`) are kept: they are part of what was received.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchfloor.ingest.formats._cloud_mapping import CLOUDTRAIL_MAPPING
from watchfloor.ingest.formats._json import JsonFamilyFormat

__all__ = ["CloudTrailFormat"]


class CloudTrailFormat(JsonFamilyFormat):
    """CloudTrail records: `eventName` and `eventSource` beside CloudTrail's own envelope fields."""

    name = "cloudtrail"
    description = "AWS CloudTrail logs (Records files, gzipped or not, and JSON lines)"
    source = CLOUDTRAIL_MAPPING.source
    mappings = (CLOUDTRAIL_MAPPING,)
    confidence = 90

    def matches(self, record: Mapping[str, Any]) -> bool:
        """An API call record: the call and service, with the version, identity or region CloudTrail adds."""
        if "eventName" not in record or "eventSource" not in record:
            return False
        return any(key in record for key in ("eventVersion", "userIdentity", "awsRegion"))
