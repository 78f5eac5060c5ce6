"""Suppressions and exceptions per rule: conditions, expiry, the CLI, and what `detect` reports."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from watchfloor.cli.detect import detect, rules
from watchfloor.config import load_settings
from watchfloor.detect import (
    AlertStore,
    Condition,
    CorrelationHit,
    Match,
    RuleError,
    RuleLibrary,
    Suppression,
    SuppressionSet,
    SuppressionStore,
    parse_condition,
    run_detection,
)
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

RULE_ID = "2b7c9e41-0d3a-4f5e-8c6b-7a1d2e3f4a01"
RULE = f"""title: Whoami run
id: {RULE_ID}
status: test
level: medium
logsource:
  product: windows
  category: process_creation
detection:
  sel:
    Image|endswith: '\\\\whoami.exe'
  condition: sel
"""
TODAY = dt.datetime.now(dt.UTC).date()


def _event(host: str, command: str) -> dict[str, object]:
    return {
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": host,
        "TimeCreated": "2024-06-01T08:00:00Z",
        "Image": "C:\\Windows\\System32\\whoami.exe",
        "CommandLine": command,
    }


@pytest.fixture
def installation(tmp_path: Path) -> Path:
    """A data directory with the whoami rule and three whoami runs on two hosts."""
    data = tmp_path / "wf"
    (data / "rules").mkdir(parents=True)
    (data / "rules" / "whoami.yml").write_text(RULE, encoding="utf-8")
    sample = tmp_path / "events.jsonl"
    events = [
        _event("lab-01", "whoami /all"),
        _event("ws-07", "whoami"),
        _event("ws-08", "cmd /c backup.cmd && whoami"),
    ]
    sample.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    ingest_paths([sample], DuckDBEventStore(data / "events"), data / "quarantine")
    return data


def _run(data: Path) -> tuple[int, dict[str, int], int]:
    library = RuleLibrary.from_settings(load_settings(data, environ={}))
    run = run_detection(DuckDBEventStore(data / "events"), library, AlertStore(data / "alerts"))
    return run.matches, dict(run.suppressed), len(run.alerts)


def test_exceptions_drop_only_matching_events(installation: Path) -> None:
    store = SuppressionStore(installation / "suppressions")
    assert _run(installation) == (3, {}, 3)
    store.add(
        RULE_ID,
        "sam",
        "lab host runs audits",
        TODAY + dt.timedelta(days=30),
        [Condition("host", "equals", "LAB-01")],
    )
    assert _run(installation) == (3, {RULE_ID: 1}, 2)
    store.add(RULE_ID, "kim", "backup job", TODAY, [parse_condition("CommandLine~BACKUP.cmd")])
    assert _run(installation) == (3, {RULE_ID: 2}, 1)
    store.add("*", "kim", "everything, briefly", TODAY, [parse_condition("host=nowhere")])
    assert _run(installation) == (3, {RULE_ID: 2}, 1)


def test_whole_rule_suppression_and_expiry(installation: Path) -> None:
    root = installation / "suppressions"
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    old = SuppressionStore(root, clock=lambda: past)
    expired = old.add(RULE_ID, "sam", "maintenance window", past.date() + dt.timedelta(days=2))
    assert not expired.active(TODAY) and expired.active(past.date())
    assert _run(installation) == (3, {}, 3)  # expired: no longer applies
    SuppressionStore(root).add(RULE_ID, "sam", "noisy", TODAY)
    assert _run(installation) == (3, {RULE_ID: 3}, 0)


def test_expiry_bounds_and_broken_entries(tmp_path: Path) -> None:
    store = SuppressionStore(tmp_path)
    with pytest.raises(RuleError, match="in the past"):
        store.add(RULE_ID, "sam", "x", TODAY - dt.timedelta(days=1))
    with pytest.raises(RuleError, match="365 days"):
        store.add(RULE_ID, "sam", "x", TODAY + dt.timedelta(days=400))
    with pytest.raises(RuleError, match="FIELD=VALUE"):
        parse_condition("no operator")
    store.add(RULE_ID, "sam", "ok", TODAY)
    text = store.path.read_text(encoding="utf-8")
    store.path.write_text(text + "- {id: hand-1, rule: x, owner: bob}\n", encoding="utf-8")
    found = store.read()
    assert len(found.items) == 1
    assert "entry 2: missing reason, expires" in str(found.errors[0])


def test_correlation_episodes_can_be_silenced() -> None:
    when = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    matches = tuple(Match("base", f"e{i}", when, src_ip="198.51.100.23") for i in range(5))
    hit = CorrelationHit("spray", (("src_ip", "198.51.100.23"),), matches)
    assert SuppressionSet().filter_hits([hit]) == ([hit], {})
    entry = Suppression(
        "s1", "spray", "sam", "scanner", TODAY, "", (Condition("src_ip", "equals", "198.51.100.23"),)
    )
    kept, dropped = SuppressionSet((entry,)).filter_hits([hit])
    assert kept == [] and dropped == {"spray": 1}


@click.group()
@click.option("--data-dir", type=click.Path(path_type=Path))
@click.pass_context
def cli(ctx: click.Context, data_dir: Path) -> None:
    ctx.obj = load_settings(data_dir, environ={})


cli.add_command(rules)
cli.add_command(detect)


def test_cli_roundtrip(installation: Path) -> None:
    runner = CliRunner()
    args = ["--data-dir", str(installation)]
    until = (TODAY + dt.timedelta(days=7)).isoformat()
    made = runner.invoke(
        cli,
        [
            *args,
            "rules",
            "suppress",
            RULE_ID,
            "--owner",
            "sam",
            "--reason",
            "lab",
            "--expires",
            until,
            "--where",
            "host=lab-01",
            "--json",
        ],
    )
    assert made.exit_code == 0, made.output
    entry = json.loads(made.output)
    assert entry["where"] == [{"field": "host", "equals": "lab-01"}] and entry["status"] == "active"

    ran = runner.invoke(cli, [*args, "detect", "--json"])
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.output)
    assert summary["suppressed"] == 1 and summary["suppressed_by_rule"] == {RULE_ID: 1}
    assert summary["matches"] == 3 and summary["new_alerts"] == 2

    listed = json.loads(runner.invoke(cli, [*args, "rules", "suppressions", "--json"]).output)
    assert [e["id"] for e in listed] == [entry["id"]]
    text = runner.invoke(cli, [*args, "rules", "suppressions"]).output
    assert "host equals lab-01" in text and "sam: lab" in text

    bad = runner.invoke(
        cli, [*args, "rules", "suppress", RULE_ID, "--owner", "a", "--reason", "b", "--expires", "tomorrow"]
    )
    assert bad.exit_code != 0

    gone = runner.invoke(cli, [*args, "rules", "unsuppress", entry["id"]])
    assert gone.exit_code == 0 and "removed" in gone.output
    assert json.loads(runner.invoke(cli, [*args, "rules", "suppressions", "--all", "--json"]).output) == []
    log = SuppressionStore(installation / "suppressions").changes()
    assert [(c["action"], c["entry"]["id"]) for c in log] == [("add", entry["id"]), ("remove", entry["id"])]
    missing = runner.invoke(cli, [*args, "rules", "unsuppress", entry["id"]])
    assert missing.exit_code != 0


def test_cli_lists_expired_with_all(installation: Path) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    SuppressionStore(installation / "suppressions", clock=lambda: past).add(
        RULE_ID, "sam", "old", past.date() + dt.timedelta(days=1)
    )
    runner = CliRunner()
    args = ["--data-dir", str(installation)]
    assert json.loads(runner.invoke(cli, [*args, "rules", "suppressions", "--json"]).output) == []
    listed = json.loads(runner.invoke(cli, [*args, "rules", "suppressions", "--all", "--json"]).output)
    assert [e["status"] for e in listed] == ["expired"]
