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

__all__ = ["HEAD_SIZE", "InputFile", "InputProblem", "iter_inputs"]

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


@dataclass(frozen=True, slots=True)
class InputProblem:
    """An input that cannot be opened (missing, damaged archive): reported by name, the rest goes on."""

    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


def _is_tar(head: bytes) -> bool:
    return len(head) > 262 and head[257:262] == b"ustar"


def _is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"


def _is_zip(head: bytes) -> bool:
    return head[:4] == b"PK\x03\x04"


def _from_bytes(name: str, data: bytes) -> Iterator[InputFile | InputProblem]:
    yield from _expand(name, data[:HEAD_SIZE], lambda: io.BytesIO(data), None)


def _expand(
    name: str, head: bytes, opener: Callable[[], BinaryIO], fs_path: Path | None
) -> Iterator[InputFile | InputProblem]:
    """Unwrap archives (recursively) by their content, not their name; damage is reported, not raised."""
    try:
        if _is_zip(head):
            with opener() as fh, zipfile.ZipFile(fh) as archive:
                members = [
                    i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
                ]
                contents = [(f"{name}!{i.filename}", archive.read(i)) for i in members]
        elif _is_gzip(head):
            with opener() as fh:
                data = _gunzip(fh.read(), name)
            if _is_tar(data[:HEAD_SIZE]):  # a .tar.gz keeps its own name in what is inside it
                contents = _tar_members(name, io.BytesIO(data))
            else:
                contents = [(name.removesuffix(".gz").removesuffix(".gzip"), data)]
        elif _is_tar(head):
            with opener() as fh:
                contents = _tar_members(name, fh)
        else:
            yield InputFile(name=name, head=head, opener=opener, fs_path=fs_path)
            return
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError) as exc:
        yield InputProblem(name, f"damaged archive: {exc}")
        return
    except IngestError as exc:
        yield InputProblem(name, exc.message)
        return
    for inner_name, data in contents:
        yield from _from_bytes(inner_name, data)


def _tar_members(name: str, fh: BinaryIO) -> list[tuple[str, bytes]]:
    contents = []
    with tarfile.open(fileobj=fh) as archive:
        for member in archive.getmembers():
            extracted = archive.extractfile(member) if member.isfile() else None
            if extracted is not None:
                contents.append((f"{name}!{member.name}", extracted.read()))
    return contents


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


def iter_inputs(paths: list[Path]) -> Iterator[InputFile | InputProblem]:
    """Every input under the given files and folders, archives unpacked, in a stable order."""
    for root in paths:
        if not root.exists():
            yield InputProblem(str(root), "no such file or folder")
            continue
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if path.name.startswith("."):
                continue
            try:
                with path.open("rb") as fh:
                    head = fh.read(HEAD_SIZE)
            except OSError as exc:
                yield InputProblem(str(path), f"cannot read: {exc.strerror or exc}")
                continue
            yield from _expand(str(path), head, _open_path(path), path)
