"""Opening what the user points at: files, folders, and files inside .zip, .gz and .tar(.gz) archives.

Each yields `InputFile`s with a display name (`outer.zip!inner.json`) used in every message and
quarantine record, a small head for format sniffing, and a way to open the bytes.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from watchfloor.errors import IngestError, Location

__all__ = ["HEAD_SIZE", "InputFile", "iter_inputs"]

HEAD_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class InputFile:
    """One readable stream of log data."""

    name: str
    head: bytes
    opener: Callable[[], BinaryIO]
    fs_path: Path | None = None  # set when the data is a plain file on disk (fast paths may use it)

    def open(self) -> BinaryIO:
        """Open the data from its beginning."""
        return self.opener()


def _is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"


def _is_zip(head: bytes) -> bool:
    return head[:4] == b"PK\x03\x04"


def _from_bytes(name: str, data: bytes) -> Iterator[InputFile]:
    yield from _expand(name, data[:HEAD_SIZE], lambda: io.BytesIO(data), None)


def _expand(
    name: str, head: bytes, opener: Callable[[], BinaryIO], fs_path: Path | None
) -> Iterator[InputFile]:
    """Unwrap archives (recursively) by their content, not their name."""
    if _is_zip(head):
        with opener() as fh, zipfile.ZipFile(fh) as archive:
            for info in archive.infolist():
                if info.is_dir() or info.filename.startswith("__MACOSX/"):
                    continue
                yield from _from_bytes(f"{name}!{info.filename}", archive.read(info))
        return
    if _is_gzip(head):
        with opener() as fh:
            data = _gunzip(fh.read(), name)
        inner = name[:-3] if name.endswith(".gz") else name[:-4] + ".tar" if name.endswith(".tgz") else name
        yield from _from_bytes(inner, data)
        return
    if len(head) > 262 and head[257:262] == b"ustar":
        with opener() as fh, tarfile.open(fileobj=fh) as archive:
            for member in archive.getmembers():
                extracted = archive.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    yield from _from_bytes(f"{name}!{member.name}", extracted.read())
        return
    yield InputFile(name=name, head=head, opener=opener, fs_path=fs_path)


def _gunzip(data: bytes, name: str) -> bytes:
    """All gzip members; trailing bytes that are not another member (a stray newline) are ignored."""
    parts: list[bytes] = []
    while data[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(wbits=31)
        try:
            parts.append(inflater.decompress(data))
            parts.append(inflater.flush())
        except zlib.error as exc:
            raise IngestError(f"damaged gzip data: {exc}", Location(name)) from exc
        if not inflater.eof:
            raise IngestError("truncated gzip data", Location(name))
        data = inflater.unused_data
    return b"".join(parts)


def _open_path(path: Path) -> Callable[[], BinaryIO]:
    return lambda: path.open("rb")


def iter_inputs(paths: list[Path]) -> Iterator[InputFile]:
    """Every input under the given files and folders, archives unpacked, in a stable order."""
    for root in paths:
        if not root.exists():
            raise IngestError("no such file or folder", Location(str(root)))
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if path.name.startswith("."):
                continue
            with path.open("rb") as fh:
                head = fh.read(HEAD_SIZE)
            try:
                yield from _expand(str(path), head, _open_path(path), path)
            except (zipfile.BadZipFile, tarfile.TarError) as exc:
                raise IngestError(f"damaged archive: {exc}", Location(str(path))) from exc
