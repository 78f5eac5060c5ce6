"""Decoder of the `otlp` channel: log records into their formats' sources, or the `otlp` source.

OpenTelemetry has no attribute for "what kind of log this is", so the ones shippers already set are
read, record attributes before resource attributes: the Splunk HEC exporter's `com.splunk.sourcetype`,
`com.splunk.source` and `com.splunk.index`, Elastic's `event.dataset` / `data_stream.dataset`, the
filelog receiver's `log.file.path`, and Watchfloor's own `watchfloor.route` (a destination name of
`watchfloor.ingest.routing`). A routed record's body is read as a file of that kind would be.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from watchfloor.events import Envelope, EventBatch, Quarantined, flatten, to_text
from watchfloor.ingest.channels import BatchGroups, json_objects
from watchfloor.ingest.routing import Payload, RoutingTable, default_routing
from watchfloor.schema import SourceMapping

__all__ = ["HINT_ATTRIBUTES", "OTLP_DECODER", "OTLP_MAPPING", "OtlpDecoder"]

CHANNEL = "otlp"
SOURCE = "otlp"
#: Routing hints and the attributes that give them, first found wins.
HINT_ATTRIBUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("route", ("watchfloor.route",)),
    ("sourcetype", ("com.splunk.sourcetype",)),
    ("source", ("com.splunk.source", "log.file.path", "log.file.name")),
    ("index", ("com.splunk.index",)),
    ("dataset", ("event.dataset", "data_stream.dataset")),
)

_SEVERITY_IDS = {str(n): 1 for n in range(1, 13)} | {str(n): 3 for n in range(13, 17)}
_SEVERITY_IDS |= {str(n): 4 for n in range(17, 21)} | {str(n): 6 for n in range(21, 25)}
_SEVERITY_WORDS = {"trace": 1, "debug": 1, "info": 1, "notice": 2, "warn": 3, "warning": 3, "error": 4}
_SEVERITY_WORDS |= {"critical": 5, "fatal": 6}

#: OpenTelemetry semantic conventions onto the core; severity numbers by range (TRACE to INFO are
#: informational, WARN medium, ERROR high, FATAL fatal), the text only when no number was sent.
OTLP_MAPPING = SourceMapping(
    source=SOURCE,
    product="OpenTelemetry",
    time=("time_unix_nano", "observed_time_unix_nano"),
    user=(
        "attributes.enduser.id",
        "attributes.user.name",
        "attributes.user.id",
        "resource.attributes.enduser.id",
        "resource.attributes.user.name",
    ),
    src_ip=("attributes.client.address", "attributes.source.address", "attributes.network.peer.address"),
    src_port=("attributes.client.port", "attributes.source.port", "attributes.network.peer.port"),
    dst_ip=(
        "attributes.server.address",
        "attributes.destination.address",
        "attributes.network.local.address",
    ),
    dst_port=("attributes.server.port", "attributes.destination.port", "attributes.network.local.port"),
    hostname=("resource.attributes.host.name", "attributes.host.name", "resource.attributes.k8s.node.name"),
    process_path=(
        "resource.attributes.process.executable.path",
        "attributes.process.executable.path",
        "resource.attributes.process.executable.name",
    ),
    process_cmd_line=("resource.attributes.process.command_line", "attributes.process.command_line"),
    process_pid=("resource.attributes.process.pid", "attributes.process.pid"),
    parent_pid=("resource.attributes.process.parent_pid", "attributes.process.parent_pid"),
    file_path=("attributes.file.path",),
    activity=("event_name", "attributes.event.name"),
    severity=("severity_number", "severity_text"),
    severity_ids=_SEVERITY_IDS | _SEVERITY_WORDS,
)


def _hints(doc: Mapping[str, Any]) -> dict[str, str | None]:
    """Routing hints from the record's attributes, else its resource's."""
    record = doc.get("attributes")
    resource = doc.get("resource")
    layers = [record if isinstance(record, Mapping) else {}]
    if isinstance(resource, Mapping) and isinstance(resource.get("attributes"), Mapping):
        layers.append(resource["attributes"])
    hints: dict[str, str | None] = {}
    for hint, keys in HINT_ATTRIBUTES:
        hints[hint] = next((to_text(a[k]) for a in layers for k in keys if a.get(k) is not None), None)
    return hints


def _body_payload(doc: Mapping[str, Any]) -> Payload | None:
    """A routed record's content is its body: a map as a JSON object, a string as text."""
    body = doc.get("body")
    if isinstance(body, dict):
        return Payload.of_doc(body) if body else None
    if isinstance(body, str):
        return Payload.of_text(body)
    return None


def _routed_extra(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The record's resource, scope, times and attributes beside the routed fields, as `otlp.<name>`."""
    return flatten({k: v for k, v in doc.items() if k != "body"}, "otlp.")


@dataclass(frozen=True, slots=True)
class OtlpDecoder:
    """`ChannelDecoder` of the `otlp` channel: routed records to their formats, the rest to `otlp`.

    A record whose attributes name its kind (`com.splunk.sourcetype`, `event.dataset`,
    `watchfloor.route`...) is its body read by that format, with the rest of the record as
    `otlp.<name>`; any other record is flattened into the `otlp` source.
    """

    channel: str = CHANNEL
    mappings: tuple[SourceMapping, ...] = (OTLP_MAPPING,)
    batch_size: int = 50_000
    routing: RoutingTable | None = None
    format: ClassVar[str] = "otlp-logs"

    def decode(self, envelopes: Sequence[Envelope], origin: str) -> Iterator[EventBatch | Quarantined]:
        """`resource.attributes.service.name`, `attributes.<key>`, `severity_number`, `body`... per record."""
        routing = self.routing or default_routing()
        groups = BatchGroups(origin, self.batch_size)
        for item in json_objects(envelopes, origin, self.format):
            if isinstance(item, Quarantined):
                yield item
                continue
            position, envelope, doc = item
            routed = groups.route(
                routing, _hints(doc), partial(_body_payload, doc), partial(_routed_extra, doc), position
            )
            if routed is not None:
                yield from routed
                continue
            yield from groups.add(SOURCE, self.format, flatten(doc), envelope.body, position)
        yield from groups.flush()


OTLP_DECODER = OtlpDecoder()
