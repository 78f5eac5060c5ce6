"""Integer and boolean fields declared to Arrow up front still give exactly what the row path gives.

Once a field has been read as an integer or a boolean, later blocks declare it with that type (it
spares Arrow the inference and a lookup per key). A block where the same field holds something else
(text, a double, an integer past 64 bits, an object) must then be read as before, not fail and not
change any value, whatever the order in which blocks reach the parser.
"""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pyarrow as pa
import pytest

from watchfloor.events import EventBatch, Quarantined
from watchfloor.ingest.formats import _json
from watchfloor.ingest.formats._json import JsonFamilyFormat, _BlockParser, _scan
from watchfloor.ingest.formats.generic_json import GenericJsonFormat
from watchfloor.ingest.inputs import InputFile


class RowGeneric(GenericJsonFormat):
    """Overrides `convert`, which keeps it on the row path: the reference."""

    def convert(self, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return super().convert(record)


def _rows(fmt: JsonFamilyFormat, data: bytes, batch_size: int = 500) -> tuple[list[Any], list[Any]]:
    """(rows as (position, raw, non-null fields), quarantined records) of one read."""
    source = InputFile(name="mem.jsonl", head=data[:65536], opener=lambda: io.BytesIO(data))
    rows: list[Any] = []
    bad: list[Any] = []
    for item in fmt.read(source, batch_size):
        if isinstance(item, Quarantined):
            bad.append((item.position, item.reason, item.raw))
            continue
        assert isinstance(item, EventBatch)
        assert all(t == pa.string() for t in item.fields.schema.types)
        for record, raw, position in zip(
            item.fields.to_pylist(), item.raw.to_pylist(), item.positions.to_pylist(), strict=True
        ):
            rows.append((position, raw, {k: v for k, v in record.items() if v is not None}))
    rows.sort(key=lambda r: r[0])
    return rows, bad


#: What a field first seen as an integer (`n`) or a boolean (`b`) may hold in a later block.
SURPRISES: list[dict[str, Any]] = [
    {"n": "4688", "b": "true"},
    {"n": 2.5, "b": 1},
    {"n": 7.0, "b": None},
    {"n": 12345678901234567890, "b": False},
    {"n": -(2**63), "b": True},
    {"n": None},
    {"b": True},
    {"n": {"inner": 1}},
    {"n": [1, 2]},
    {"n": True, "b": 0},
    {"n": "", "b": ""},
]


def _file(rng: random.Random, lines: int) -> bytes:
    """Regular records, then stretches where `n` and `b` change kind, then regular ones again."""
    out: list[str] = []
    for i in range(lines):
        record: dict[str, Any] = {"host": f"h{i % 5}", "n": i, "msg": f"event {i}", "b": i % 2 == 0}
        if lines // 3 < i < 2 * lines // 3 and rng.random() < 0.3:
            record = {"host": "odd", **rng.choice(SURPRISES)}
        out.append(json.dumps(record))
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("block", [300, 900, 5000])
def test_declared_integers_and_booleans_match_the_row_path(
    seed: int, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_json, "BLOCK_SIZE", block)
    monkeypatch.setattr(_json, "_MIN_SPLIT", 100)
    data = _file(random.Random(seed), 600)
    got, want = _rows(GenericJsonFormat(), data), _rows(RowGeneric(), data)
    assert got[1] == want[1]
    assert got[0] == want[0]
    assert len(got[0]) == 600


def test_a_field_seen_as_an_integer_is_declared_and_text_wins_later() -> None:
    parser = _BlockParser()
    first = b'{"EventTime": "2024-03-01 00:00:00", "n": 1, "ok": true, "msg": "a"}\n' * 3
    scanned = _scan(first, parser.declared())
    assert scanned is not None and parser.finish(1, scanned) is not None
    declared = dict(parser.declared())
    assert list(declared) == ["EventTime", "n", "ok", "msg"]  # the records' own order
    assert declared == {"EventTime": pa.string(), "n": pa.int64(), "ok": pa.bool_(), "msg": pa.string()}

    text = b'{"n": "0x10", "ok": true}\n{"n": "7", "ok": false}\n'
    scanned = _scan(text, parser.declared())  # `n` is text here: read with text declared only
    assert scanned is not None
    fields = parser.finish(4, scanned)
    assert fields is not None
    assert fields[0].column("n").to_pylist() == ["0x10", "7"]
    assert fields[0].column("ok").to_pylist() == ["true", "false"]
    assert dict(parser.declared())["n"] == pa.string()


def test_a_declared_field_absent_from_a_block_adds_no_column() -> None:
    parser = _BlockParser()
    scanned = _scan(b'{"n": 1, "msg": "a"}\n', parser.declared())
    assert scanned is not None and parser.finish(1, scanned) is not None
    scanned = _scan(b'{"msg": "b"}\n{"msg": "c"}\n', parser.declared())
    assert scanned is not None
    fields = parser.finish(2, scanned)
    assert fields is not None
    assert fields[0].column_names == ["msg"]
