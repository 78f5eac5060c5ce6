"""Suricata EVE JSON: the sensor's `eve.json` lines and exported arrays of EVE records.

Every event type (alert, flow, dns, http, tls, fileinfo, anomaly...) lands in one `suricata` source with
EVE's own nested names flattened with dots (`alert.signature`, `dns.rrname`), the names Sigma rules and
Suricata's documentation use. Alerts become OCSF Detection Findings; the rest follow their protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from watchfloor.ingest.formats._json import JsonFamilyFormat
from watchfloor.ingest.formats._network_mapping import SURICATA_MAPPING

__all__ = ["SuricataEveFormat"]


class SuricataEveFormat(JsonFamilyFormat):
    """EVE records: an `event_type` and a `timestamp`, with a flow tuple or Suricata's own sections."""

    name = "suricata"
    description = "Suricata EVE JSON (eve.json lines or arrays of EVE records)"
    source = SURICATA_MAPPING.source
    mappings = (SURICATA_MAPPING,)
    confidence = 90

    def matches(self, record: Mapping[str, Any]) -> bool:
        """EVE always writes `timestamp` and `event_type`; events carry `src_ip`, `flow_id` or stats."""
        if "event_type" not in record or "timestamp" not in record:
            return False
        return "src_ip" in record or "flow_id" in record or record.get("event_type") == "stats"
