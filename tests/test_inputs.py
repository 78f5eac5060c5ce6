"""Inputs: archives unpacked by content, names that point inside them, bad input reported by name."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import orjson

from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

EVENT = {"EventID": 4688, "Channel": "Security", "Hostname": "H1", "NewProcessName": "C:\\x\\a.exe"}


def _lines(n: int) -> bytes:
    return b"".join(json.dumps({**EVENT, "n": i}).encode() + b"\n" for i in range(n))


def _ingest(tmp_path: Path, *paths: Path) -> tuple[DuckDBEventStore, object]:
    store = DuckDBEventStore(tmp_path / "events")
    return store, ingest_paths(list(paths), store, tmp_path / "quarantine")


def test_zip_gz_tar_inside_each_other(tmp_path: Path) -> None:
    inner_tar = io.BytesIO()
    with tarfile.open(fileobj=inner_tar, mode="w:gz") as tar:
        data = _lines(3)
        info = tarfile.TarInfo("logs/security.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as archive:
        archive.writestr("a.json", _lines(2))
        archive.writestr("nested.tar.gz", inner_tar.getvalue())
    # A multi-member gzip with a stray newline after it, as some tools write.
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(_lines(4)) + gzip.compress(_lines(1)) + b"\n")
    store, summary = _ingest(tmp_path, tmp_path / "bundle.zip", tmp_path / "b.json.gz")
    names = {r.path: r.events for r in summary.files}  # type: ignore[attr-defined]
    assert names == {
        f"{tmp_path}/b.json": 5,
        f"{tmp_path}/bundle.zip!a.json": 2,
        f"{tmp_path}/bundle.zip!nested.tar.gz!logs/security.json": 3,
    }
    rows = store.query("SELECT count(*) AS n, min(process_name) AS p FROM events").to_pylist()
    assert rows == [{"n": 10, "p": "a.exe"}]


def test_content_not_name_decides(tmp_path: Path) -> None:
    (tmp_path / "misleading.evtx").write_bytes(_lines(2))
    _, summary = _ingest(tmp_path, tmp_path / "misleading.evtx")
    assert [(r.format, r.events) for r in summary.files] == [("windows-json", 2)]  # type: ignore[attr-defined]


def test_malformed_lines_are_quarantined_with_position(tmp_path: Path) -> None:
    good = json.dumps(EVENT)
    (tmp_path / "mixed.json").write_text(f"{good}\n{good}\n{{broken\n\n{good}\n[1, 2]\n")
    store, summary = _ingest(tmp_path, tmp_path / "mixed.json")
    result = summary.files[0]  # type: ignore[attr-defined]
    assert (result.events, result.quarantined, result.error) == (3, 2, None)
    quarantined = [
        orjson.loads(line)
        for f in (tmp_path / "quarantine").glob("*.jsonl")
        for line in f.read_bytes().splitlines()
    ]
    assert [(q["path"], q["position"], q["raw"]) for q in quarantined] == [
        (str(tmp_path / "mixed.json"), 3, "{broken"),
        (str(tmp_path / "mixed.json"), 6, "[1, 2]"),
    ]
    assert all(q["reason"] for q in quarantined)
    assert store.query("SELECT count(*) AS n FROM windows").to_pylist() == [{"n": 3}]


def test_unknown_and_damaged_inputs_do_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(bytes(range(256)))
    (tmp_path / "b.zip").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "c.json").write_bytes(_lines(2))
    store, summary = _ingest(tmp_path, tmp_path)
    errors = {r.path: r.error for r in summary.files if r.error}  # type: ignore[attr-defined]
    assert errors[str(tmp_path / "a.bin")] == f"{tmp_path / 'a.bin'}: not a supported log format"
    assert "b.zip" in errors[str(tmp_path / "b.zip")]
    assert store.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 2}]
