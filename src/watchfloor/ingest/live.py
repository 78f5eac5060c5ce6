"""The spool's consumer: committed envelopes → channel decoders → OCSF core → event store → checkpoint.

Exactly-once into the store, even across crashes. Before storing a chunk the consumer durably notes
its boundaries and its logged time (`Spool.begin`); every event of the chunk gets an id derived from
the spool (`<spool id><chunk start sequence><ordinal>`), which decoding reproduces identically. After
a crash between storing and checkpointing, the same chunk is decoded again, the ids already in the
store are looked up, and only the missing events are appended. Only then is the checkpoint moved
(`Spool.finish`). Malformed envelopes, unknown channels and decoder failures are quarantined with the
channel and spool sequence number, never dropped. The decoding itself is a `ChunkDecoder`'s job
(`watchfloor.ingest.chunk_decoding`), in this thread or in a worker process; every durable step
stays here.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from watchfloor.errors import WatchfloorError
from watchfloor.ingest.chunk_decoding import ChunkDecoder, DecodedChunk, PendingChunk, uid_prefix
from watchfloor.ingest.quarantine import QuarantineWriter
from watchfloor.ingest.spool import Spool, SpoolChunk
from watchfloor.schema import CORE_COLUMN

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


class LiveConsumer:
    """Moves committed spool records into the event store on a background thread."""

    def __init__(
        self,
        spool: Spool,
        store: ReplayableSink,
        decoder: ChunkDecoder,
        quarantine: QuarantineWriter,
        max_records: int = 20_000,
        max_bytes: int = 32 * 1024 * 1024,
        linger: float = 0.2,
    ) -> None:
        self.spool = spool
        self.store = store
        self.decoder = decoder
        self.quarantine = quarantine
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.linger = linger
        self.stats = ConsumerStats()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._drain_deadline = 0.0
        #: The chunk after the last one taken, already handed to a concurrent decoder.
        self._ahead: tuple[SpoolChunk, dt.datetime, PendingChunk] | None = None

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
        self.decoder.close()
        self.quarantine.close()

    def _run(self) -> None:
        while True:
            position = self.spool.checkpoint.position
            # Records already waiting when a chunk is done mean a steady flow: take them at once.
            # Only a consumer that was idle lingers, so that a trickle gathers into fewer, larger
            # files without adding the linger to every chunk's delay under load.
            idle = self.spool.committed.seq <= position.seq
            if self._stopping.is_set():
                if idle or time.monotonic() > self._drain_deadline:
                    return
            elif not self.spool.wait(position, 0.5):
                continue
            elif idle and self.linger and self.spool.backlog[0] < self.max_records:
                self._stopping.wait(self.linger)
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
        """Store one chunk of committed records, if any; return events stored.

        With a concurrent decoder the next chunk is read and handed to it as soon as this one is
        decoded, so that it is decoded while this one is stored and checkpointed. Decoding has no
        side effects: a chunk decoded ahead is used only if it starts where the checkpoint stands
        (otherwise it is read again), and its boundaries are noted (`Spool.begin`) before it is stored.
        """
        position = self.spool.checkpoint.position
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0].start.seq == position.seq:
            chunk, logged, pending = ahead
        else:
            chunk = self.spool.read(position, self.max_records, self.max_bytes)
            if not chunk.records:
                return 0
            logged = dt.datetime.now(dt.UTC)
            pending = self._submit(chunk, logged)
        decoded = pending.result()
        if self.decoder.concurrent:
            following = self.spool.read(chunk.end, self.max_records, self.max_bytes)
            if following.records:
                now = dt.datetime.now(dt.UTC)
                self._ahead = (following, now, self._submit(following, now))
        return self._store(chunk, logged, decoded, replay=False)

    def _process(self, chunk: SpoolChunk, logged: dt.datetime, replay: bool) -> int:
        return self._store(chunk, logged, self._submit(chunk, logged).result(), replay)

    def _store(self, chunk: SpoolChunk, logged: dt.datetime, decoded: DecodedChunk, replay: bool) -> int:
        self.spool.begin(chunk, logged)
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
        return uid_prefix(self.spool.spool_id, chunk.start.seq)

    def _submit(self, chunk: SpoolChunk, logged: dt.datetime) -> PendingChunk:
        records = [(record.seq, record.payload) for record in chunk.records]
        return self.decoder.submit(records, self.spool.spool_id, chunk.start.seq, logged)

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
