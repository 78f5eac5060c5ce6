"""Turning one spool chunk into tables and quarantined records: in the consumer's thread or in a process.

Decoding is the consumer's CPU work (envelopes, channel decoders such as Windows XML, the OCSF core):
about 110 µs per routed Windows event. Under `watchfloor serve` it shares the interpreter lock with the
listeners that acknowledge clients and with streaming detection, so at a few thousand events per
second it holds everything else back. `WorkerProcessDecoder` runs it in a process of its own; the
consumer keeps every durable step (spool boundaries, store appends, quarantine, checkpoint), so what
is acknowledged is never lost whatever happens to the worker: a chunk whose worker died is decoded
again. With it the consumer also decodes one chunk ahead (`LiveConsumer.step`): the worker decodes
the next chunk while the consumer stores the last one. `InThreadDecoder` is the same work in the
calling thread (tests, embedding).

Both produce identical results: event ids are derived from the spool (`<spool id><chunk start
sequence><ordinal>`), so decoding a chunk twice gives the same rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple, Protocol

import pyarrow as pa

from watchfloor.errors import WatchfloorError
from watchfloor.events import Envelope, EventBatch, Quarantined
from watchfloor.ingest.channels import ChannelDecoder
from watchfloor.ingest.spool_files import decode_envelope
from watchfloor.schema import CORE_COLUMN, MappingRegistry, add_core

__all__ = [
    "ChunkDecoder",
    "DecodedChunk",
    "Decoders",
    "InThreadDecoder",
    "PendingChunk",
    "WorkerProcessDecoder",
    "decode_chunk",
    "decode_file",
    "uid_prefix",
]

log = logging.getLogger(__name__)

#: `(sequence number, payload)` of each committed record of a chunk, in order.
Records = Sequence[tuple[int, bytes]]


class Decoders(NamedTuple):
    """What decoding needs: a decoder per channel, and the mappings that add the OCSF core."""

    channels: Mapping[str, ChannelDecoder]
    mappings: MappingRegistry


@dataclass(slots=True)
class DecodedChunk:
    """Tables to store and records to quarantine, from one chunk."""

    tables: list[pa.Table] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)


class PendingChunk(Protocol):
    """A chunk being decoded."""

    def result(self) -> DecodedChunk:
        """Wait for the decoded chunk; `WatchfloorError` if the decoder could not finish it."""
        ...


class ChunkDecoder(Protocol):
    """How the consumer decodes a chunk; `close` releases whatever the decoder started."""

    #: Whether `submit` returns before the work is done (the consumer then decodes one chunk ahead).
    concurrent: bool

    def submit(self, records: Records, spool_id: str, start_seq: int, logged: dt.datetime) -> PendingChunk:
        """Start decoding the records of the chunk that starts at `start_seq`."""
        ...

    def close(self) -> None:
        """Stop any worker; decoding again afterwards is an error."""
        ...


def uid_prefix(spool_id: str, start_seq: int) -> str:
    """The prefix of every event id of the chunk starting at `start_seq`."""
    return f"{spool_id}{start_seq:012x}"


def decode_chunk(
    records: Records, decoders: Decoders, spool_id: str, start_seq: int, logged: dt.datetime
) -> DecodedChunk:
    """Group the chunk by channel (first appearance first) and decode each group."""
    out = DecodedChunk()
    origin_base = f"spool:{spool_id}"
    groups: dict[str, list[tuple[int, Envelope]]] = {}
    for seq, payload in records:
        try:
            envelope = decode_envelope(payload)
        except ValueError as exc:
            raw = payload.decode("utf-8", errors="replace")
            out.quarantined.append(Quarantined(origin_base, seq, str(exc), raw, "spool"))
            continue
        if envelope.channel not in decoders.channels:
            raw = payload.decode("utf-8", errors="replace")
            reason = f"no decoder for channel {envelope.channel!r}"
            out.quarantined.append(Quarantined(f"{origin_base}/{envelope.channel}", seq, reason, raw))
            continue
        groups.setdefault(envelope.channel, []).append((seq, envelope))
    prefix = uid_prefix(spool_id, start_seq)
    ordinal = 0
    for channel, items in groups.items():
        seqs = [seq for seq, _ in items]
        origin = f"{origin_base}/{channel}"
        try:
            results = list(decoders.channels[channel].decode([e for _, e in items], origin))
        except Exception as exc:  # a decoder bug must neither lose the data nor stop the consumer
            log.exception("decoder of channel %s failed", channel)
            reason = f"decoder of channel {channel!r} failed: {exc}"
            out.quarantined += [Quarantined(origin, s, reason, e.body, channel) for s, e in items]
            continue
        for item in results:
            if isinstance(item, EventBatch):
                table = add_core(item, decoders.mappings, logged_time=logged, origin=origin)
                out.tables.append(_with_ids(table, item, prefix, ordinal, seqs))
                ordinal += item.num_rows
            else:
                position = seqs[item.position] if 0 <= item.position < len(seqs) else item.position
                out.quarantined.append(replace(item, path=origin, position=position))
    return out


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


@dataclass(frozen=True, slots=True)
class _Done:
    decoded: DecodedChunk

    def result(self) -> DecodedChunk:
        return self.decoded


class InThreadDecoder:
    """Decodes in the caller's thread, when the chunk is submitted."""

    concurrent = False

    def __init__(self, decoders: Decoders) -> None:
        self.decoders = decoders

    def submit(self, records: Records, spool_id: str, start_seq: int, logged: dt.datetime) -> PendingChunk:
        """Decode here and now."""
        return _Done(decode_chunk(records, self.decoders, spool_id, start_seq, logged))

    def close(self) -> None:
        """Nothing to release."""
        return None


# -- the worker process ------------------------------------------------------------------------------
def decode_file(work: Path, decoders: Decoders, spool_id: str, start_seq: int, logged: dt.datetime) -> Path:
    """Decode the records pickled in `work` (removed); the decoded chunk is pickled beside it (returned).

    The worker process's job (`watchfloor.ingest.decode_worker`). The garbage collector is paused:
    decoding makes no cycles, and collections would only walk the chunk's thousands of dicts.
    """
    with work.open("rb") as handle:
        records = pickle.load(handle)
    work.unlink()
    gc.disable()
    try:
        decoded = decode_chunk(records, decoders, spool_id, start_seq, logged)
    finally:
        gc.enable()
    done = work.with_name(work.name + ".decoded")
    with done.open("wb") as handle:
        pickle.dump(decoded, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return done


class WorkerProcessDecoder:
    """Decodes in one child process (`python -m watchfloor.ingest.decode_worker`), started on first use.

    `build` makes the decoders in the child, so it must be a module-level function (named to the
    child as `module:function`). The child imports only what decoding needs, runs in a session of its
    own (a Ctrl-C meant for the server does not interrupt it: the server drains first) and ends when
    its standard input closes, also when the server is killed outright.

    Records and decoded tables (tens of megabytes a chunk) travel as files in a folder of this
    process under `scratch` (folders left by processes that no longer run are removed), one write and
    one read each; only a line of JSON per chunk goes through the pipes. Copied through a pipe by
    Python threads they would take the interpreter lock for every 64 KiB piece: the busier the
    listeners and detection, the slower each chunk, and the larger the next.

    A chunk whose worker died or failed raises `WatchfloorError`; the consumer keeps the chunk in the
    spool and tries again, with a fresh worker.
    """

    concurrent = True

    def __init__(self, build: Callable[[], Decoders], scratch: Path) -> None:
        self.build = f"{build.__module__}:{build.__qualname__}"
        _remove_orphans(scratch)
        self.scratch = scratch / f"pid-{os.getpid()}"
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._submitted = 0
        self._answers: dict[int, dict[str, str]] = {}  # read while waiting for an earlier request

    def _worker(self) -> subprocess.Popen[bytes]:
        if self._closed:
            raise WatchfloorError("the decoding worker is closed")
        if self._process is None or self._process.poll() is not None:
            if self._process is not None:
                _close_pipes(self._process)
            self._answers.clear()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "watchfloor.ingest.decode_worker", self.build],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,
            )
        return self._process

    def submit(self, records: Records, spool_id: str, start_seq: int, logged: dt.datetime) -> PendingChunk:
        """Hand the chunk to the worker; waiting for it does not hold the interpreter."""
        with self._lock:
            process = self._worker()
            self._submitted += 1
            number = self._submitted
            work = self.scratch / f"chunk-{number}"
            request = {
                "id": number,
                "work": str(work),
                "spool_id": spool_id,
                "start_seq": start_seq,
                "logged": logged.isoformat(),
            }
            try:
                with work.open("wb") as handle:
                    pickle.dump(list(records), handle, protocol=pickle.HIGHEST_PROTOCOL)
                assert process.stdin is not None
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
            except OSError as exc:
                work.unlink(missing_ok=True)
                raise self._lost(process, f"cannot hand it a chunk: {exc}") from exc
        return _InWorker(self, process, number, work)

    def _answer(self, process: subprocess.Popen[bytes], number: int) -> dict[str, str]:
        """The worker's answer to request `number` (answers come in order; earlier ones are kept)."""
        with self._lock:
            while number not in self._answers:
                if process is not self._process:
                    raise WatchfloorError("the decoding worker was restarted; the chunk stays in the spool")
                assert process.stdout is not None
                line = process.stdout.readline()
                if not line:
                    raise self._lost(process, f"exit status {process.wait()}")
                answer = json.loads(line)
                self._answers[int(answer.pop("id"))] = answer
            return self._answers.pop(number)

    def _lost(self, process: subprocess.Popen[bytes], why: str) -> WatchfloorError:
        """Forget a dead worker (the next chunk starts a fresh one); the error for the consumer."""
        if process is self._process:
            self._process = None
        process.kill()
        process.wait()
        _close_pipes(process)
        return WatchfloorError(f"the decoding worker stopped ({why}); the chunk stays in the spool")

    def close(self) -> None:
        """Stop the worker (after the chunk it may be decoding) and remove the scratch files."""
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
        if process is not None:
            assert process.stdin is not None
            process.stdin.close()  # the worker finishes its chunk and sees the end of its input
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            _close_pipes(process)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _close_pipes(process: subprocess.Popen[bytes]) -> None:
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _remove_orphans(scratch: Path) -> None:
    """Remove the scratch folders of processes that were killed before they could remove them."""
    for folder in scratch.glob("pid-*") if scratch.is_dir() else ():
        try:
            os.kill(int(folder.name.removeprefix("pid-")), 0)
        except ValueError:
            continue  # not ours
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            continue  # alive, another user's


@dataclass(frozen=True, slots=True)
class _InWorker:
    owner: WorkerProcessDecoder
    process: subprocess.Popen[bytes]
    number: int
    work: Path

    def result(self) -> DecodedChunk:
        try:
            answer = self.owner._answer(self.process, self.number)
        except WatchfloorError:
            self.work.unlink(missing_ok=True)
            raise
        if "error" in answer:
            self.work.unlink(missing_ok=True)
            raise WatchfloorError(f"the decoding worker failed: {answer['error']}")
        done = Path(answer["done"])
        try:
            with done.open("rb") as handle:
                decoded: DecodedChunk = pickle.load(handle)
        except OSError as exc:
            raise WatchfloorError(f"cannot read a decoded chunk back: {exc}") from exc
        finally:
            done.unlink(missing_ok=True)
        return decoded
