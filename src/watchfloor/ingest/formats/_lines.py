"""Shared reading helpers for text formats: lines with their numbers, decoded safely."""

from __future__ import annotations

from collections.abc import Iterator

from watchfloor.ingest.inputs import InputFile

__all__ = ["decode", "decode_head", "iter_block_lines", "iter_blocks", "iter_lines", "read_text"]


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM); undecodable bytes become U+FFFD rather than failing the file."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="replace")


def decode_head(head: bytes) -> str:
    """The head as text, without a possibly cut last line."""
    text = decode(head)
    cut = text.rfind("\n")
    return text if cut < 0 or len(head) < 65536 else text[:cut]


def read_text(source: InputFile) -> str:
    """The whole input as text."""
    with source.open() as fh:
        return decode(fh.read())


def iter_lines(source: InputFile) -> Iterator[tuple[int, str]]:
    """Non-empty lines with their 1-based line numbers, line endings removed."""
    with source.open() as fh:
        first = True
        for number, raw in enumerate(fh, start=1):
            if first:
                first = False
                if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    # UTF-16 files are rare and small: decode whole and restart.
                    text = decode(raw + fh.read())
                    for n, line in enumerate(text.splitlines(), start=1):
                        if line.strip():
                            yield n, line
                    return
                if raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line.strip():
                yield number, line


def iter_blocks(source: InputFile, block_size: int = 8 << 20) -> Iterator[bytes]:
    """Whole lines in blocks of about `block_size` bytes, for the columnar fast paths.

    Every block but the last ends with a newline and the UTF-8 byte order mark is removed, so the
    lines of the blocks are exactly those `iter_lines` yields. UTF-16 input is not handled here
    (callers check the head first).
    """
    with source.open() as fh:
        carry = b""
        first = True
        while True:
            chunk = fh.read(block_size)
            if first:
                first = False
                if chunk.startswith(b"\xef\xbb\xbf"):
                    chunk = chunk[3:]
            if not chunk:
                if carry:
                    yield carry
                return
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                carry += chunk
                continue
            head = chunk if cut == len(chunk) else memoryview(chunk)[:cut]
            yield carry + head if carry else bytes(head)  # one copy at most
            carry = chunk[cut:]


def iter_block_lines(first: int, block: bytes) -> Iterator[tuple[int, str]]:
    """The non-empty lines of a block with their numbers, decoded exactly as `iter_lines` does."""
    for number, raw in enumerate(block.split(b"\n"), start=first):
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if line.strip():
            yield number, line
