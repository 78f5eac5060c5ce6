"""`rules load|list|test`, `detect` and `alerts list` through click, on generated data."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from watchfloor.cli.detect import alerts, detect, rules
from watchfloor.config import load_settings
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

RULE = """title: Whoami run
id: 0f5a3a49-5d4e-4b7c-9a53-7c1f0f7c2b11
status: test
level: medium
tags: [attack.discovery, attack.t1033]
logsource:
  product: windows
  category: process_creation
detection:
  sel:
    Image|endswith: '\\\\whoami.exe'
  condition: sel
"""
EVENT = {
    "EventID": 1,
    "Channel": "Microsoft-Windows-Sysmon/Operational",
    "Computer": "ws9",
    "TimeCreated": "2024-06-01T08:00:00Z",
    "Image": "C:\\\\Windows\\\\System32\\\\whoami.exe",
}


@click.group()
@click.option("--data-dir", type=click.Path(path_type=Path))
@click.pass_context
def cli(ctx: click.Context, data_dir: Path) -> None:
    ctx.obj = load_settings(data_dir, environ={})


cli.add_command(rules)
cli.add_command(detect)
cli.add_command(alerts)


def test_rules_detect_alerts(tmp_path: Path) -> None:
    data = tmp_path / "wf"
    rules_dir = tmp_path / "mine"
    rules_dir.mkdir()
    (rules_dir / "whoami.yml").write_text(RULE, encoding="utf-8")
    (rules_dir / "broken.yml").write_text("title: [\n", encoding="utf-8")
    sample = tmp_path / "events.jsonl"
    sample.write_text(json.dumps(EVENT).replace("\\\\\\\\", "\\\\") + "\n", encoding="utf-8")
    ingest_paths([sample], DuckDBEventStore(data / "events"), data / "quarantine")
    runner = CliRunner()
    args = ["--data-dir", str(data)]

    loaded = runner.invoke(cli, [*args, "rules", "load", str(rules_dir)])
    assert loaded.exit_code == 0, loaded.output
    assert "1 active" in loaded.output and "broken.yml, line 2" in loaded.output

    listed = json.loads(runner.invoke(cli, [*args, "rules", "list", "--json"]).output)
    assert [(r["id"], r["status"]) for r in listed] == [("0f5a3a49-5d4e-4b7c-9a53-7c1f0f7c2b11", "active")]

    tested = runner.invoke(
        cli, [*args, "rules", "test", str(rules_dir / "whoami.yml"), str(sample), "--json"]
    )
    assert json.loads(tested.output)[0]["matches"] == 1
    untested = runner.invoke(cli, [*args, "rules", "test"])  # the library's rules carry no samples
    assert untested.exit_code == 0 and "0 rules tested" in untested.output

    for _ in range(2):  # detection twice: still one alert
        ran = runner.invoke(cli, [*args, "detect", "--json"])
        assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["new_alerts"] == 0
    found = json.loads(runner.invoke(cli, [*args, "alerts", "list", "--json"]).output)
    assert len(found) == 1 and found[0]["rule_id"] == "0f5a3a49-5d4e-4b7c-9a53-7c1f0f7c2b11"
    assert {"type": "host", "value": "ws9"} in found[0]["entities"]

    later = runner.invoke(cli, [*args, "detect", "--since", "2030-01-01", "--json"])
    assert json.loads(later.output)["matches"] == 0
