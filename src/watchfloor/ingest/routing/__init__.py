"""Routing of live events to the file formats that read them: see `table` for the tables and rules."""

from watchfloor.ingest.routing.readers import Payload, PayloadReader
from watchfloor.ingest.routing.table import (
    DESTINATIONS,
    ROUTES,
    Destination,
    Refused,
    Routed,
    RouteRule,
    RoutingTable,
    default_routing,
)
from watchfloor.ingest.routing.windows_xml import parse_windows_xml, windows_xml_fields

__all__ = [
    "DESTINATIONS",
    "ROUTES",
    "Destination",
    "Payload",
    "PayloadReader",
    "Refused",
    "RouteRule",
    "Routed",
    "RoutingTable",
    "default_routing",
    "parse_windows_xml",
    "windows_xml_fields",
]
