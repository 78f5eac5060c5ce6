"""Live channels: how envelopes a listener received become batches of events.

A listener (syslog, HEC, `_bulk`, OTLP) only has to acknowledge durably: it hands `Envelope`s to an
`Acknowledger` (the spool). Later, the spool's consumer asks the `ChannelDecoder` of each envelope's
channel to parse them, exactly as file formats parse files, and stores the result. Keeping decoding
out of the acknowledgement path is what makes acknowledgement cheap and loss-free.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from watchfloor.errors import Overloaded
from watchfloor.events import BatchBuilder, Envelope, EventBatch, Quarantined
from watchfloor.ingest.routing import Payload, Refused, RoutingTable
from watchfloor.schema import SourceMapping

__all__ = ["BatchGroups", "ChannelDecoder", "MemoryAcknowledger", "json_objects"]


class ChannelDecoder(Protocol):
    """Parses the envelopes of one channel."""

    @property
    def channel(self) -> str:
        """The `Envelope.channel` this decoder reads (`syslog`, `hec`, `bulk`, `otlp`)."""
        ...

    @property
    def mappings(self) -> tuple[SourceMapping, ...]:
        """How the sources this channel writes fill the OCSF core."""
        ...

    def decode(self, envelopes: Sequence[Envelope], origin: str) -> Iterator[EventBatch | Quarantined]:
        """Batches of events (and quarantined bad ones) from envelopes; `origin` names the spool segment."""
        ...


class MemoryAcknowledger:
    """An in-memory `Acknowledger` for tests: keeps envelopes in a list, can simulate overload."""

    def __init__(self, capacity: int | None = None) -> None:
        self.envelopes: list[Envelope] = []
        self.capacity = capacity
        self._lock = threading.Lock()

    def submit(self, envelopes: Sequence[Envelope]) -> int:
        """Keep the envelopes; refuse all of them if they would exceed `capacity`."""
        with self._lock:
            if self.capacity is not None and len(self.envelopes) + len(envelopes) > self.capacity:
                raise Overloaded("memory acknowledger full", retry_after=1.0)
            self.envelopes.extend(envelopes)
            return len(self.envelopes)


@dataclass(slots=True)
class BatchGroups:
    """Batch builders per (source, format): a routed channel writes several sources in one chunk.

    `add` puts an event in the channel's own source, `route` first asks the routing table whether the
    hints send it to a file format's source (see `watchfloor.ingest.routing`).
    """

    origin: str
    batch_size: int
    _builders: dict[tuple[str, str], BatchBuilder] = field(default_factory=dict)

    def add(
        self, source: str, format_name: str, record: Mapping[str, Any], raw: str, position: int
    ) -> Iterator[EventBatch]:
        """Queue one event; yield its group's batch when full."""
        key = (source, format_name)
        builder = self._builders.get(key)
        if builder is None:
            builder = self._builders[key] = BatchBuilder(source, format_name, self.origin)
        builder.add(record, raw, position)
        if len(builder) >= self.batch_size:
            yield builder.build()

    def route(
        self,
        routing: RoutingTable,
        hints: Mapping[str, str | None],
        payload: Callable[[], Payload | None],
        extra: Callable[[], Mapping[str, Any]],
        position: int,
    ) -> Iterator[EventBatch | Quarantined] | None:
        """Route one event: batches (or its quarantine) if the hints send it elsewhere; else None.

        `payload` and `extra` (ingestion metadata such as `hec.sourcetype`, kept beside the producer
        fields where those lack the name) are built only for events a rule routes.
        """
        if routing.choose(hints) is None:
            return None
        content = payload()
        if content is None:
            return None
        routed = routing.route(hints, content)
        if routed is None:
            return None
        if isinstance(routed, Refused):
            return iter((Quarantined(self.origin, position, routed.reason, content.text, routed.format),))
        record = routed.fields
        for key, value in extra().items():
            record.setdefault(key, value)
        return self.add(routed.source, routed.format, record, content.text, position)

    def flush(self) -> Iterator[EventBatch]:
        """The partly filled batches, in the order their groups appeared."""
        for builder in self._builders.values():
            if len(builder):
                yield builder.build()


def json_objects(
    envelopes: Sequence[Envelope], origin: str, format_name: str
) -> Iterator[tuple[int, Envelope, dict[str, Any]] | Quarantined]:
    """Each envelope's JSON object with its 0-based position (`_bulk` documents, OTLP records).

    Anything that is not a JSON object is quarantined with its position, as the decoder contract asks.
    """
    for position, envelope in enumerate(envelopes):
        try:
            doc = orjson.loads(envelope.body)
        except orjson.JSONDecodeError as exc:
            yield Quarantined(origin, position, f"invalid JSON: {exc}", envelope.body, format_name)
            continue
        if not isinstance(doc, dict):
            yield Quarantined(origin, position, "not a JSON object", envelope.body, format_name)
            continue
        yield position, envelope, doc
