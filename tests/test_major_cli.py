"""`watchfloor major ...` and `watchfloor report targets` end to end, with a real Slack-style receiver."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from pytest_httpserver import HTTPServer

from tests.test_cases_support import alert
from watchfloor.cases import Actor, Role, add_user, open_database, receive_alerts
from watchfloor.cli.app import cli


def test_major_cli_end_to_end(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    data_dir = tmp_path / "wf"
    data_dir.mkdir()
    (data_dir / "watchfloor.toml").write_text(
        f"""
[connectors.exec-room]
type = "slack"
url = "{httpserver.url_for("/slack")}"

[major.audiences.executives]
channel = "slack:exec-room"
""",
        encoding="utf-8",
    )
    database = open_database(None, data_dir)
    with database.session() as session:
        for name, role in (("lead", Role.TIER3), ("ann", Role.TIER1)):
            add_user(session, Actor("setup", Role.ADMIN), name, role.value)
        incident = receive_alerts(session, [alert("m1", hosts=("pay-db01",))]).opened[0]
    database.close()
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(cli, ["--data-dir", str(data_dir), *args])
        assert (result.exit_code == 0) is ok, result.output
        return result

    base = ("--incident", str(incident), "--title", "Payments down", "--service", "Payments")
    run("major", "declare", *base, "--audience", "executives", "--cadence", "30m", "--as", "ann", ok=False)
    run("major", "declare", *base, "--audience", "press", "--as", "lead", ok=False)  # not configured
    declared = json.loads(
        run(
            "major",
            "declare",
            *base,
            "--audience",
            "executives",
            "--cadence",
            "30m",
            "--as",
            "lead",
            "--json",
        ).output
    )
    major_id = str(declared["id"])
    update = json.loads(
        run(
            "major", "update", major_id, "--what-happened", "Ransomware on the payments database",
            "--impact", "No card payments", "--doing", "Restoring from backup", "--next", "15m",
            "--as", "lead", "--json",
        ).output
    )  # fmt: skip
    assert update["deliveries"][0]["status"] == "sent"
    posted = json.loads(httpserver.log[0][0].get_data())
    assert "No card payments" in posted["text"]
    assert json.loads(run("major", "due", "--json", "--as", "lead").output) == []
    run("major", "ack", str(update["id"]), "--audience", "executives", "--by", "CFO", "--as", "ann")
    run(
        "major",
        "action",
        "add",
        major_id,
        "--owner",
        "dba",
        "--due",
        "2026-12-01",
        "--text",
        "Test restores",
        "--as",
        "lead",
    )
    run("major", "close", major_id, "--as", "lead")
    review = run("major", "review", major_id, "--lessons", "Backups saved us.", "--as", "lead").output
    assert "Test restores (owner: dba, due 2026-12-01)" in review and "acknowledged by CFO" in review
    shown = run("major", "show", major_id).output
    assert "ack: CFO" in shown
    report = json.loads(run("report", "targets", "--json").output)
    assert report["true_positive_incidents"] == 0
