"""Decoder of the `bulk` channel: `_bulk` documents into their formats' sources, or the `bulk` source.

The routing table (`watchfloor.ingest.routing`) reads the document's index, `event.dataset` or
`data_stream.dataset`, and the Beats metadata `agent.type`, `event.module` and `winlog.channel`: a
Winlogbeat document lands in `windows` with the fields a Winlogbeat file would give it.
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

__all__ = ["BULK_DECODER", "BULK_MAPPING", "BulkDecoder"]

CHANNEL = "bulk"
SOURCE = "bulk"
#: Beats metadata the routing table reads, by their dotted names.
_BEATS = ("agent.type", "event.module", "winlog.channel")

_SEVERITY_WORDS: tuple[tuple[str, int], ...] = (("trace debug info informational", 1), ("notice", 2))
_SEVERITY_WORDS += (("warn warning", 3), ("error err", 4), ("critical crit alert", 5), ("emergency fatal", 6))
_SEVERITY_IDS = {word: level for words, level in _SEVERITY_WORDS for word in words.split()}

#: Elastic Common Schema names, which Beats, Logstash, Fluent Bit, Vector and most `_bulk` senders write.
BULK_MAPPING = SourceMapping(
    source=SOURCE,
    product="Elasticsearch bulk",
    time=("@timestamp", "timestamp", "event.created", "time"),
    user=("user.name", "user.id", "winlog.event_data.TargetUserName", "user"),
    src_ip=("source.ip", "client.ip", "source.address", "client.address"),
    src_port=("source.port", "client.port"),
    dst_ip=("destination.ip", "server.ip", "destination.address", "server.address"),
    dst_port=("destination.port", "server.port"),
    hostname=("host.name", "host.hostname", "agent.hostname", "observer.hostname", "host"),
    process_path=("process.executable", "process.name"),
    process_cmd_line=("process.command_line",),
    process_pid=("process.pid",),
    parent_path=("process.parent.executable", "process.parent.name"),
    parent_cmd_line=("process.parent.command_line",),
    parent_pid=("process.parent.pid",),
    file_path=("file.path",),
    activity=("event.action", "event.type"),
    status=("event.outcome",),
    severity=("log.level", "event.severity", "level", "severity"),
    severity_ids=_SEVERITY_IDS,
)


def _index_and_id(envelope: Envelope) -> dict[str, str | None]:
    return {"_index": envelope.meta.get("index"), "_id": envelope.meta.get("id")}


def _value(doc: Mapping[str, Any], path: str) -> str | None:
    """A dotted path's text, nested (`{"agent": {"type": ...}}`) or flat (`{"agent.type": ...}`)."""
    flat = doc.get(path)
    if flat is not None:
        return to_text(flat)
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return None if node is None or isinstance(node, Mapping) else to_text(node)


def _hints(envelope: Envelope, doc: Mapping[str, Any]) -> dict[str, str | None]:
    """The index, the dataset and the Beats metadata the routing table reads."""
    hints = {key: _value(doc, key) for key in _BEATS}
    hints["dataset"] = _value(doc, "event.dataset") or _value(doc, "data_stream.dataset")
    hints["index"] = envelope.meta.get("index")
    return hints


@dataclass(frozen=True, slots=True)
class BulkDecoder:
    """`ChannelDecoder` of the `bulk` channel: routed documents to their formats, the rest to `bulk`.

    A document the routing table places (a `winlogbeat-*` index, `agent.type: winlogbeat`...) gets the
    fields its file format gives it, plus `_index` and `_id`. The others go to one `bulk` source
    rather than one per index: index names are chosen by shippers and usually carry a date
    (`filebeat-8.15.0-2024.06.01`), which would make a new source (and a new view) every day, and the
    store's source names are limited to 63 characters. The index survives as the `_index` field, and
    one Elastic Common Schema mapping fits what the senders of `_bulk` write.
    """

    channel: str = CHANNEL
    mappings: tuple[SourceMapping, ...] = (BULK_MAPPING,)
    batch_size: int = 50_000
    routing: RoutingTable | None = None
    format: ClassVar[str] = "elasticsearch-bulk"

    def decode(self, envelopes: Sequence[Envelope], origin: str) -> Iterator[EventBatch | Quarantined]:
        """Each envelope's document, with `_index` and `_id` from the action line."""
        routing = self.routing or default_routing()
        groups = BatchGroups(origin, self.batch_size)
        for item in json_objects(envelopes, origin, self.format):
            if isinstance(item, Quarantined):
                yield item
                continue
            position, envelope, doc = item
            routed = groups.route(
                routing,
                _hints(envelope, doc),
                partial(Payload.of_doc, doc, envelope.body),
                partial(_index_and_id, envelope),
                position,
            )
            if routed is not None:
                yield from routed
                continue
            record = flatten(doc)
            record.update(_index_and_id(envelope))
            yield from groups.add(SOURCE, self.format, record, envelope.body, position)
        yield from groups.flush()


BULK_DECODER = BulkDecoder()
