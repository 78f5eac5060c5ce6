"""Quarantine: malformed records kept as JSON lines with their origin and reason, never dropped."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import BinaryIO

import orjson

from watchfloor.events import Quarantined

__all__ = ["QuarantineWriter"]


class QuarantineWriter:
    """Appends quarantined records to `<data>/quarantine/<day>.jsonl` (opened lazily, flushed on close)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self._file: Path | None = None
        self._fh: BinaryIO | None = None

    def write(self, item: Quarantined) -> None:
        """Record one bad record."""
        if self._file is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._file = self.folder / f"{dt.datetime.now(dt.UTC):%Y-%m-%d}.jsonl"
            self._fh = self._file.open("ab")
        assert self._fh is not None
        line = orjson.dumps(
            {
                "time": dt.datetime.now(dt.UTC).isoformat(),
                "path": item.path,
                "position": item.position,
                "format": item.format,
                "reason": item.reason,
                "raw": item.raw,
            }
        )
        self._fh.write(line + b"\n")
        self.count += 1

    def close(self) -> None:
        """Flush to disk."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            self._file = None
