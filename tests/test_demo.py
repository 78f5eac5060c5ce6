"""`watchfloor demo`: the built-in scenario is read completely by the formats it was written for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from watchfloor.demo import write_scenario
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore


def test_every_scenario_file_is_read_by_its_own_format(tmp_path: Path) -> None:
    files = write_scenario(tmp_path / "telemetry")
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths(files, store, tmp_path / "q")
    assert summary.quarantined == 0 and not summary.errors
    assert {Path(r.path).name: r.format for r in summary.files} == {
        "bastion_auth.log": "syslog",
        "okta_system_log.json": "okta",
        "ws042_sysmon_security.json": "windows-json",
        "zeek_conn.log": "zeek",
        "suricata_eve.json": "suricata",
        "cloudtrail_111122223333.json": "cloudtrail",
    }
    assert dict(summary.by_source) == {
        "syslog": 10,
        "okta": 8,
        "windows": 7,
        "zeek_conn": 13,
        "suricata": 1,
        "aws_cloudtrail": 7,
    }
    logins = store.query(
        "SELECT status, count(*) AS n FROM events WHERE metadata_log_name = 'syslog' AND class_uid = 3002 "
        "GROUP BY ALL ORDER BY status"
    ).to_pylist()
    assert logins == [{"status": "Failure", "n": 8}, {"status": "Success", "n": 1}]


def test_demo_command_refuses_a_used_data_dir_without_reset(tmp_path: Path) -> None:
    data = tmp_path / "wf"
    first = subprocess.run(
        [sys.executable, "-m", "watchfloor", "--data-dir", str(data), "demo"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    assert "ingested 46 events from 6 sample files" in first.stdout
    assert "detection: 10 active rules raised 27 alerts" in first.stdout
    assert "incident management: 3 incidents opened, ready to triage" in first.stdout
    # The built-in playbooks: every new incident enriched, the known benign pattern closed automatically.
    assert first.stdout.count("enrich-new-incidents   incident") == 4
    assert "resolve-known-benign   incident #4   succeeded: closed #4 as benign_true_positive" in first.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "watchfloor", "--data-dir", str(data), "incidents", "list", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    queue = json.loads(listed.stdout)
    assert len(queue) == 3 and {i["state"] for i in queue} == {"new"}
    assert sum(i["alert_count"] for i in queue) == 27
    again = subprocess.run(
        [sys.executable, "-m", "watchfloor", "--data-dir", str(data), "demo"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 2
    assert "--reset" in again.stderr
