"""Running playbooks: retries with backoff, timeouts, approval, crash recovery, audit and metrics."""

# ruff: noqa: F811  (fixtures imported from test_respond_support are parameters of the tests)

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import event, select

from tests.test_cases_support import db_url, pg_schema_url  # noqa: F401
from tests.test_respond_support import db, edr, open_incident, people, playbook, start  # noqa: F401
from watchfloor.cases import Database, show_incident
from watchfloor.cases.audit import entries, verify
from watchfloor.ingest import ingest_paths
from watchfloor.metrics import MetricsQuery, compute_metrics
from watchfloor.respond import (
    INTERRUPTED,
    ApprovalError,
    EnrichSources,
    Environment,
    PlaybookRun,
    PlaybookSet,
    Runner,
    RunState,
    StepRun,
    StepState,
    approve,
    queue_run,
    resume_interrupted,
)
from watchfloor.store import DuckDBEventStore

ISOLATE = """
name: isolate
version: 3
trigger: {on: incident.created}
steps:
  - id: isolate
    act: {connector: edr, action: isolate_host, params: {host: "{{ entities.host[0] }}"}}
    retries: 3
    backoff: 2s
    timeout: 5s
"""


def test_retries_back_off_exponentially_and_the_run_succeeds(db: Database) -> None:
    incident = open_incident(db, hosts=("ws-1",))
    connector = edr(fail_times=2)
    runner, run_id = start(
        db, playbook(ISOLATE.replace("isolate_host", "lookup")), incident, {"edr": connector}
    )
    view = runner.execute(run_id)
    assert view.state == "succeeded", view.reason
    assert runner.backoffs == [2.0, 4.0]
    step = view.steps[0]
    assert step.attempts == 3 and [bool(a["error"]) for a in step.attempt_log] == [True, True, False]
    # The same idempotency key, derived from the run and the step, goes with every attempt.
    keys = {key for _, _, key in connector.calls}
    assert keys == {f"wf-{view.uid}-isolate"} and connector.calls[0][1] == {"host": "ws-1"}


def test_a_hung_connector_fails_the_step_after_its_timeout_and_the_run_with_the_reason(db: Database) -> None:
    incident = open_incident(db, hosts=("ws-1",))
    text = (
        ISOLATE.replace("isolate_host", "lookup").replace("retries: 3", "retries: 1").replace("5s", "300ms")
    )
    runner, run_id = start(db, playbook(text), incident, {"edr": edr(delay=1.5)})
    view = runner.execute(run_id)
    assert view.state == "failed"
    assert view.reason == (
        "step isolate failed after 2 attempt(s): no result within the step timeout of 0.3s"
    )
    assert view.steps[0].state == "failed" and view.steps[0].attempts == 2
    assert runner.backoffs == [2.0]


class _HungIntel:
    """A threat-intel source that does not answer (a stalled TIP behind the lookup)."""

    name = "stalled"

    def lookup(self, kind: str, value: str) -> None:
        time.sleep(1.5)


HUNG_LOCAL = """
name: slow-local
trigger: {on: incident.created}
steps:
  - id: STEP
    BODY
    timeout: 300ms
"""


def test_a_hung_enrichment_source_fails_the_step_after_its_timeout(db: Database) -> None:
    incident = open_incident(db, hosts=("ws-1",))
    text = HUNG_LOCAL.replace("STEP", "look").replace("BODY", "enrich: [prior_incidents, intel]")
    book = playbook(text)
    env = Environment(sources=EnrichSources(intel=_HungIntel()))
    runner = Runner(db, PlaybookSet({book.name: book}), env)
    with db.session() as session:
        run_id = queue_run(session, book, incident, "manual", "test", False).id
    view = runner.execute(run_id)
    assert view.state == "failed"
    assert view.reason == "step look failed after 1 attempt(s): no result within the step timeout of 0.3s"


def test_a_close_step_stuck_on_the_database_times_out_and_changes_nothing(db: Database) -> None:
    """A closure held up past its timeout (a slow or locked database) is abandoned, never applied late."""
    incident = open_incident(db, hosts=("ws-1",))
    text = HUNG_LOCAL.replace("STEP", "shut").replace("BODY", "close: {verdict: false_positive_logic}")
    runner, run_id = start(db, playbook(text), incident)

    def stall_incident_updates(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("UPDATE INCIDENTS"):
            time.sleep(1.5)

    event.listen(db.engine, "before_cursor_execute", stall_incident_updates)
    try:
        view = runner.execute(run_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", stall_incident_updates)
    assert view.state == "failed"
    assert view.reason == "step shut failed after 1 attempt(s): no result within the step timeout of 0.3s"
    time.sleep(1.6)  # the abandoned worker has woken up by now and rolled back
    with db.session() as session:
        detail = show_incident(session, incident)
        assert detail.incident.state != "closed" and detail.incident.verdict is None
        assert list(entries(session, actions=("incident.closed",))) == []
        assert verify(session).ok


def test_related_events_come_from_the_store_whatever_the_spelling_of_the_host(
    db: Database, tmp_path: Path
) -> None:
    lines = [
        {"EventTime": "2026-03-02 09:10:00", "Hostname": "WS-042.corp.example", "EventID": 1,
         "Channel": "Microsoft-Windows-Sysmon/Operational", "Image": "C:\\Windows\\cmd.exe",
         "CommandLine": "cmd /c whoami", "User": "CORP\\j.doe"},
        {"EventTime": "2026-03-02 09:20:00", "Hostname": "WS-042.corp.example", "EventID": 3,
         "Channel": "Microsoft-Windows-Sysmon/Operational", "Image": "C:\\Windows\\cmd.exe"},
        {"EventTime": "2026-03-02 13:00:00", "Hostname": "WS-042.corp.example", "EventID": 1,
         "Channel": "Microsoft-Windows-Sysmon/Operational", "Image": "late.exe"},
        {"EventTime": "2026-03-02 09:10:00", "Hostname": "SRV-9", "EventID": 1,
         "Channel": "Microsoft-Windows-Sysmon/Operational", "Image": "other.exe"},
    ]  # fmt: skip
    source = tmp_path / "sysmon.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    store = DuckDBEventStore(tmp_path / "events")
    ingest_paths([source], store, tmp_path / "quarantine")
    incident = open_incident(db, hosts=("WS-042.corp.example",))  # kept as ws-042.corp.example
    text = (
        HUNG_LOCAL.replace("STEP", "look").replace("BODY", "enrich: [related_events]").replace("300ms", "30s")
    )
    book = playbook(text)
    runner = Runner(db, PlaybookSet({book.name: book}), Environment(sources=EnrichSources(store=store)))
    with db.session() as session:
        run_id = queue_run(session, book, incident, "manual", "test", False).id
    view = runner.execute(run_id)
    assert view.state == "succeeded", view.reason
    related = view.steps[0].outputs["related_events"]
    # The two events on the incident's host within the hour around its alert (09:00), not the later
    # one and not the other host's.
    assert [(e["device_hostname"], e["time"][:19]) for e in related] == [
        ("WS-042.corp.example", "2026-03-02 09:10:00"),
        ("WS-042.corp.example", "2026-03-02 09:20:00"),
    ]


def test_destructive_actions_wait_for_tier2_approval(db: Database, people) -> None:
    incident = open_incident(db, hosts=("ws-1",))
    connector = edr()
    runner, run_id = start(db, playbook(ISOLATE), incident, {"edr": connector})
    waiting = runner.execute(run_id)
    assert waiting.state == "waiting_approval" and waiting.waiting_step == "isolate"
    assert waiting.approval_tier == 2 and connector.calls == []
    for role in ("tier1", "stakeholder", "detection_engineer"):
        with pytest.raises(ApprovalError, match="needs tier 2 or above"), db.session() as session:
            approve(session, people[role], run_id)
    with db.session() as session:
        approve(session, people["tier2"], run_id)
    done = runner.execute(run_id)
    assert done.state == "succeeded" and len(connector.calls) == 1
    with db.session() as session:
        approvals = [e for e in entries(session, actions=("playbook.approved",))]
    assert [e.actor for e in approvals] == ["tier2"]


def test_allow_unattended_acts_without_approval_and_approvals_time_out(db: Database) -> None:
    incident = open_incident(db, hosts=("ws-1",))
    alone = edr()
    runner, run_id = start(db, playbook(ISOLATE + "allow_unattended: true\n"), incident, {"edr": alone})
    assert runner.execute(run_id).state == "succeeded" and len(alone.calls) == 1
    runner, run_id = start(db, playbook(ISOLATE), incident, {"edr": edr()})
    assert runner.execute(run_id).state == "waiting_approval"
    with db.session() as session:
        run = session.get_one(PlaybookRun, run_id)
        run.approval_deadline = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert runner.run_pending() == []
    view = runner.view(run_id)
    assert view.state == "failed" and "approval of step isolate timed out" in view.reason


def _crash_during(db: Database, run_id: int, step_id: str, idempotent: bool) -> None:
    """What a crash mid-step leaves behind: the run and its step marked running, an attempt begun."""
    with db.session() as session:
        run = session.get_one(PlaybookRun, run_id)
        run.state = RunState.RUNNING.value
        session.add(
            StepRun(
                run_id=run_id,
                step_id=step_id,
                kind="act",
                state=StepState.RUNNING.value,
                idempotency_key=f"wf-{run.uid}-{step_id}",
                attempts=1,
                attempt_log=[
                    {"attempt": 1, "started_at": "2026-01-01T00:00:00+00:00", "idempotent": idempotent}
                ],
            )
        )


TWO_STEPS = """
name: two-steps
trigger: {on: incident.created}
steps:
  - id: note
    set: {comment: "first"}
  - id: call
    act: {connector: edr, action: ACTION, params: {host: x}}
"""


def test_a_run_left_running_is_resumed_when_its_step_is_idempotent(db: Database) -> None:
    incident = open_incident(db, hosts=("ws-1",))
    connector = edr()
    runner, run_id = start(db, playbook(TWO_STEPS.replace("ACTION", "lookup")), incident, {"edr": connector})
    with db.session() as session:
        session.add(
            StepRun(
                run_id=run_id, step_id="note", kind="set", state="succeeded", idempotency_key="k", outputs={}
            )
        )
    _crash_during(db, run_id, "call", idempotent=True)
    with db.session() as session:
        recovered = resume_interrupted(session)
    assert [(r.run_id, r.state) for r in recovered] == [(run_id, RunState.PENDING)]
    [view] = runner.run_pending()
    assert view.state == "succeeded" and len(connector.calls) == 1
    assert {s.step_id: s.attempts for s in view.steps} == {"note": 0, "call": 2}
    with db.session() as session:
        comments = show_incident(session, incident).comments
    assert not comments  # the completed step was not repeated


def test_a_run_left_running_in_a_step_unsafe_to_repeat_fails_visibly(db: Database) -> None:
    incident = open_incident(db, hosts=("ws-1",))
    connector = edr()
    runner, run_id = start(
        db, playbook(TWO_STEPS.replace("ACTION", "run_script")), incident, {"edr": connector}
    )
    _crash_during(db, run_id, "call", idempotent=False)
    with db.session() as session:
        [recovery] = resume_interrupted(session)
    assert recovery.state is RunState.FAILED and INTERRUPTED in recovery.reason
    assert runner.run_pending() == [] and connector.calls == []
    view = runner.view(run_id)
    assert view.state == "failed" and view.reason.startswith("interrupted by restart during step call")


CLOSE_BENIGN = """
name: closer
version: 2
trigger: {on: incident.created}
steps:
  - id: look
    enrich: [prior_incidents, business_context, intel]
  - id: decide
    if: "incident.severity == 'high' and len(steps.look.prior_incidents) == 0"
    then:
      - id: note
        set: {comment: "benign: {{ incident.title }}", task: {title: "Check the job owner"}}
      - id: shut
        close: {verdict: benign_true_positive, note: "known job"}
    else:
      - id: escalate
        set: {tier: 2, note: "has history"}
"""


def test_every_step_is_audited_and_a_playbook_closure_counts_as_automated(db: Database) -> None:
    incident = open_incident(db, hosts=("ws-1",))
    runner, run_id = start(db, playbook(CLOSE_BENIGN), incident)
    view = runner.execute(run_id)
    assert view.state == "succeeded", view.reason
    assert [s.step_id for s in view.steps] == ["look", "decide", "note", "shut"]
    with db.session() as session:
        detail = show_incident(session, incident)
        assert detail.incident.state == "closed" and detail.incident.verdict == "benign_true_positive"
        assert [t.title for t in detail.tasks] == ["Check the job owner"]
        steps = list(entries(session, actions=("playbook.step_succeeded",)))
        assert {e.actor for e in steps} == {"playbook:closer"}
        assert [e.after["step"] for e in steps] == ["look", "decide", "note", "shut"]
        closed = list(entries(session, actions=("incident.closed",)))
        assert [(e.actor, e.after["remediation_kind"]) for e in closed] == [("playbook:closer", "automated")]
        assert verify(session).ok
        report = compute_metrics(session, MetricsQuery())
    assert (report.remediation.manual, report.remediation.automated) == (0, 1)


def test_the_other_branch_escalates(db: Database) -> None:
    incident = open_incident(db, "b1", hosts=("ws-9",), severity="medium")
    runner, run_id = start(db, playbook(CLOSE_BENIGN), incident)
    view = runner.execute(run_id)
    assert [s.step_id for s in view.steps] == ["look", "decide", "escalate"]
    with db.session() as session:
        assert show_incident(session, incident).incident.tier == 2


def test_a_workflow_refusal_fails_at_once_without_retries(db: Database) -> None:
    incident = open_incident(db, hosts=("ws-1",))
    text = CLOSE_BENIGN.replace("version: 2", "version: 4")
    runner, run_id = start(db, playbook(text), incident)
    assert runner.execute(run_id).state == "succeeded"
    runner, again = start(db, playbook(text), incident)
    view = runner.execute(again)
    assert view.state == "failed"
    assert view.reason == "step note failed after 1 attempt(s): incident 1 is closed: reopen it to add tasks"
    assert runner.backoffs == []
    with db.session() as session:
        states = session.scalars(select(PlaybookRun.state).order_by(PlaybookRun.id)).all()
    assert states == ["succeeded", "failed"]


def test_dry_run_changes_nothing_and_calls_no_connector(db: Database) -> None:
    incident = open_incident(db, hosts=("ws-1",))
    connector = edr()
    runner, run_id = start(db, playbook(CLOSE_BENIGN), incident, {"edr": connector}, dry_run=True)
    assert runner.execute(run_id).state == "succeeded"
    runner, other = start(db, playbook(ISOLATE), incident, {"edr": connector}, dry_run=True)
    view = runner.execute(other)
    assert view.state == "succeeded" and connector.calls == []
    assert view.steps[0].outputs["would_send"] == {"host": "ws-1"}
    with db.session() as session:
        detail = show_incident(session, incident)
    assert detail.incident.state == "new" and not detail.comments and not detail.tasks
