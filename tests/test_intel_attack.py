"""ATT&CK coverage: a technique counts only with an active rule over a source that sends data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner

import watchfloor
from watchfloor.cli.app import cli
from watchfloor.intel import RuleCoverage, attack_matrix, coverage, navigator_layer

DEMO_RULES = Path(watchfloor.__file__).parent / "demo" / "rules"


def test_matrix_is_available_offline() -> None:
    matrix = attack_matrix()
    assert len(matrix) > 600
    assert matrix["T1059.001"].name == "PowerShell" and matrix["T1059.001"].subtechnique
    assert "execution" in matrix["T1059"].tactics


def test_coverage_counts_rules_only_over_sources_with_data() -> None:
    rules = [
        RuleCoverage("r1", ("t1071.001",), "zeek_conn"),
        RuleCoverage("r2", ("T1490",), "windows"),
        RuleCoverage("r3", ("T9999",), "zeek_conn"),
    ]
    result = coverage(rules, ["zeek_conn"])
    assert result.covered == {"T1071.001": ["r1"]}
    assert result.no_data == {"T1490": ["r2"]}
    assert result.unknown == ["T9999"]
    layer = navigator_layer(result)
    assert layer["versions"]["layer"] == "4.5" and layer["domain"] == "enterprise-attack"
    by_id = {(t["techniqueID"], t["tactic"]): t for t in layer["techniques"]}
    assert by_id[("T1071.001", "command-and-control")]["score"] == 1
    assert by_id[("T1490", "impact")]["color"] == "#bdbdbd" and "score" not in by_id[("T1490", "impact")]


def test_coverage_command_with_demo_rules(tmp_path: Path) -> None:
    data = tmp_path / "wf"
    runner = CliRunner()
    loaded = runner.invoke(cli, ["--data-dir", str(data), "rules", "load", str(DEMO_RULES)])
    assert loaded.exit_code == 0, loaded.output
    now = dt.datetime.now(dt.UTC).timestamp()
    conn = tmp_path / "conn.log"
    record = {
        "_path": "conn",
        "ts": now,
        "uid": "C1",
        "id.orig_h": "10.0.0.1",
        "id.orig_p": 5000,
        "id.resp_h": "192.0.2.1",
        "id.resp_p": 443,
        "proto": "tcp",
    }
    conn.write_text(json.dumps(record) + "\n", encoding="utf-8")
    assert runner.invoke(cli, ["--data-dir", str(data), "ingest", str(conn)]).exit_code == 0
    layer_path = tmp_path / "layer.json"
    done = runner.invoke(
        cli, ["--data-dir", str(data), "intel", "coverage", "--layer", str(layer_path), "--json"]
    )
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert list(summary["covered_techniques"]) == ["T1071.001"]  # only Zeek sends data
    assert summary["rules_without_data"] >= 8
    layer = json.loads(layer_path.read_text(encoding="utf-8"))
    assert any(t["techniqueID"] == "T1071.001" and t.get("score") == 1 for t in layer["techniques"])


def test_report_renders_escaped_and_compares() -> None:
    import datetime as dt

    from watchfloor.intel import ReportAlert, build_summary, changes_since, render_html, render_markdown

    end = dt.datetime(2026, 6, 8, tzinfo=dt.UTC)
    start = end - dt.timedelta(days=7)
    alerts = [
        ReportAlert(
            end - dt.timedelta(days=1),
            "r1",
            "high",
            "windows",
            ("<script>x</script>",),
            ("ana",),
            ("T1059.001",),
        ),
        ReportAlert(end - dt.timedelta(days=30), "r2", "low", "windows", ("old-host",), (), ("T1490",)),
    ]
    sightings = [{"type": "ipv4", "value": "198.51.100.7", "feed": "f", "time": end - dt.timedelta(days=2)}]
    summary = build_summary(start, end, alerts, sightings, {"true_positive": 1}, {"T1059.001": "PowerShell"})
    assert summary["alerts"] == 1 and summary["techniques"] == [("T1059.001", "PowerShell", 1)]
    assert summary["targeted_hosts"] == [("<script>x</script>", 1)]
    previous = build_summary(start - dt.timedelta(days=30), start, alerts, [], {}, {})
    changes = changes_since(summary, previous)
    assert changes["new_techniques"] == ["T1059.001"] and changes["techniques_no_longer_seen"] == ["T1490"]
    assert changes["new_indicators"] == ["ipv4:198.51.100.7"]
    page = render_html(summary, changes)
    assert "<script>x" not in page and "&lt;script&gt;x" in page
    assert "| T1059.001 | PowerShell | 1 |" in render_markdown(summary, changes)
