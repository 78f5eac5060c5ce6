"""CSV (comma, semicolon or tab separated) with a header row: source `csv`, columns named by the header.

Exports from consoles and cloud services (the AWS S3 honeybucket log export, spreadsheet reports) are
CSV with a header. The dialect is detected with `csv.Sniffer` on the head. Detection is cautious and
sniffs low (a head must have a plausible header and rows of the same width), so every specific text
format wins over it. A row whose width differs from the header's is quarantined with its line number;
quoted fields may span lines and the raw text kept is exactly the lines the row came from.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import ClassVar

from watchfloor.events import BatchBuilder, EventBatch, Quarantined
from watchfloor.ingest.formats._lines import decode_head
from watchfloor.ingest.inputs import HEAD_SIZE, InputFile
from watchfloor.schema import SourceMapping

__all__ = ["CSV_MAPPING", "CsvFormat", "sniff_dialect"]

SOURCE = "csv"
_DELIMITERS = ",;\t"
_NUMBER = re.compile(r"^[\s+-]*[\d.,:/ -]+$")


class _Semicolon(csv.excel):
    delimiter = ";"


#: Standard quoting with each delimiter, tried when the sniffer's guess does not fit.
_STANDARD: tuple[type[csv.Dialect], ...] = (csv.excel, _Semicolon, csv.excel_tab)
#: Share of sampled rows that must have the header's width.
_CONSISTENT = 0.8

CSV_MAPPING = SourceMapping(
    source=SOURCE,
    product="CSV",
    time=(
        "timestamp",
        "@timestamp",
        "time",
        "Time",
        "date",
        "Date",
        "datetime",
        "Event DateTime",
        "EventTime",
        "TimeGenerated",
        "eventTime",
        "Timestamp",
    ),
    user=("user", "User", "username", "UserName", "user_name", "User Name", "Account", "actor"),
    src_ip=(
        "src_ip",
        "Source IP",
        "source_ip",
        "SourceIp",
        "src",
        "client_ip",
        "ClientIP",
        "Client IP",
        "sourceIPAddress",
        "IP Address",
        "ip",
    ),
    src_port=("src_port", "Source Port", "source_port", "SourcePort", "spt"),
    dst_ip=("dst_ip", "dest_ip", "Destination IP", "destination_ip", "DestinationIp", "dst"),
    dst_port=("dst_port", "dest_port", "Destination Port", "destination_port", "DestinationPort", "dpt"),
    hostname=("host", "hostname", "Hostname", "Host", "Computer", "computer_name", "device"),
    process_path=("process", "Image", "process_path", "Process"),
    process_cmd_line=("command_line", "CommandLine", "cmdline", "Command Line"),
    process_pid=("pid", "PID", "ProcessId"),
    file_path=("file", "file_path", "FilePath", "TargetFilename"),
    activity=("action", "Action", "event", "Event Name", "eventName", "EventName", "activity"),
    status=("status", "Status", "outcome", "result"),
    severity=("severity", "Severity", "level", "Level"),
    severity_ids={"informational": 1, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5},
)


def _plausible_header(row: list[str]) -> bool:
    names = [c.strip() for c in row]
    if len(names) < 2 or any(not n for n in names) or len({n.lower() for n in names}) != len(names):
        return False
    return not any(_NUMBER.match(n) for n in names) and all(len(n) <= 128 for n in names)


def _consistent(sample: str, dialect: type[csv.Dialect] | csv.Dialect, cut: bool) -> list[str] | None:
    """The header, when `dialect` reads the sample as a header and rows of the same width."""
    try:
        rows = [r for r in csv.reader(io.StringIO(sample), dialect) if r]
    except csv.Error:
        return None
    if len(rows) < 2 or not _plausible_header(rows[0]):
        return None
    body = rows[1:-1] if cut and len(rows) > 2 else rows[1:]  # the head may end inside a row
    width = len(rows[0])
    same = sum(1 for r in body if len(r) == width)
    return [c.strip() for c in rows[0]] if same >= _CONSISTENT * len(body) else None


def sniff_dialect(head: bytes) -> tuple[type[csv.Dialect] | csv.Dialect, list[str]] | None:
    """The dialect and header of a head that looks like CSV with a header row, else None.

    `csv.Sniffer` guesses first; when its guess does not give rows of one width (it takes the single
    quotes inside a field for the quote character, say), each delimiter is tried with standard quoting.
    """
    if b"\x00" in head[:4096]:  # binary (or UTF-16) data is never a CSV table; skip the costly sniffer
        return None
    text = decode_head(head)
    lines = [line for line in text.splitlines() if line.strip()]
    cut = len(head) >= HEAD_SIZE or len(lines) > 50
    lines = lines[:50]
    if len(lines) < 2 or lines[0].lstrip()[:1] in ("{", "[", "<", "#"):
        return None
    sample = "\n".join(lines)
    candidates: list[type[csv.Dialect] | csv.Dialect] = []
    try:
        candidates.append(csv.Sniffer().sniff(sample, delimiters=_DELIMITERS))
    except csv.Error:
        pass
    candidates.extend(_STANDARD)
    for dialect in candidates:
        header = _consistent(sample, dialect, cut)
        if header is not None:
            return dialect, header
    return None


def _names(header: list[str]) -> list[str]:
    """Header names as written; a repeated name (ignoring case, as SQL does) gets `_2`, `_3`..."""
    seen: dict[str, int] = {}
    names: list[str] = []
    for name in header:
        count = seen.get(name.lower(), 0) + 1
        seen[name.lower()] = count
        names.append(name if count == 1 else f"{name}_{count}")
    return names


class CsvFormat:
    """Delimited text with a header row."""

    name: ClassVar[str] = "csv"
    description: ClassVar[str] = "CSV with a header row (comma, semicolon or tab separated)"
    mappings: ClassVar[tuple[SourceMapping, ...]] = (CSV_MAPPING,)
    confidence: ClassVar[int] = 10

    def sniff(self, head: bytes, name: str) -> int:
        """Low and fixed: a consistent table with a header, and nothing more specific claiming it."""
        return self.confidence if sniff_dialect(head) is not None else 0

    def read(self, source: InputFile, batch_size: int) -> Iterator[EventBatch | Quarantined]:
        """One event per data row; rows of the wrong width are quarantined."""
        found = sniff_dialect(source.head)
        dialect: type[csv.Dialect] | csv.Dialect = found[0] if found is not None else csv.excel
        consumed: list[str] = []
        state = {"line": 0}

        def lines(stream: io.TextIOWrapper) -> Iterator[str]:
            for line in stream:
                state["line"] += 1
                consumed.append(line)
                yield line

        builder = BatchBuilder(SOURCE, self.name, source.name)
        with (
            source.open() as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="") as fh,
        ):
            reader = csv.reader(lines(fh), dialect)
            header: list[str] | None = None
            while True:
                start = state["line"] + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    yield Quarantined(source.name, start, f"invalid CSV: {exc}", "".join(consumed), self.name)
                    consumed.clear()
                    continue
                text = "".join(consumed).rstrip("\r\n")
                consumed.clear()
                if not any(cell.strip() for cell in row):
                    continue
                if header is None:
                    header = _names([c.strip() for c in row])
                    continue
                if len(row) != len(header):
                    reason = f"expected {len(header)} fields, found {len(row)}"
                    yield Quarantined(source.name, start, reason, text, self.name)
                    continue
                builder.add(dict(zip(header, row, strict=True)), text, start)
                if len(builder) >= batch_size:
                    yield builder.build()
        if len(builder):
            yield builder.build()
