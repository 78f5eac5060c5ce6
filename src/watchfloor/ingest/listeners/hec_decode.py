"""Decoder of the `hec` channel: Splunk HTTP Event Collector events into the `hec` source.

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
from typing import Any

import orjson

from watchfloor.events import BatchBuilder, Envelope, EventBatch, Quarantined, flatten, to_text
from watchfloor.schema import SourceMapping

__all__ = ["HEC_DECODER", "HEC_MAPPING", "HecDecoder", "hec_record"]

CHANNEL = "hec"
SOURCE = "hec"
FORMAT = "splunk-hec"
METADATA = ("time", "host", "source", "sourcetype", "index")

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


@dataclass(frozen=True, slots=True)
class HecDecoder:
    """`ChannelDecoder` of `hec`: every event into the one `hec` source."""

    channel: str = CHANNEL
    mappings: tuple[SourceMapping, ...] = (HEC_MAPPING,)
    batch_size: int = 50_000

    def decode(self, envelopes: Sequence[Envelope], origin: str) -> Iterator[EventBatch | Quarantined]:
        """Parse each envelope; positions are indexes into `envelopes`."""
        builder = BatchBuilder(SOURCE, FORMAT, origin)
        for position, envelope in enumerate(envelopes):
            if envelope.meta.get("endpoint") == "raw":
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
                record, raw = hec_record(doc)
            builder.add(record, raw, position)
            if len(builder) >= self.batch_size:
                yield builder.build()
        if len(builder):
            yield builder.build()


HEC_DECODER = HecDecoder()
