"""The CLI as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import corpus


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watchfloor", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_ingest_then_hunt(tmp_path: Path) -> None:
    sample = corpus("evtx-attack-samples")
    evtx = sorted(sample.rglob("*.evtx"))[:3]
    done = run("--data-dir", str(tmp_path), "ingest", *map(str, evtx), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["events"] > 0 and summary["by_format"] == {"evtx": summary["events"]}
    hunt = run("--data-dir", str(tmp_path), "hunt", "SELECT count(*) AS n FROM events", "--format", "json")
    assert json.loads(hunt.stdout) == [{"n": summary["events"]}]
    csv_out = run("--data-dir", str(tmp_path), "hunt", "SELECT 1 AS a, 'x' AS b", "--format", "csv")
    assert csv_out.stdout.splitlines() == ["a,b", "1,x"]


def test_unknown_file_is_one_line_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.bin"
    junk.write_bytes(b"\x00\x01\x02 nothing to see")
    done = run("--data-dir", str(tmp_path / "d"), "ingest", str(junk))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[0] == f"error: {junk}: not a supported log format"


def test_bad_sql_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    done = run("--data-dir", str(tmp_path), "hunt", "DELETE FROM events")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: only SELECT queries are allowed here (got DELETE)"


def test_data_dir_from_environment(tmp_path: Path) -> None:
    env_dir = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-m", "watchfloor", "sources", "--json"],
        capture_output=True,
        text=True,
        env={"WATCHFLOOR_HOME": str(env_dir), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
