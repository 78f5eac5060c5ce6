"""Decoder of the `hec` channel: Splunk HTTP Event Collector events into their sources.

An event whose `sourcetype` (or `source`, `index`) the routing table knows goes to the source of the
file format that reads it (`XmlWinEventLog:*` → `windows`, `aws:cloudtrail` → `aws_cloudtrail`...),
with exactly the fields a file would give it plus HEC's metadata as `hec.<name>`; see
`watchfloor.ingest.routing`. Every other event goes to the `hec` source, as follows.

An `/event` envelope's body is the event object as the client sent it (`{"event": ..., "time": ...,
"host": ..., "fields": {...}}`); a `/raw` envelope's body is one line, with the request's `host`,
`source`, `sourcetype` and `index` in its meta. A JSON-object event is flattened into fields; any
other event is kept whole as `message`. HEC's own metadata then goes on top under its own names, and an
event field it would hide is kept as `event.<name>`. Indexed `fields` are added where the event has no
field of that name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from watchfloor.events import Envelope, EventBatch, Quarantined, flatten, to_text
from watchfloor.ingest.channels import BatchGroups
from watchfloor.ingest.routing import Payload, RoutingTable, default_routing
from watchfloor.schema import SourceMapping

__all__ = ["HEC_DECODER", "HEC_MAPPING", "HecDecoder", "hec_record"]

CHANNEL = "hec"
SOURCE = "hec"
FORMAT = "splunk-hec"
METADATA = ("time", "host", "source", "sourcetype", "index")
#: The metadata the routing table reads.
HINTS = ("sourcetype", "source", "index")

HEC_MAPPING = SourceMapping(
    source=SOURCE,
    product="Splunk HEC",
    time=("time", "@timestamp", "timestamp", "event.time", "_time"),
    user=("user", "user.name", "username", "userName", "src_user"),
    src_ip=("src_ip", "src", "source.ip", "client_ip", "clientip"),
    src_port=("src_port", "source.port", "spt"),
    dst_ip=("dest_ip", "dest", "dst_ip", "destination.ip"),
    dst_port=("dest_port", "dst_port", "destination.port", "dpt"),
    hostname=("host", "hostname", "host.name", "Computer"),
    process_path=("process.executable", "Image", "process_path", "process"),
    process_cmd_line=("process.command_line", "CommandLine", "cmdline"),
    process_pid=("process.pid", "pid", "process_id", "ProcessId"),
    file_path=("file.path", "TargetFilename", "file_path"),
    activity=("action", "event.action", "signature", "eventName"),
    status=("status", "outcome", "event.outcome"),
    severity=("severity", "level", "log_level", "log.level"),
    severity_ids={
        "debug": 1,
        "info": 1,
        "informational": 1,
        "low": 2,
        "notice": 2,
        "medium": 3,
        "warn": 3,
        "warning": 3,
        "high": 4,
        "error": 4,
        "critical": 5,
        "fatal": 6,
    },
)


def hec_record(doc: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Flat producer fields and raw text of one validated HEC event object."""
    event = doc.get("event")
    if isinstance(event, Mapping) and event:
        record = flatten(event)
        raw = orjson.dumps(event).decode("utf-8")
    else:
        raw = to_text(event) or ""
        record = {"message": raw}
    for key in METADATA:
        value = doc.get(key)
        if value is None:
            continue
        if key in record:
            record[f"event.{key}"] = record[key]
        record[key] = value
    indexed = doc.get("fields")
    if isinstance(indexed, Mapping):
        for key, value in indexed.items():
            record.setdefault(str(key), value)
    return record, raw


def _routed_extra(doc: Mapping[str, Any]) -> dict[str, Any]:
    """HEC's metadata and indexed fields beside a routed event's producer fields, as `hec.<name>`."""
    extra = {f"hec.{key}": doc[key] for key in METADATA if doc.get(key) is not None}
    indexed = doc.get("fields")
    if isinstance(indexed, Mapping):
        extra.update(flatten(indexed, "hec.fields."))
    return extra


def _event_payload(event: Any) -> Payload | None:
    """What a routed `/event` carries: a JSON object as is, a string as text (JSON or not)."""
    if isinstance(event, dict):
        return Payload.of_doc(event) if event else None
    if isinstance(event, str):
        return Payload.of_text(event)
    return None


@dataclass(frozen=True, slots=True)
class HecDecoder:
    """`ChannelDecoder` of `hec`: routed events to their formats' sources, the others to `hec`."""

    channel: str = CHANNEL
    mappings: tuple[SourceMapping, ...] = (HEC_MAPPING,)
    batch_size: int = 50_000
    routing: RoutingTable | None = None

    def decode(self, envelopes: Sequence[Envelope], origin: str) -> Iterator[EventBatch | Quarantined]:
        """Parse each envelope; positions are indexes into `envelopes`."""
        routing = self.routing or default_routing()
        groups = BatchGroups(origin, self.batch_size)
        for position, envelope in enumerate(envelopes):
            if envelope.meta.get("endpoint") == "raw":
                meta = envelope.meta
                hints: dict[str, str | None] = {k: meta.get(k) for k in HINTS}
                body = envelope.body
                routed = groups.route(
                    routing, hints, partial(Payload.of_text, body), partial(_routed_extra, meta), position
                )
                if routed is not None:
                    yield from routed
                    continue
                record: dict[str, Any] = {"message": envelope.body}
                record.update({k: envelope.meta[k] for k in METADATA if envelope.meta.get(k)})
                raw = envelope.body
            else:
                try:
                    doc = orjson.loads(envelope.body)
                except orjson.JSONDecodeError as exc:
                    yield Quarantined(origin, position, f"invalid JSON: {exc}", envelope.body, FORMAT)
                    continue
                if not isinstance(doc, dict) or "event" not in doc:
                    yield Quarantined(origin, position, "not a HEC event object", envelope.body, FORMAT)
                    continue
                hints = {k: to_text(doc.get(k)) for k in HINTS}
                routed = groups.route(
                    routing,
                    hints,
                    partial(_event_payload, doc.get("event")),
                    partial(_routed_extra, doc),
                    position,
                )
                if routed is not None:
                    yield from routed
                    continue
                record, raw = hec_record(doc)
            yield from groups.add(SOURCE, FORMAT, record, raw, position)
        yield from groups.flush()


HEC_DECODER = HecDecoder()
