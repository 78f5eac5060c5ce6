"""The spool's consumer: committed envelopes → channel decoders → OCSF core → event store → checkpoint.

Exactly-once into the store, even across crashes. Before storing a chunk the consumer durably notes
its boundaries and its logged time (`Spool.begin`); every event of the chunk gets an id derived from
the spool (`<spool id><chunk start sequence><ordinal>`), which decoding reproduces identically. After
a crash between storing and checkpointing, the same chunk is decoded again, the ids already in the
store are looked up, and only the missing events are appended. Only then is the checkpoint moved
(`Spool.finish`). Malformed envelopes, unknown channels and decoder failures are quarantined with the
channel and spool sequence number, never dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from watchfloor.errors import WatchfloorError
from watchfloor.events import Envelope, EventBatch, Quarantined
from watchfloor.ingest.channels import ChannelDecoder
from watchfloor.ingest.quarantine import QuarantineWriter
from watchfloor.ingest.spool import Spool, SpoolChunk
from watchfloor.ingest.spool_files import decode_envelope
from watchfloor.schema import CORE_COLUMN, MappingRegistry, add_core

__all__ = ["ConsumerStats", "LiveConsumer", "ReplayableSink"]

log = logging.getLogger(__name__)


class ReplayableSink(Protocol):
    """What the consumer needs of the event store: append, and look up ids when replaying a chunk."""

    def append(self, table: pa.Table) -> int:
        """Store rows (producer columns plus `ocsf`); return how many were stored."""
        ...

    def query(self, sql: str, limit: int | None = None) -> pa.Table:
        """Run one read-only SELECT over the store's views."""
        ...


@dataclass(slots=True)
class ConsumerStats:
    """Running totals, for the serve summary and tests."""

    chunks: int = 0
    stored: int = 0
    quarantined: int = 0
    replayed_skipped: int = 0
    errors: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class _Decoded:
    tables: list[pa.Table] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)


class LiveConsumer:
    """Moves committed spool records into the event store on a background thread."""

    def __init__(
        self,
        spool: Spool,
        store: ReplayableSink,
        decoders: Mapping[str, ChannelDecoder],
        mappings: MappingRegistry,
        quarantine: QuarantineWriter,
        max_records: int = 20_000,
        max_bytes: int = 32 * 1024 * 1024,
        linger: float = 0.2,
    ) -> None:
        self.spool = spool
        self.store = store
        self.decoders = dict(decoders)
        self.mappings = mappings
        self.quarantine = quarantine
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.linger = linger
        self.stats = ConsumerStats()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._drain_deadline = 0.0

    # -- thread --------------------------------------------------------------------------------
    def start(self) -> None:
        """Replay what a crash left half-stored, then consume in the background."""
        self.recover()
        self._thread = threading.Thread(target=self._run, name="watchfloor-consumer", daemon=True)
        self._thread.start()

    def stop(self, drain_seconds: float = 20.0) -> None:
        """Store what is committed (for at most `drain_seconds`), checkpoint, and stop."""
        self._drain_deadline = time.monotonic() + drain_seconds
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self.quarantine.close()

    def _run(self) -> None:
        while True:
            position = self.spool.checkpoint.position
            if self._stopping.is_set():
                if self.spool.committed.seq <= position.seq or time.monotonic() > self._drain_deadline:
                    return
            elif not self.spool.wait(position, 0.5):
                continue
            elif self.linger and self.spool.backlog[0] < self.max_records:
                self._stopping.wait(self.linger)  # let a trickle gather into fewer, larger files
            try:
                self.step()
            except (WatchfloorError, OSError) as exc:
                # The store is unavailable (disk full...): keep the chunk in the spool and retry.
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                log.error("live consumer: %s (retrying)", exc)
                if self._stopping.wait(1.0) and time.monotonic() > self._drain_deadline:
                    return

    # -- work ----------------------------------------------------------------------------------
    def recover(self) -> int:
        """If a crash interrupted a chunk, store what of it is missing; return events stored."""
        checkpoint = self.spool.checkpoint
        if checkpoint.pending is None:
            return 0
        count = checkpoint.pending.seq - checkpoint.position.seq
        chunk = self.spool.read(checkpoint.position, count, 2**62)
        logged = checkpoint.logged or dt.datetime.now(dt.UTC)
        return self._process(chunk, logged, replay=True)

    def step(self) -> int:
        """Store one chunk of committed records, if any; return events stored."""
        chunk = self.spool.read(self.spool.checkpoint.position, self.max_records, self.max_bytes)
        if not chunk.records:
            return 0
        return self._process(chunk, dt.datetime.now(dt.UTC), replay=False)

    def _process(self, chunk: SpoolChunk, logged: dt.datetime, replay: bool) -> int:
        self.spool.begin(chunk, logged)
        decoded = self._decode(chunk, logged)
        tables = decoded.tables
        if replay:
            tables = self._missing(tables, self._uid_prefix(chunk))
        stored = 0
        for table in tables:
            stored += self.store.append(table)
        for item in decoded.quarantined:
            self.quarantine.write(item)
        if decoded.quarantined:
            self.quarantine.close()  # fsynced before the checkpoint moves past them
        self.spool.finish(chunk)
        self.stats.chunks += 1
        self.stats.stored += stored
        self.stats.quarantined += len(decoded.quarantined)
        return stored

    def _uid_prefix(self, chunk: SpoolChunk) -> str:
        return f"{self.spool.spool_id}{chunk.start.seq:012x}"

    def _decode(self, chunk: SpoolChunk, logged: dt.datetime) -> _Decoded:
        """Group the chunk by channel (first appearance first) and decode each group."""
        out = _Decoded()
        origin_base = f"spool:{self.spool.spool_id}"
        groups: dict[str, list[tuple[int, Envelope]]] = {}
        for record in chunk.records:
            raw = record.payload.decode("utf-8", errors="replace")
            try:
                envelope = decode_envelope(record.payload)
            except ValueError as exc:
                out.quarantined.append(Quarantined(origin_base, record.seq, str(exc), raw, "spool"))
                continue
            if envelope.channel not in self.decoders:
                reason = f"no decoder for channel {envelope.channel!r}"
                out.quarantined.append(
                    Quarantined(f"{origin_base}/{envelope.channel}", record.seq, reason, raw)
                )
                continue
            groups.setdefault(envelope.channel, []).append((record.seq, envelope))
        prefix = self._uid_prefix(chunk)
        ordinal = 0
        for channel, items in groups.items():
            seqs = [seq for seq, _ in items]
            origin = f"{origin_base}/{channel}"
            try:
                results = list(self.decoders[channel].decode([e for _, e in items], origin))
            except Exception as exc:  # a decoder bug must neither lose the data nor stop the consumer
                log.exception("decoder of channel %s failed", channel)
                reason = f"decoder of channel {channel!r} failed: {exc}"
                out.quarantined += [Quarantined(origin, s, reason, e.body, channel) for s, e in items]
                continue
            for item in results:
                if isinstance(item, EventBatch):
                    table = add_core(item, self.mappings, logged_time=logged, origin=origin)
                    out.tables.append(_with_ids(table, item, prefix, ordinal, seqs))
                    ordinal += item.num_rows
                else:
                    position = seqs[item.position] if 0 <= item.position < len(seqs) else item.position
                    out.quarantined.append(replace(item, path=origin, position=position))
        return out

    def _missing(self, tables: list[pa.Table], prefix: str) -> list[pa.Table]:
        """Rows of a replayed chunk whose ids are not in the store yet."""
        found = self.store.query(
            f"SELECT metadata_uid FROM events WHERE starts_with(metadata_uid, '{prefix}')"
        )
        stored = pa.array(found.column(0).to_pylist() if found.num_rows else [], pa.string())
        if not len(stored):
            return tables
        kept: list[pa.Table] = []
        for table in tables:
            uids = pc.struct_field(table.column(CORE_COLUMN).combine_chunks(), "metadata_uid")
            mask = pc.invert(pc.is_in(uids, value_set=stored))
            part = table.filter(mask)
            self.stats.replayed_skipped += table.num_rows - part.num_rows
            if part.num_rows:
                kept.append(part)
        return kept


def _with_ids(table: pa.Table, batch: EventBatch, prefix: str, ordinal: int, seqs: list[int]) -> pa.Table:
    """Deterministic event ids, and spool sequence numbers as origin positions."""
    index = table.column_names.index(CORE_COLUMN)
    core = table.column(index).combine_chunks()
    uids = pa.array([f"{prefix}{ordinal + i:06x}" for i in range(table.num_rows)], pa.string())
    positions = pa.array(
        [seqs[p] if p is not None and 0 <= p < len(seqs) else p for p in batch.positions.to_pylist()],
        pa.int64(),
    )
    fields = list(core.type)
    arrays = [
        uids
        if f.name == "metadata_uid"
        else positions
        if f.name == "metadata_origin_position"
        else core.field(i)
        for i, f in enumerate(fields)
    ]
    return table.set_column(index, CORE_COLUMN, pa.StructArray.from_arrays(arrays, fields=fields))
