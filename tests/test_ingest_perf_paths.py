"""The columnar fast path for JSON lines gives exactly what the row-by-row path gives.

The row path (`orjson` + `flatten` + `to_text` per line) is the reference. Each test reads the same
bytes both ways and compares rows, raw text, line numbers and quarantined records; small block sizes
force the block splitting that isolates a damaged line.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.conftest import corpus
from watchfloor.errors import StoreError
from watchfloor.events import EventBatch, Quarantined
from watchfloor.ingest import FormatRegistry, ingest_paths
from watchfloor.ingest.formats import _json
from watchfloor.ingest.formats._json import JsonFamilyFormat
from watchfloor.ingest.formats.generic_json import GenericJsonFormat
from watchfloor.ingest.formats.windows import WindowsJsonFormat
from watchfloor.ingest.inputs import InputFile
from watchfloor.store import DuckDBEventStore


class RowGeneric(GenericJsonFormat):
    """Overrides `convert`, which keeps it on the row path: the reference."""

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return super().convert(record)


class RowWindows(WindowsJsonFormat):
    """The Windows format without its columnar twin: the reference."""

    convert_table = JsonFamilyFormat.convert_table


def _input(data: bytes, name: str = "mem.jsonl") -> InputFile:
    return InputFile(name=name, head=data[:65536], opener=lambda: io.BytesIO(data))


def _read(fmt: JsonFamilyFormat, data: bytes, batch_size: int = 1000) -> tuple[list[Any], list[Any]]:
    """(rows as (source, position, raw, non-null fields), quarantined as tuples) of one read."""
    rows: list[Any] = []
    bad: list[Any] = []
    for item in fmt.read(_input(data), batch_size):
        if isinstance(item, Quarantined):
            bad.append((item.position, item.reason, item.raw, item.format))
            continue
        assert isinstance(item, EventBatch)
        assert item.num_rows <= batch_size
        assert all(t == pa.string() for t in item.fields.schema.types)
        fields = item.fields.to_pylist()
        for record, raw, position in zip(
            fields, item.raw.to_pylist(), item.positions.to_pylist(), strict=True
        ):
            present = {k: v for k, v in record.items() if v is not None}
            rows.append((item.source, position, raw, present))
    rows.sort(key=lambda r: r[1])
    return rows, bad


def _same(fast: JsonFamilyFormat, slow: JsonFamilyFormat, data: bytes, batch_size: int = 1000) -> list[Any]:
    got, want = _read(fast, data, batch_size), _read(slow, data, batch_size)
    assert got[1] == want[1]
    assert got[0] == want[0]
    return got[0]


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few hundred bytes, so that damage is isolated by splitting."""
    monkeypatch.setattr(_json, "BLOCK_SIZE", 700)
    monkeypatch.setattr(_json, "_MIN_SPLIT", 120)


EDGE_LINES = [
    '{"a": "plain", "n": 4688, "b": true, "f": 1.5, "z": null}',
    '{"a": "ünïcödé ☃ 😀", "n": -12, "b": false, "f": 2.0}',
    '{"a": "esc \\"q\\" \\\\ \\/ \\n \\t \\u00e9 \\ud83d\\ude00", "n": 0}',
    '{"a": "2024-03-01 00:00:00", "t": "2024-03-01T10:00:00Z", "d": "2024-03-01"}',
    '{"nested": {"x": 1, "y": {"z": "deep"}}, "a": "n"}',
    '{"list": [1, "two", {"three": 3}], "a": "l"}',
    '{"empty": {}, "a": "e"}',
    '{"big": 12345678901234567890, "f": 1e20, "g": 1e-7, "h": -0.0}',
    '{"a": "missing keys"}',
    "   ",
    "",
    "this is not json",
    '{"a": "x", "a": "duplicate"}',
    "[1, 2, 3]",
    '"a string"',
    '{"a": NaN}',
    '  {"a": "padded"}  ',
    '{"a": 1}{"a": 2}',
    '{"mixed": "text"}',
    '{"mixed": 7}',
    '{"EventID": 4688, "Channel": "Security", "Hostname": "ws1", "SourceName": "Microsoft"}',
    '{"event_id": 1, "EventLog": "Sysmon", "Computer": "ws2", "ProviderName": "Sysmon"}',
    '{"event_id": 2, "log_name": "App", "Hostname": "ws3", "SourceName": ""}',
]


def _edge_file(rng: random.Random, lines: int, newline: str = "\n") -> bytes:
    """Mostly well-formed flat records with edge cases sprinkled in, in a reproducible order."""
    out: list[str] = []
    for n in range(lines):
        if rng.random() < 0.15:
            out.append(rng.choice(EDGE_LINES))
        else:
            record: dict[str, Any] = {"id": n, "host": f"h{n % 7}", "msg": f"event {n} é"}
            if n % 3:
                record["score"] = n / 8
            if n % 5 == 0:
                record["ok"] = n % 2 == 0
            out.append(json.dumps(record, ensure_ascii=n % 2 == 0))
    return (newline.join(out) + newline).encode("utf-8")


@pytest.mark.parametrize("seed", range(6))
def test_generic_fast_path_matches_row_path_on_edge_cases(seed: int, small_blocks: None) -> None:
    rng = random.Random(seed)
    data = _edge_file(rng, 400)
    rows = _same(GenericJsonFormat(), RowGeneric(), data, batch_size=rng.choice((7, 64, 1000)))
    assert len(rows) > 300


def test_windows_fast_path_matches_row_path_on_edge_cases(small_blocks: None) -> None:
    rows = _same(WindowsJsonFormat(), RowWindows(), _edge_file(random.Random(9), 400), batch_size=50)
    assert any(r[3].get("Provider_Name") == "Sysmon" for r in rows)
    assert any(r[3].get("Channel") == "App" and r[3].get("Computer") == "ws3" for r in rows)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_whole_file_in_one_block(newline: str) -> None:
    data = b"\xef\xbb\xbf" + _edge_file(random.Random(3), 300, newline)
    _same(GenericJsonFormat(), RowGeneric(), data)
    _same(WindowsJsonFormat(), RowWindows(), data)


def test_lone_carriage_return_and_invalid_utf8_fall_back(small_blocks: None) -> None:
    data = b'{"a": 1}\n{"a": 2}\r{"a": 3}\n{"a": "\xff\xfe"}\n{"a": "\\ud800"}\n{"a": 4}\n'
    rows = _same(GenericJsonFormat(), RowGeneric(), data)
    assert [r[1] for r in rows] == [1, 3, 5]  # line 2 is damaged; 4 holds U+FFFD as the row path reads it


def _flat_lines(count: int, bad_line: int) -> bytes:
    lines = [
        json.dumps({"n": n, "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Hostname": "h"})
        for n in range(count)
    ]
    lines[bad_line - 1] = '{"n": "truncated'
    return ("\n".join(lines) + "\n").encode()


def test_damaged_line_in_a_large_file_is_quarantined_with_its_number(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = JsonFamilyFormat._read_rows

    def counting(self: JsonFamilyFormat, source: InputFile, lines: Iterator[Any], size: int) -> Iterator[Any]:
        calls.append(1)
        yield from original(self, source, lines, size)

    monkeypatch.setattr(_json, "_MIN_SPLIT", 4096)
    monkeypatch.setattr(JsonFamilyFormat, "_read_rows", counting)
    data = _flat_lines(20_000, 12_345)
    rows, bad = _read(WindowsJsonFormat(), data, 5000)
    assert [(b[0], b[2]) for b in bad] == [(12_345, '{"n": "truncated')]
    assert len(rows) == 19_999
    assert [r[1] for r in rows] == [n for n in range(1, 20_001) if n != 12_345]
    assert rows[0][3]["Computer"] == "h" and rows[0][3]["n"] == "0"
    assert len(calls) == 1  # only the small block around the damage went row by row


def test_stored_rows_are_identical_both_ways(tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(_edge_file(random.Random(5), 500))
    tables = []
    quarantined = []
    for name, fmt in (("fast", GenericJsonFormat()), ("slow", RowGeneric())):
        registry = FormatRegistry()
        registry.register(fmt)
        store = DuckDBEventStore(tmp_path / name / "events")
        summary = ingest_paths([path], store, tmp_path / name / "q", format_name="json", registry=registry)
        quarantined.append(
            [
                {k: v for k, v in json.loads(line).items() if k != "time"}
                for f in (tmp_path / name / "q").iterdir()
                for line in f.read_text().splitlines()
            ]
        )
        rows = store.query(
            "SELECT * EXCLUDE (ocsf), ocsf.* EXCLUDE (time, metadata_uid, metadata_logged_time), "
            "nullif(ocsf.time, ocsf.metadata_logged_time) AS event_time FROM json "
            "ORDER BY ocsf.metadata_origin_position"
        ).to_pylist()
        tables.append((summary.events, summary.quarantined, rows))
    assert quarantined[0] == quarantined[1] and quarantined[0]
    assert tables[0] == tables[1]
    assert tables[0][0] > 400


def test_sysmon_like_corpus_file_matches(tmp_path: Path) -> None:
    """Real shipper output (flat Windows JSON lines from the Security Datasets) both ways."""
    archive = corpus(
        "security-datasets", "atomic", "windows", "credential_access", "host", "cmd_sam_copy_esentutl.zip"
    )
    from watchfloor.ingest import iter_inputs

    source = next(iter_inputs([archive]))
    data = source.open().read()
    rows = _same(WindowsJsonFormat(), RowWindows(), data, batch_size=500)
    assert len(rows) > 100


def test_column_order_matches_for_uniform_records() -> None:
    lines = [
        json.dumps(
            {"UtcTime": f"2024-03-01 00:00:{n % 60:02d}", "EventID": 1, "Hostname": "h", "Channel": "c"}
        )
        for n in range(300)
    ]
    data = ("\n".join(lines) + "\n").encode()
    for fast, slow in ((GenericJsonFormat(), RowGeneric()), (WindowsJsonFormat(), RowWindows())):
        got = [b.fields.column_names for b in fast.read(_input(data), 100) if isinstance(b, EventBatch)]
        want = [b.fields.column_names for b in slow.read(_input(data), 100) if isinstance(b, EventBatch)]
        assert got == want and len(got) == 3


def _reference_flatten(doc: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """The original recursive flatten, kept here as the reference for the faster one."""
    from collections.abc import Mapping

    result: dict[str, Any] = {} if out is None else out
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            _reference_flatten(value, f"{name}.", result)
        else:
            result[name] = value
    return result


def test_batch_builder_and_flatten_match_the_reference_on_sparse_records() -> None:
    from types import MappingProxyType

    from watchfloor.events import BatchBuilder, flatten, to_text

    rng = random.Random(11)
    values: list[Any] = [None, "x", "", 0, -5, 2.5, 1e20, True, False, [1, "a"], {}, {"k": {"j": 1}}, "ü"]
    records = []
    for _ in range(300):
        record: dict[Any, Any] = {
            f"k{rng.randint(0, 40)}": rng.choice(values) for _ in range(rng.randint(0, 8))
        }
        if rng.random() < 0.1:
            record["proxy"] = MappingProxyType({"inner": rng.choice(values)})
        records.append(record)
    builder = BatchBuilder("s", "f", "p")
    expected: list[dict[str, Any]] = []
    for position, record in enumerate(records):
        flat = flatten(record)
        assert flat == _reference_flatten(record) and list(flat) == list(_reference_flatten(record))
        builder.add(flat, "raw", position)
        expected.append({k: to_text(v) for k, v in flat.items()})
    batch = builder.build()
    names = list(dict.fromkeys(k for row in expected for k in row))
    assert batch.fields.column_names == names
    assert batch.fields.to_pylist() == [{n: row.get(n) for n in names} for row in expected]
    assert batch.positions.to_pylist() == list(range(300))


def _small_inputs(folder: Path) -> dict[str, int]:
    """Small JSON-lines inputs of one source with differing columns, including case-only clashes."""
    folder.mkdir()
    counts: dict[str, int] = {}
    rng = random.Random(11)
    for n in range(12):
        rows = []
        for i in range(1 + n % 4):
            row: dict[str, object] = {"timestamp": f"2024-05-{1 + n % 2:02d}T10:{n:02d}:{i:02d}Z", "n": n}
            row[("Status", "status", "STATUS")[n // 4]] = f"s{n}-{i}"  # DuckDB folds case
            row[f"only_{n % 5}"] = rng.choice(["a", "b", ""])
            rows.append(row)
        (folder / f"in-{n:02d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        counts[f"in-{n:02d}.jsonl"] = len(rows)
    return counts


def _stored(store: DuckDBEventStore) -> list[dict[str, Any]]:
    return store.query(
        "SELECT * EXCLUDE (ocsf), ocsf.* EXCLUDE (metadata_uid, metadata_logged_time) FROM json "
        "ORDER BY ocsf.metadata_origin, ocsf.metadata_origin_position"
    ).to_pylist()


def test_small_inputs_are_written_together_with_exact_counts(tmp_path: Path) -> None:
    counts = _small_inputs(tmp_path / "in")
    together = DuckDBEventStore(tmp_path / "together")
    summary = ingest_paths([tmp_path / "in"], together, tmp_path / "q1", format_name="json", batch_size=6)
    assert {Path(f.path).name: f.events for f in summary.files} == counts
    assert not summary.errors and summary.by_source == {"json": sum(counts.values())}
    apart = DuckDBEventStore(tmp_path / "apart")
    for path in sorted((tmp_path / "in").iterdir()):  # one run per input: nothing is held across inputs
        ingest_paths([path], apart, tmp_path / "q2", format_name="json", batch_size=6)
    files = sorted((tmp_path / "together").rglob("*.parquet"))
    assert len(files) < len(sorted((tmp_path / "apart").rglob("*.parquet")))
    assert all(pq.ParquetFile(f).metadata.num_rows <= 6 for f in files)
    for f in files:  # a file never holds two names that differ only in case
        names = [n.casefold() for n in pq.ParquetFile(f).schema_arrow.names]
        assert len(names) == len(set(names))
    assert _stored(together) == _stored(apart)


class _FailingSink:
    """Stores through a real store, but fails any table holding an event that contains `boom`."""

    def __init__(self, store: DuckDBEventStore) -> None:
        self.store = store
        self.calls: list[int] = []

    def append(self, table: pa.Table) -> int:
        self.calls.append(table.num_rows)
        raw = pc.struct_field(table.column("ocsf"), "raw_data")
        if pc.any(pc.match_substring(raw, "boom")).as_py():
            raise StoreError("disk on fire")
        return self.store.append(table)


def test_a_failed_write_is_reported_on_each_input_in_it(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    sizes = {"a.jsonl": 2, "b.jsonl": 2, "c.jsonl": 3, "d.jsonl": 1}
    for name, size in sizes.items():
        marker = "boom" if name == "b.jsonl" else "ok"
        lines = [json.dumps({"timestamp": "2024-05-01T00:00:00Z", "v": f"{marker}{i}"}) for i in range(size)]
        (folder / name).write_text("\n".join(lines) + "\n")
    sink = _FailingSink(DuckDBEventStore(tmp_path / "events"))
    summary = ingest_paths([folder], sink, tmp_path / "q", format_name="json", batch_size=4)
    assert sink.calls == [4, 4]  # a+b together (failed), then c+d together
    results = {Path(f.path).name: f for f in summary.files}
    assert [(n, results[n].events) for n in sizes] == [
        ("a.jsonl", 0),
        ("b.jsonl", 0),
        ("c.jsonl", 3),
        ("d.jsonl", 1),
    ]
    assert all("disk on fire" in (results[n].error or "") for n in ("a.jsonl", "b.jsonl"))
    assert results["c.jsonl"].error is None and results["d.jsonl"].error is None
    assert summary.by_source == {"json": 4}
    assert sink.store.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 4}]
