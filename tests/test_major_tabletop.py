"""Tabletop exercises: scenario validation, timed injects, responses, and the after-action gaps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchfloor.cases import (
    Actor,
    Role,
    add_user,
    after_action,
    due_injects,
    entries,
    list_incidents,
    open_database,
    parse_tabletop,
    record_response,
    render_after_action,
    start_tabletop,
)
from watchfloor.cases.queries import IncidentFilter
from watchfloor.cli.app import cli
from watchfloor.errors import ConfigError

SCENARIO = """
name: Ransomware at payments
description: The payments database is encrypted on a Friday evening.
injects:
  - at: 0m
    audience: executives
    text: Customers cannot pay; the payments database shows a ransom note.
    expected: [activate the crisis team, notify legal]
  - at: +30m
    audience: legal
    text: A journalist asks whether card data was stolen.
    expected: [hold statement approved by legal]
  - at: 1h
    audience: communications
    text: The attacker posts a sample of customer records.
    expected: [notify the regulator within 72 hours]
"""
T0 = dt.datetime(2026, 6, 5, 17, 0, tzinfo=dt.UTC)
FACILITATOR = Actor("facilitator", Role.STAKEHOLDER)


def test_scenario_errors_name_the_file_and_inject(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    inject = "  - at: {}\n    audience: a\n    text: t\n"
    bad.write_text("name: x\ninjects:\n" + inject.format("10m") + inject.format("5m"))
    with pytest.raises(ConfigError, match="time order") as raised:
        parse_tabletop(bad)
    assert str(raised.value.location) == f"{bad}, field 'injects[2]'"
    bad.write_text("name: x\ninjects:\n  - at: soon\n    audience: a\n    text: t\n")
    with pytest.raises(ConfigError, match="inject time 'soon'"):
        parse_tabletop(bad)


def test_tabletop_run_records_responses_and_reports_gaps(tmp_path: Path) -> None:
    path = tmp_path / "ransomware.yml"
    path.write_text(SCENARIO, encoding="utf-8")
    scenario = parse_tabletop(path)
    assert [i.at_minutes for i in scenario.injects] == [0, 30, 60]
    database = open_database(None, tmp_path / "wf")
    with database.session() as session:
        run_id = start_tabletop(session, FACILITATOR, scenario, now=T0)
        assert [i.number for i in due_injects(session, run_id, T0 + dt.timedelta(minutes=31))] == [1, 2]
        minute = lambda n: T0 + dt.timedelta(minutes=n)  # noqa: E731
        record_response(
            session,
            FACILITATOR,
            run_id,
            inject=1,
            participant="CEO",
            decision="Activate crisis team now",
            now=minute(4),
        )
        record_response(
            session, FACILITATOR, run_id, inject=2, participant="Counsel",
            decision="Hold statement, approved by Legal, goes out", now=minute(40),
        )  # fmt: skip
        record_response(
            session, FACILITATOR, run_id, inject=3, participant="CEO", decision="Wait", now=minute(70)
        )
        report = after_action(session, run_id)
        trail = [e.action for e in entries(session, target_type="tabletop", target_id=run_id)]
        assert list_incidents(session, IncidentFilter(is_exercise=None)) == []  # nothing reaches the queues
    database.close()
    assert trail == ["tabletop.started", *["tabletop.responded"] * 3]
    first, second, third = report.results
    assert first.made == ("activate the crisis team",) and first.gaps == ("notify legal",)
    assert second.gaps == () and second.responses[0][2] == 10.0  # answered 10 minutes after the prompt
    assert third.gaps == ("notify the regulator within 72 hours",)
    assert report.gaps == 2 and report.participation == (("CEO", 2), ("Counsel", 1))
    assert report.action_items == (
        ("executives", "Agree who decides to notify legal (inject 1)"),
        ("communications", "Agree who decides to notify the regulator within 72 hours (inject 3)"),
    )
    markdown = render_after_action(report)
    assert "2 of 4 expected decisions made, 2 gaps" in markdown and "- **gap**: notify legal" in markdown


def test_tabletop_cli(tmp_path: Path) -> None:
    path = tmp_path / "ransomware.yml"
    path.write_text(SCENARIO, encoding="utf-8")
    data_dir = tmp_path / "wf"
    database = open_database(None, data_dir)
    with database.session() as session:
        add_user(session, Actor("setup", Role.ADMIN), "fac", Role.STAKEHOLDER.value)
    database.close()
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(
            cli, ["--data-dir", str(data_dir), "exercise", "tabletop", *args, "--as", "fac"]
        )
        assert result.exit_code == 0, result.output
        return result.output

    assert "inject 3 at +60m" in run("run", str(path))
    assert "inject 1 (+0m, executives)" in run("injects", "1")
    run(
        "respond", "1", "--inject", "1", "--by", "CEO", "--decision", "Activate the crisis team; notify legal"
    )
    report = run("report", "1")
    assert "2 of 4 expected decisions made" in report and "(owner: legal)" in report
