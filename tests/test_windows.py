"""Windows events: EVTX counts match the evtx library; JSON shapes flatten to the same names."""

from __future__ import annotations

from pathlib import Path

import pytest
from evtx import PyEvtxParser

from tests.conftest import corpus
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore


def _library_count(path: Path) -> int:
    count = 0
    records = PyEvtxParser(str(path)).records()
    while True:
        try:
            next(records)
        except StopIteration:
            return count
        except Exception:  # the library's own damaged-record errors: not an event
            continue
        count += 1


def test_every_attack_sample_evtx_matches_library_count(tmp_path: Path) -> None:
    folder = corpus("evtx-attack-samples")
    files = sorted(folder.rglob("*.evtx"))
    assert len(files) > 100
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths([folder], store, tmp_path / "q")
    by_file = {r.path: r for r in summary.files}
    for path in files:
        result = by_file[str(path)]
        assert result.error is None, result.error
        assert result.format == "evtx"
        assert result.events == _library_count(path), path.name
    total = store.query("SELECT count(*) AS n FROM events").to_pylist()[0]["n"]
    assert total == summary.events == sum(_library_count(p) for p in files)


def test_evtx_and_evtx_json_give_same_fields(tmp_path: Path) -> None:
    case = next(corpus("sigma", "regression_data").rglob("*.evtx"))
    rendered = case.with_suffix(".json")
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths([case, rendered], store, tmp_path / "q")
    assert [r.format for r in summary.files] == ["evtx", "evtx-json"]
    rows = store.query(
        "SELECT EventID, Channel, Computer, ocsf.metadata_log_format AS f FROM windows ORDER BY f"
    ).to_pylist()
    assert len(rows) == 2
    assert {k: v for k, v in rows[0].items() if k != "f"} == {k: v for k, v in rows[1].items() if k != "f"}


def test_shipper_json_lines_keep_producer_names(tmp_path: Path) -> None:
    archive = corpus(
        "security-datasets", "atomic", "windows", "credential_access", "host", "cmd_sam_copy_esentutl.zip"
    )
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths([archive], store, tmp_path / "q")
    assert summary.files[0].format == "windows-json"
    assert summary.files[0].path.endswith(".zip!cmd_sam_copy_esentutl_2020-10-1900290001.json")
    row = store.query(
        "SELECT EventID, SourceAddress, ocsf.src_endpoint_ip AS ip, ocsf.device_hostname AS host "
        "FROM windows WHERE EventID = '5156' LIMIT 1"
    ).to_pylist()[0]
    assert row["ip"] == row["SourceAddress"]
    assert row["host"] == "WORKSTATION5"


@pytest.mark.parametrize("damage_at", [0x1000 + 0x200, 0x11000 + 0x400])
def test_damaged_evtx_chunk_does_not_abort_the_file(tmp_path: Path, damage_at: int) -> None:
    biggest = max(corpus("evtx-attack-samples").rglob("*.evtx"), key=lambda p: p.stat().st_size)
    data = bytearray(biggest.read_bytes())
    data[damage_at : damage_at + 512] = b"\xff" * 512
    broken = tmp_path / "broken.evtx"
    broken.write_bytes(bytes(data))
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths([broken], store, tmp_path / "q")
    result = summary.files[0]
    assert result.error is None
    assert result.events > 0
    assert result.events + result.quarantined >= _library_count(broken)
