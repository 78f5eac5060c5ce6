"""Exercises: replay a built-in scenario and a corpus folder as drills, kept apart from real work."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import corpus
from watchfloor.cases import (
    IncidentFilter,
    acknowledge,
    actor_for,
    list_incidents,
    open_database,
    receive_alerts,
)
from watchfloor.cases.intake import IncomingAlert
from watchfloor.cli.app import cli
from watchfloor.config import load_settings
from watchfloor.demo.run import DEMO_RULES
from watchfloor.exercises import SCENARIOS, drill_clocks, run_exercise
from watchfloor.metrics import MetricsQuery, compute_metrics
from watchfloor.store import DuckDBEventStore


def _installation(data: Path) -> CliRunner:
    runner = CliRunner()
    env = {"WATCHFLOOR_USER": "lead"}
    assert (
        runner.invoke(
            cli, ["--data-dir", str(data), "users", "add", "lead", "--role", "tier3"], env=env
        ).exit_code
        == 0
    )
    return runner


def test_builtin_scenario_drill_is_detected_reported_and_isolated(tmp_path: Path) -> None:
    data = tmp_path / "wf"
    runner = _installation(data)
    base = ["--data-dir", str(data)]
    assert runner.invoke(cli, [*base, "rules", "load", str(DEMO_RULES)]).exit_code == 0
    settings = load_settings(data)
    database = open_database(None, data)
    real_time = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with database.session() as session:
        real = receive_alerts(
            session,
            [
                IncomingAlert(
                    "real-1", "r-real", "Real thing", "high", real_time, hosts=("ws-042.corp.example",)
                )
            ],
        ).opened
    before = DuckDBEventStore(settings.events_dir).sources()

    out = runner.invoke(cli, [*base, "exercise", "run", "demo-intrusion", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    steps = {s["name"]: s for s in report["steps"]}
    assert len(steps) == len(SCENARIOS["demo-intrusion"].steps) == 10
    assert (
        steps["Encoded PowerShell stager"]["detected"]
        and steps["Encoded PowerShell stager"]["technique_detected"]
    )
    assert steps["LSASS memory read"]["techniques"] == ["T1003.001"]
    assert not steps["Lateral movement with svc_backup"]["detected"]  # the gap the drill is meant to find
    assert report["coverage"]["missed"] == ["T1021.002"] and len(report["coverage"]["detected"]) == 9
    assert report["steps_detected"] == 9 and report["incidents"]

    # events: only in the drill's own store, shifted to now, every one marked with the run
    assert DuckDBEventStore(settings.events_dir).sources() == before
    drill = DuckDBEventStore(data / "exercises" / report["run_id"] / "events")
    [row] = drill.query(
        "SELECT count(*) AS n, max(time) AS latest, min(time) AS first FROM events"
    ).to_pylist()
    assert row["n"] == report["events"] == 31
    assert dt.datetime.now(dt.UTC) - row["latest"] < dt.timedelta(minutes=5)
    assert row["latest"] - row["first"] == dt.timedelta(minutes=30, seconds=21)  # spacing kept
    marks = drill.query("SELECT DISTINCT exercise_run FROM windows").to_pylist()
    assert marks == [{"exercise_run": report["run_id"]}]

    # incidents: exercise only; not in the default queue, not in real metrics; real work untouched
    with database.session() as session:
        queue = [i.id for i in list_incidents(session, IncidentFilter(limit=100))]
        drills = [i.id for i in list_incidents(session, IncidentFilter(is_exercise=True, limit=100))]
        real_metrics = compute_metrics(session, MetricsQuery())
        exercise_metrics = compute_metrics(session, MetricsQuery(exercises=True))
    assert queue == list(real) and sorted(drills) == sorted(report["incidents"])
    assert [r.id for r in real_metrics.rows] == list(real)
    assert {r.id for r in exercise_metrics.rows} == set(report["incidents"])
    listed = runner.invoke(cli, [*base, "incidents", "list", "--json"], env={"WATCHFLOOR_USER": "lead"})
    assert [i["id"] for i in json.loads(listed.output)] == list(real)

    # the drill's clocks run once analysts work its incidents
    with database.session() as session:
        acknowledge(session, actor_for(session, "lead"), report["incidents"][0], None)
    with database.session() as session:
        mtta, mttr = drill_clocks(session, tuple(report["incidents"]))
    database.close()
    assert mtta.count == 1 and mtta.mean_s is not None and mttr.count == 0
    again = runner.invoke(cli, [*base, "exercise", "report", report["run_id"]])
    assert json.loads(again.output)["mtta"]["count"] == 1

    text = runner.invoke(cli, [*base, "exercise", "run", "demo-intrusion"])
    assert "9 of 10 steps detected" in text.output and "ATT&CK coverage: 9/10" in text.output
    assert "missed:   T1021.002" in text.output and "MTTA: not yet" in text.output


def test_corpus_folder_drill(tmp_path: Path) -> None:
    folder = corpus("evtx-attack-samples", "Command and Control")
    rules = corpus("sigma", "rules", "windows", "network_connection")
    data = tmp_path / "wf"
    runner = _installation(data)
    assert runner.invoke(cli, ["--data-dir", str(data), "rules", "load", str(rules)]).exit_code == 0
    report = run_exercise(load_settings(data), str(folder))
    names = sorted(p.name for p in folder.glob("*.evtx"))
    assert [s.name for s in report.steps] == names and report.events > 1000
    assert report.rules_active > 10 and report.alerts > 0
    detected = [s for s in report.steps if s.detected]
    assert detected and all(s.rule_ids for s in detected)
    assert report.incidents and not report.errors
    database = open_database(None, data)
    with database.session() as session:
        assert list_incidents(session) == []  # nothing in the real queues
        assert compute_metrics(session, MetricsQuery()).incidents == 0
    database.close()
