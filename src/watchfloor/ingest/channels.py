"""Live channels: how envelopes a listener received become batches of events.

A listener (syslog, HEC, `_bulk`, OTLP) only has to acknowledge durably: it hands `Envelope`s to an
`Acknowledger` (the spool). Later, the spool's consumer asks the `ChannelDecoder` of each envelope's
channel to parse them, exactly as file formats parse files, and stores the result. Keeping decoding
out of the acknowledgement path is what makes acknowledgement cheap and loss-free.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from watchfloor.errors import Overloaded
from watchfloor.events import Envelope, EventBatch, Quarantined
from watchfloor.schema import SourceMapping

__all__ = ["ChannelDecoder", "MemoryAcknowledger"]


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
