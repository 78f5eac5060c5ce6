"""The whole shared corpus: every file of a supported kind ingests without an exception, with the exact
number of events per format; only documents, rules metadata and packet captures are refused."""

from __future__ import annotations

from pathlib import Path

from evtx import PyEvtxParser

from tests.conftest import CORPORA, corpus
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

FOLDERS = (
    "evtx-attack-samples",
    "sigma/regression_data",
    "security-datasets",
    "suricata-sample-data",
    "linux-auth",
)
EXPECTED_BY_FORMAT = {
    "auditd": 18,
    "auditd-sentinel": 50,
    "cloudtrail": 103,
    "csv": 301,
    "entra": 4,
    "evtx": 5293,
    "evtx-json": 169,
    "sentinel": 15,
    "suricata": 343,
    "syslog": 10,
    "sysmon-linux-sentinel": 93,
    "windows-json": 35983,
    "zeek": 539,
}
#: What is not telemetry: rule metadata, dataset descriptions, licences, signature lists, packet captures.
NOT_TELEMETRY = {".yml", ".yaml", ".md", ".txt", ".pcap", ".pcapng", ".gpl", ""}


def _library_count(path: Path) -> int:
    count = 0
    for record in PyEvtxParser(str(path)).records():
        count += 1 if record else 0
    return count


def test_whole_corpus_ingests_with_exact_counts(tmp_path: Path) -> None:
    for folder in FOLDERS:
        corpus(*folder.split("/"))
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths([CORPORA / f for f in FOLDERS], store, tmp_path / "quarantine")
    assert dict(summary.by_format) == EXPECTED_BY_FORMAT
    assert summary.quarantined == 0
    refused = {Path(r.path.split("!")[-1]).suffix.lower() for r in summary.files if r.error}
    assert refused <= NOT_TELEMETRY, [r.error for r in summary.files if r.error]
    evtx_files = [p for f in FOLDERS for p in (CORPORA / f).rglob("*.evtx")]
    assert summary.by_format["evtx"] == sum(_library_count(p) for p in evtx_files)
    total = store.query("SELECT count(*) AS n FROM events").to_pylist()[0]["n"]
    assert total == summary.events == sum(EXPECTED_BY_FORMAT.values())
