"""The durable spool between live listeners and the event store.

A listener acknowledges a client only after `Spool.submit` returned, and `submit` returns only after
the envelopes are written and fsynced. Submitters arriving while an fsync is in flight wait for the next
one and share it (group commit), so many concurrent clients cost a few fsyncs, not one each. The spool
is bounded: past `max_backlog_bytes` or `max_backlog_records` not yet consumed, `submit` raises
`Overloaded` and writes nothing, and listeners turn that into backpressure (HEC 503, TCP flow control).

The consumer (`watchfloor.ingest.live`) reads committed records in order and moves the durable
checkpoint with `begin`/`finish`; segments it has fully consumed are deleted. Record and checkpoint
formats are in `spool_files`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchfloor.config import Settings
from watchfloor.errors import ConfigError, IngestError, Location, Overloaded
from watchfloor.events import Envelope
from watchfloor.ingest.spool_files import (
    HEADER,
    MAGIC,
    Checkpoint,
    SpoolPosition,
    encode_record,
    fsync_dir,
    iter_records,
    read_checkpoint,
    segment_name,
    segment_paths,
    write_checkpoint,
)

__all__ = ["Spool", "SpoolChunk", "SpoolLimits", "SpoolPosition", "SpoolRecord"]

log = logging.getLogger(__name__)
_START = len(MAGIC)


@dataclass(frozen=True, slots=True)
class SpoolLimits:
    """How much unconsumed data the spool accepts, and how large a segment grows before rotating.

    Configured in `watchfloor.toml` as a `[spool]` table with the same key names.
    """

    max_backlog_bytes: int = 1024 * 1024 * 1024
    max_backlog_records: int = 5_000_000
    segment_bytes: int = 64 * 1024 * 1024
    retry_after: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SpoolLimits:
        """Limits from the `[spool]` table of the settings' extras; defaults where absent."""
        table: Any = settings.extra.get("spool", {})
        if not isinstance(table, Mapping):
            raise ConfigError("[spool] must be a table", Location("watchfloor.toml", field="spool"))
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in cls.__dataclass_fields__:
                raise ConfigError(f"unknown spool setting {key!r}", Location("watchfloor.toml", field=key))
            try:
                number = float(value) if key == "retry_after" else int(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"invalid value {value!r}", Location("watchfloor.toml", field=key)) from exc
            if number <= 0:
                raise ConfigError("must be positive", Location("watchfloor.toml", field=key))
            values[key] = number
        return cls(**values)


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One committed record: its sequence number and its payload (an encoded envelope)."""

    seq: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class SpoolChunk:
    """Consecutive committed records `[start, end)` read by the consumer."""

    start: SpoolPosition
    end: SpoolPosition
    records: tuple[SpoolRecord, ...]
    nbytes: int


class Spool:
    """Append-only, fsynced segments under one folder; implements `Acknowledger`."""

    def __init__(self, folder: Path, limits: SpoolLimits | None = None) -> None:
        self.folder = folder
        self.limits = limits or SpoolLimits()
        folder.mkdir(parents=True, exist_ok=True)
        self.spool_id = self._load_id()
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._retired: list[int] = []
        self._closed = False
        #: Final byte size of every closed segment, by first sequence number.
        self._sizes: dict[int, int] = {}
        checkpoint = read_checkpoint(folder) or Checkpoint(SpoolPosition(0, _START, 0))
        self._backlog_records = 0
        self._backlog_bytes = 0
        next_seq = self._recover(checkpoint.position)
        next_seq = max(next_seq, checkpoint.position.seq)
        self._checkpoint = checkpoint
        self._fd = self._create_segment(next_seq)
        self._end = SpoolPosition(next_seq, _START, next_seq)
        self._synced = self._end

    # -- opening -------------------------------------------------------------------------------
    def _load_id(self) -> str:
        """A random id per spool, so event ids derived from spool positions are unique per install."""
        path = self.folder / "spool.id"
        if path.is_file():
            return path.read_text(encoding="ascii").strip()
        value = secrets.token_hex(4)
        temporary = self.folder / ".spool.id.tmp"
        temporary.write_text(value, encoding="ascii")
        os.replace(temporary, path)
        fsync_dir(self.folder)
        return value

    def _recover(self, consumed: SpoolPosition) -> int:
        """Check every segment, truncate torn tails, count the backlog; return the next sequence."""
        next_seq = 0
        for first, path in segment_paths(self.folder):
            data = path.read_bytes()
            if not data.startswith(MAGIC) or first < consumed.segment:
                # A segment torn before its magic, or one consumed before a crash stopped its deletion.
                if data.startswith(MAGIC) or len(data) <= _START:
                    path.unlink()
                    continue
                raise IngestError("not a spool segment", Location(str(path)))
            end = _START
            count = 0
            for offset, record_end, _ in iter_records(data, _START):
                if first > consumed.segment or offset >= consumed.offset:
                    self._backlog_records += 1
                    self._backlog_bytes += record_end - offset
                end = record_end
                count += 1
            if end < len(data):
                log.warning("spool %s: truncating %d bytes of torn tail", path, len(data) - end)
                with path.open("r+b") as fh:
                    fh.truncate(end)
                    os.fsync(fh.fileno())
            if count == 0:  # the checkpoint may name it: reading then starts at the next segment
                path.unlink()
                continue
            self._sizes[first] = end
            next_seq = max(next_seq, first + count)
        fsync_dir(self.folder)
        return next_seq

    def _create_segment(self, first_seq: int) -> int:
        path = self.folder / segment_name(first_seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, MAGIC)
        os.fsync(fd)
        fsync_dir(self.folder)
        return fd

    # -- writing -------------------------------------------------------------------------------
    def submit(self, envelopes: Sequence[Envelope]) -> int:
        """Write the envelopes as one group, fsync (shared with concurrent callers), return the last seq."""
        data = b"".join([encode_record(e) for e in envelopes])
        count = len(envelopes)
        with self._lock:
            if self._closed:
                raise Overloaded("the spool is closed (shutting down)", self.limits.retry_after)
            if not count:
                return self._end.seq - 1
            if (
                self._backlog_bytes + len(data) > self.limits.max_backlog_bytes
                or self._backlog_records + count > self.limits.max_backlog_records
            ):
                raise Overloaded(
                    f"spool backlog full ({self._backlog_records} records, {self._backlog_bytes} bytes)",
                    self.limits.retry_after,
                )
            if self._end.offset > _START and self._end.offset + len(data) > self.limits.segment_bytes:
                self._rotate()
            self._write(data)
            self._end = SpoolPosition(self._end.segment, self._end.offset + len(data), self._end.seq + count)
            self._backlog_records += count
            self._backlog_bytes += len(data)
            target = self._end
        self._sync(target)
        return target.seq - 1

    def _write(self, data: bytes) -> None:
        """Append all of `data`; on failure cut the file back so no partial record stays behind."""
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            os.ftruncate(self._fd, self._end.offset)
            os.lseek(self._fd, self._end.offset, os.SEEK_SET)
            raise Overloaded(f"cannot write the spool: {exc}", self.limits.retry_after) from exc

    def _rotate(self) -> None:
        """Close the current segment (durably) and start the next; called with the lock held."""
        os.fsync(self._fd)
        self._sizes[self._end.segment] = self._end.offset
        self._retired.append(self._fd)
        self._fd = self._create_segment(self._end.seq)
        self._end = SpoolPosition(self._end.seq, _START, self._end.seq)

    def _sync(self, target: SpoolPosition) -> None:
        """Return once `target` is durable; one caller fsyncs for everyone waiting meanwhile."""
        with self._sync_lock:
            if self._synced.seq >= target.seq:
                return
            with self._lock:
                fd = self._fd
                snapshot = self._end
            try:
                os.fdatasync(fd)
            except OSError as exc:
                raise Overloaded(f"cannot sync the spool: {exc}", self.limits.retry_after) from exc
            with self._lock:
                retired, self._retired = self._retired, []
                if snapshot.seq > self._synced.seq:
                    self._synced = snapshot
                self._changed.notify_all()
            for old in retired:
                os.close(old)

    # -- reading and consuming -----------------------------------------------------------------
    @property
    def checkpoint(self) -> Checkpoint:
        """The last durable checkpoint."""
        return self._checkpoint

    @property
    def backlog(self) -> tuple[int, int]:
        """Records and bytes written but not yet consumed."""
        with self._lock:
            return self._backlog_records, self._backlog_bytes

    @property
    def overloaded(self) -> bool:
        """Whether the backlog has reached a limit (what HEC health reports)."""
        records, nbytes = self.backlog
        return records >= self.limits.max_backlog_records or nbytes >= self.limits.max_backlog_bytes

    @property
    def committed(self) -> SpoolPosition:
        """End of what is durable and may be consumed."""
        with self._lock:
            return self._synced

    def wait(self, after: SpoolPosition, timeout: float) -> bool:
        """Block until records past `after` are committed (True) or `timeout` seconds pass."""
        with self._changed:
            return self._changed.wait_for(lambda: self._synced.seq > after.seq or self._closed, timeout)

    def read(self, start: SpoolPosition, max_records: int, max_bytes: int) -> SpoolChunk:
        """Committed records from `start`, at most `max_records` and about `max_bytes`."""
        with self._lock:
            committed = self._synced
            sizes = dict(self._sizes)
        records: list[SpoolRecord] = []
        nbytes = 0
        position = self._normalize(start, sizes, committed)
        chunk_start = position
        while position.seq < committed.seq and len(records) < max_records and nbytes < max_bytes:
            limit = committed.offset if position.segment == committed.segment else sizes[position.segment]
            if position.offset >= limit:
                following = [s for s in sorted(sizes) if s > position.segment] or [committed.segment]
                position = SpoolPosition(following[0], _START, following[0])
                continue
            data = self._read_bytes(position, limit, max(max_bytes - nbytes, HEADER.size))
            seq, offset = position.seq, position.offset
            for record_offset, record_end, payload in iter_records(data, 0):
                if len(records) >= max_records:
                    break
                records.append(SpoolRecord(seq, payload))
                seq += 1
                offset = position.offset + record_end
                nbytes += record_end - record_offset
            if offset == position.offset:
                raise IngestError(
                    "unreadable committed record", Location(self._path(position), position.offset)
                )
            position = SpoolPosition(position.segment, offset, seq)
        return SpoolChunk(chunk_start, position, tuple(records), nbytes)

    def _normalize(
        self, start: SpoolPosition, sizes: Mapping[int, int], committed: SpoolPosition
    ) -> SpoolPosition:
        """A position whose segment exists: the checkpoint's may have been deleted once consumed."""
        if start.segment in sizes or start.segment == committed.segment:
            return start
        later = [s for s in sorted(sizes) if s >= start.seq] or [committed.segment]
        return SpoolPosition(later[0], _START, later[0])

    def _path(self, position: SpoolPosition) -> str:
        return str(self.folder / segment_name(position.segment))

    def _read_bytes(self, position: SpoolPosition, limit: int, budget: int) -> bytes:
        """Bytes from `position` up to `limit`, about `budget` of them but always a whole first record."""
        with open(self._path(position), "rb") as fh:
            fh.seek(position.offset)
            data = fh.read(min(limit - position.offset, budget))
            if len(data) >= HEADER.size:
                length, _ = HEADER.unpack_from(data, 0)
                if HEADER.size + length > len(data):
                    data += fh.read(min(limit - position.offset, HEADER.size + length) - len(data))
            return data

    def begin(self, chunk: SpoolChunk, logged: dt.datetime) -> None:
        """Durably note that `chunk` is about to be stored (so a crash replays exactly that chunk)."""
        self._save(Checkpoint(chunk.start, chunk.end, logged))

    def finish(self, chunk: SpoolChunk) -> None:
        """Durably mark `chunk` stored, release its backlog, delete segments consumed entirely."""
        self._save(Checkpoint(chunk.end))
        with self._lock:
            self._backlog_records -= chunk.end.seq - chunk.start.seq
            self._backlog_bytes -= chunk.nbytes
            done = [s for s in self._sizes if s < chunk.end.segment]
            for first in done:
                del self._sizes[first]
        for first in done:
            (self.folder / segment_name(first)).unlink(missing_ok=True)

    def _save(self, checkpoint: Checkpoint) -> None:
        write_checkpoint(self.folder, checkpoint)
        self._checkpoint = checkpoint

    def close(self) -> None:
        """Refuse further submits and close the files (everything acknowledged is already durable)."""
        with self._sync_lock, self._lock:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
            os.fsync(self._fd)
            os.close(self._fd)
            for old in self._retired:
                os.close(old)
            self._retired = []
