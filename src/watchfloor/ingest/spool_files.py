"""The spool's on-disk formats: segment records, their recovery scan, and the checkpoint file.

A segment is `<first sequence number, 20 digits>.seg`: an 8-byte magic, then records, each a 4-byte
length and a 4-byte CRC-32 of the payload followed by the payload (one envelope as compact JSON). The
CRC is what tells a complete record from a torn tail that a crash left behind: recovery keeps the
records up to the first one that does not check out and truncates the rest. The checkpoint is a small
JSON file replaced atomically (write, fsync, rename, fsync the folder), so a crash leaves either the old
or the new one, never a mix.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from watchfloor.errors import IngestError, Location
from watchfloor.events import Envelope

__all__ = [
    "HEADER",
    "MAGIC",
    "Checkpoint",
    "SpoolPosition",
    "decode_envelope",
    "encode_record",
    "fsync_dir",
    "iter_records",
    "read_checkpoint",
    "segment_name",
    "segment_paths",
    "write_checkpoint",
]

MAGIC = b"WFSPOOL1"
HEADER = struct.Struct("<II")
_MAX_RECORD = 64 * 1024 * 1024
_CHECKPOINT = "checkpoint.json"


@dataclass(frozen=True, slots=True, order=True)
class SpoolPosition:
    """A place in the spool: segment (its first sequence number), byte offset in it, next sequence."""

    segment: int
    offset: int
    seq: int

    def as_dict(self) -> dict[str, int]:
        """JSON form for the checkpoint file."""
        return {"segment": self.segment, "offset": self.offset, "seq": self.seq}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What the consumer has durably stored: everything before `position`.

    `pending` is set while a chunk `[position, pending)` is being stored: after a crash the consumer
    replays exactly that chunk (same boundaries, same `logged` time) and skips what is already stored.
    """

    position: SpoolPosition
    pending: SpoolPosition | None = None
    logged: dt.datetime | None = None


def segment_name(first_seq: int) -> str:
    """File name of the segment whose first record has sequence number `first_seq`."""
    return f"{first_seq:020d}.seg"


def segment_paths(folder: Path) -> list[tuple[int, Path]]:
    """Existing segments, oldest first."""
    found: list[tuple[int, Path]] = []
    for path in folder.glob("*.seg"):
        if path.stem.isdigit():
            found.append((int(path.stem), path))
    return sorted(found)


def encode_record(envelope: Envelope) -> bytes:
    """One record: header plus the envelope as compact JSON `[channel, body, meta]`."""
    payload = orjson.dumps([envelope.channel, envelope.body, dict(envelope.meta)])
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def decode_envelope(payload: bytes) -> Envelope:
    """The envelope of a record payload; ValueError if it is not one (then it is quarantined)."""
    value = orjson.loads(payload)
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[2], dict)):
        raise ValueError("spool record is not [channel, body, meta]")
    channel, body, meta = value
    if not isinstance(channel, str) or not isinstance(body, str):
        raise ValueError("spool record channel and body must be text")
    return Envelope(channel, body, {str(k): str(v) for k, v in meta.items()})


def iter_records(data: bytes | memoryview, start: int) -> Iterator[tuple[int, int, bytes]]:
    """`(offset, end, payload)` of each complete, CRC-valid record from `start`, up to the first bad one."""
    view = memoryview(data)
    offset = start
    size = len(view)
    while offset + HEADER.size <= size:
        length, crc = HEADER.unpack_from(view, offset)
        end = offset + HEADER.size + length
        if length > _MAX_RECORD or end > size:
            return
        payload = bytes(view[offset + HEADER.size : end])
        if zlib.crc32(payload) != crc:
            return
        yield offset, end, payload
        offset = end


def fsync_dir(folder: Path) -> None:
    """Make a file creation, rename or deletion in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoint(folder: Path) -> Checkpoint | None:
    """The last checkpoint written, or None for a new spool."""
    path = folder / _CHECKPOINT
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        position = SpoolPosition(**doc["position"])
        pending = SpoolPosition(**doc["pending"]) if doc.get("pending") else None
        logged = dt.datetime.fromisoformat(doc["logged"]) if doc.get("logged") else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IngestError(f"unreadable spool checkpoint: {exc}", Location(str(path))) from exc
    return Checkpoint(position, pending, logged)


def write_checkpoint(folder: Path, checkpoint: Checkpoint) -> None:
    """Replace the checkpoint atomically and durably."""
    doc = {
        "position": checkpoint.position.as_dict(),
        "pending": checkpoint.pending.as_dict() if checkpoint.pending else None,
        "logged": checkpoint.logged.isoformat() if checkpoint.logged else None,
    }
    path = folder / _CHECKPOINT
    temporary = folder / f".{_CHECKPOINT}.tmp"
    with temporary.open("wb") as fh:
        fh.write(json.dumps(doc).encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, path)
    fsync_dir(folder)
