"""`watchfloor playbooks ...` and `watchfloor runbooks ...` on a real installation directory."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from pytest_httpserver import HTTPServer

from tests.test_cases_support import alert
from watchfloor.cases import (
    Actor,
    Role,
    add_comment,
    add_task,
    add_user,
    close,
    open_database,
    receive_alerts,
    show_incident,
)
from watchfloor.cli.playbooks import playbooks, runbooks
from watchfloor.config import load_settings
from watchfloor.errors import WatchfloorError
from watchfloor.respond import IDEMPOTENCY_HEADER, ApprovalError, RespondError


@click.group()
@click.option("--data-dir", type=click.Path(path_type=Path))
@click.pass_context
def cli(ctx: click.Context, data_dir: Path) -> None:
    ctx.obj = load_settings(data_dir, environ={})


cli.add_command(playbooks)
cli.add_command(runbooks)

CONTAIN = """
name: contain-host
version: 2
description: Isolate the host of a credential-theft incident, after approval.
trigger: {on: incident.created, rule: r-mimikatz}
steps:
  - id: isolate
    act: {connector: edr, action: isolate_host, params: {host: "{{ entities.host[0] }}"}}
    retries: 2
    backoff: 10ms
  - id: note
    set: {comment: "isolated {{ steps.isolate.connector }}: {{ steps.isolate.response.job }}"}
samples:
  - {rule_id: r-mimikatz, rule_title: Mimikatz use, severity: high, hosts: [ws-7]}
"""


@pytest.fixture
def home(tmp_path: Path, httpserver: HTTPServer) -> Path:
    data = tmp_path / "wf"
    (data / "playbooks").mkdir(parents=True)
    (data / "playbooks" / "contain-host.yml").write_text(CONTAIN)
    (data / "watchfloor.toml").write_text(
        f"""
[connectors.edr]
type = "rest"
base_url = "{httpserver.url_for("/api").rstrip("/")}"
secrets = {{ token = "edr-token-for-tests" }}
headers = {{ Authorization = "Bearer {{{{ secrets.token }}}}" }}
[connectors.edr.actions.isolate_host]
path = "/hosts/{{{{ params.host }}}}/isolate"
body = {{ host = "{{{{ params.host }}}}" }}
"""
    )
    database = open_database(None, data)
    setup = Actor("setup", Role.ADMIN)
    with database.session() as session:
        add_user(session, setup, "alice", "tier1")
        add_user(session, setup, "bob", "tier2")
        receive_alerts(session, [alert("c1", hosts=("ws-7",))])
    database.close()
    return data


def wf(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(home), *args])


def test_list_run_approve_and_runs(home: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/hosts/ws-7/isolate", method="POST").respond_with_json({"job": "j-42"})
    listed = json.loads(wf(home, "playbooks", "list", "--json").output)
    assert {p["name"]: p["version"] for p in listed["playbooks"]} == {
        "contain-host": 2,
        "enrich-new-incidents": 1,
        "resolve-known-benign": 1,
    }
    started = wf(home, "playbooks", "run", "contain-host", "--incident", "1", "--as", "alice", "--json")
    assert started.exit_code == 0, started.output
    run = json.loads(started.output)
    assert run["state"] == "waiting_approval" and run["waiting_step"] == "isolate" and not httpserver.log
    refused = wf(home, "playbooks", "approve", str(run["id"]), "--as", "alice")
    assert isinstance(refused.exception, ApprovalError) and "needs tier 2" in str(refused.exception)
    approved = wf(home, "playbooks", "approve", str(run["id"]), "--as", "bob")
    assert approved.exit_code == 0, approved.output
    assert f"run {run['id']} contain-host v2 on incident #1: succeeded" in approved.output
    [(request, _)] = httpserver.log
    assert request.headers["Authorization"] == "Bearer edr-token-for-tests"
    assert request.headers[IDEMPOTENCY_HEADER] == f"wf-{run['uid']}-isolate"
    runs = json.loads(wf(home, "playbooks", "runs", "--json").output)
    assert [(r["playbook"], r["state"]) for r in runs] == [("contain-host", "succeeded")]
    assert "edr-token-for-tests" not in json.dumps(runs)
    database = open_database(None, home)
    with database.session() as session:
        comments = [c.body for c in show_incident(session, 1).comments]
    database.close()
    assert comments == ["isolated edr: j-42"]


def test_playbooks_test_dry_runs_samples_and_fails_on_a_broken_step(
    home: Path, httpserver: HTTPServer
) -> None:
    tested = wf(home, "playbooks", "test", "contain-host")
    assert tested.exit_code == 0, tested.output
    assert "== contain-host v2: ok (alerts from recorded alerts)" in tested.output
    assert "would_send: {'host': 'ws-7'}" in tested.output and not httpserver.log
    every = json.loads(wf(home, "playbooks", "test", "--json").output)
    assert {r["playbook"]: r["alerts_from"] for r in every} == {
        "contain-host": "recorded alerts",
        "enrich-new-incidents": "recorded alerts",
        "resolve-known-benign": "samples",
    }
    assert all(r["ok"] for r in every)
    (home / "playbooks" / "bad.yml").write_text(
        "name: bad\ntrigger: {on: incident.created}\n"
        "steps: [{id: shut, close: {verdict: probably_fine}}]\n"
        "samples: [{rule_id: r1, severity: low, hosts: [h1]}]\n"
    )
    failed = wf(home, "playbooks", "test", "bad")
    assert isinstance(failed.exception, RespondError) and "bad" in str(failed.exception)
    assert "unknown verdict 'probably_fine'" in failed.output


def test_runbooks_from_a_resolved_incident(home: Path) -> None:
    database = open_database(None, home)
    bob = Actor("bob", Role.TIER2)
    with database.session() as session:
        add_task(session, bob, 1, "Check the parent process", "Which process opened lsass?")
        add_task(session, bob, 1, "Reset the user's password")
        add_comment(session, bob, 1, "It was the backup agent, not mimikatz")
        close(session, bob, 1, None, "benign_true_positive", "manual")
    database.close()
    refused = wf(home, "runbooks", "from-incident", "1", "--name", "lsass-triage", "--as", "alice")
    assert isinstance(refused.exception, WatchfloorError) and "tier 2" in str(refused.exception)
    made = wf(home, "runbooks", "from-incident", "1", "--name", "lsass-triage", "--as", "bob", "--json")
    assert json.loads(made.output)["tasks"] == ["Check the parent process", "Reset the user's password"]
    books = json.loads(wf(home, "runbooks", "list", "--json").output)
    assert books == [
        {
            "match_kind": "rule",
            "match_value": "r-mimikatz",
            "tasks": ["Check the parent process", "Reset the user's password"],
        }
    ]
    skeleton = wf(home, "runbooks", "from-incident", "1", "--name", "lsass-auto", "--playbook", "--as", "bob")
    assert skeleton.exit_code == 0, skeleton.output
    listed = json.loads(wf(home, "playbooks", "list", "--json").output)
    assert "lsass-auto" in {p["name"] for p in listed["playbooks"]} and not listed["errors"]
    assert "backup agent" in (home / "playbooks" / "lsass-auto.yml").read_text()
    tested = wf(home, "playbooks", "test", "lsass-auto")
    assert tested.exit_code == 0, tested.output
