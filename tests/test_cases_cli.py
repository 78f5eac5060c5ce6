"""The incident commands as a user runs them: a real subprocess against SQLite and PostgreSQL."""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.test_cases_support import alert, db_url, pg_schema_url  # noqa: F401
from watchfloor.cases import open_database, receive_alerts


def _entry() -> list[str]:
    return [sys.executable, "-m", "watchfloor"]


def test_cli_end_to_end(db_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "wf"
    env = {**os.environ, "WATCHFLOOR_DB": db_url, "WATCHFLOOR_USER": "ann"}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*_entry(), "--data-dir", str(data_dir), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    run("users", "add", "ann", "--role", "tier1", "--name", "Ann Analyst")
    run("users", "add", "bo", "--role", "tier2", "--as", "ann", ok=False)  # only admins add more users
    run("users", "add", "root", "--role", "admin", "--as", "ann", ok=False)
    database = open_database(db_url, data_dir)
    with database.session() as session:
        from watchfloor.cases import Actor, Role, add_user

        add_user(session, Actor("setup", Role.ADMIN), "ada", "admin")
        result = receive_alerts(
            session, [alert("c1", 0, hosts=("ws1",)), alert("c2", 1, hosts=("db1",), severity="critical")]
        )
    database.close()
    run("users", "add", "bo", "--role", "tier2", "--as", "ada")
    first, second = result.incident_of("c1"), result.incident_of("c2")

    listed = json.loads(run("incidents", "list", "--json").stdout)
    assert [(i["id"], i["severity"], i["state"], i["queue"]) for i in listed] == [
        (second, "critical", "new", "tier1"),
        (first, "high", "new", "tier1"),
    ]
    assert json.loads(run("incidents", "list", "--severity", "critical", "--json").stdout)[0]["id"] == second
    text = run("incidents", "list").stdout
    assert f"#{first}" in text and "(2 incidents)" in text

    acked = json.loads(run("incidents", "ack", str(first), "--json").stdout)
    assert (acked["state"], acked["acknowledged_by"]) == ("acknowledged", "ann")
    again = run("incidents", "ack", str(first), ok=False)
    assert again.returncode == 1
    assert (
        again.stderr.strip() == "error: cannot acknowledge an incident that is acknowledged (only from: new)"
    )

    stale = run("incidents", "assign", str(first), "--to", "ann", "--expect-version", "1", ok=False)
    assert stale.returncode == 1 and "changed since you read it" in stale.stderr
    assigned = json.loads(run("incidents", "assign", str(second), "--to", "bo", "--json").stdout)
    assert assigned["assignee"] == "bo"

    up = json.loads(
        run("incidents", "escalate", str(first), "--to-tier", "2", "--note", "needs AD logs", "--json").stdout
    )
    assert (up["incident"]["tier"], up["escalation"]["from_tier"], up["escalation"]["handoff_note"]) == (
        2,
        1,
        "needs AD logs",
    )
    assert up["escalation"]["evidence_snapshot"] == ["ev-c1"]
    denied = run("incidents", "deescalate", str(first), "--to-tier", "1", "--note", "back", ok=False)
    assert denied.returncode == 1 and "needs tier 2" in denied.stderr
    down = run(
        "incidents", "deescalate", str(first), "--to-tier", "1", "--note", "use RB-3", "--as", "bo", "--json"
    )
    assert json.loads(down.stdout)["incident"]["queue"] == "tier1"

    no_verdict = run("incidents", "close", str(first), "--remediation", "manual", ok=False)
    assert no_verdict.returncode == 1 and "needs a verdict" in no_verdict.stderr
    closed = run(
        "incidents", "close", str(first), "--verdict", "true_positive", "--remediation", "automated",
        "--action", "isolated ws1", "--json",
    )  # fmt: skip
    body = json.loads(closed.stdout)
    assert (body["state"], body["verdict"], body["remediation_kind"], body["remediation_actions"]) == (
        "closed",
        "true_positive",
        "automated",
        ["isolated ws1"],
    )
    shown = json.loads(run("incidents", "show", str(first), "--json").stdout)
    assert [e["direction"] for e in shown["escalations"]] == ["escalate", "deescalate"]
    assert [a["uid"] for a in shown["alerts"]] == ["c1"]
    missing = run("incidents", "show", "999", ok=False)
    assert missing.returncode == 1 and missing.stderr.strip() == "error: incident 999 does not exist"

    verified = json.loads(run("audit", "verify", "--json").stdout)
    assert verified["ok"] and verified["entries"] >= 12
    assert "audit log intact" in run("audit", "verify").stdout

    unknown = run("incidents", "ack", str(second), "--as", "ghost", ok=False)
    assert unknown.returncode == 1 and "unknown user 'ghost'" in unknown.stderr
