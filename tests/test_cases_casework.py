"""Case work: comments, tasks, evidence files by SHA-256, observables, the timeline, related incidents."""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.test_cases_support import alert, database, db_url, pg_schema_url, staff  # noqa: F401
from watchfloor.cases import (
    Conflict,
    Database,
    InvalidInput,
    NotAllowed,
    add_comment,
    add_evidence,
    add_observable,
    add_task,
    close,
    complete_task,
    link_incidents,
    pin_event,
    receive_alerts,
    show_incident,
)
from watchfloor.cases.audit import entries


def test_case_work_is_recorded_and_audited(database: Database, staff, tmp_path: Path) -> None:
    with database.session() as session:
        result = receive_alerts(session, [alert("w1", 0, hosts=("h1",)), alert("w2", 0, hosts=("h2",))])
    first, second = result.opened
    analyst = staff["tier1"]
    dump = tmp_path / "lsass.dmp"
    dump.write_bytes(b"MDMP" + bytes(range(256)) * 5000)
    evidence_dir = tmp_path / "wf" / "evidence"
    with database.session() as session:
        add_comment(session, analyst, first, "looks like credential dumping")
        task = add_task(session, analyst, first, "Collect memory image")
        complete_task(session, analyst, task.id)
        with pytest.raises(Conflict, match="already done"):
            complete_task(session, analyst, task.id)
        stored = add_evidence(session, analyst, first, dump, evidence_dir)
        again = add_evidence(session, analyst, second, dump, evidence_dir)
        add_observable(session, analyst, first, "ip", "203.0.113.7", "C2")
        with pytest.raises(Conflict):
            add_observable(session, analyst, first, "ip", "203.0.113.7")
        with pytest.raises(InvalidInput, match="unknown observable kind"):
            add_observable(session, analyst, first, "colour", "red")
        pin_event(session, analyst, first, "evt-42", alert("w1").event_time, "lsass opened by rundll32")
        link_incidents(session, analyst, first, second, "same actor")
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    assert stored.sha256 == again.sha256 == digest and stored.size == dump.stat().st_size
    assert sorted(p.name for p in evidence_dir.iterdir()) == [digest]  # stored once, content-addressed
    assert (evidence_dir / digest).read_bytes() == dump.read_bytes()
    with database.session() as session:
        detail = show_incident(session, first)
        actions = [e.action for e in entries(session, target_type="incident", target_id=first)]
        assert show_incident(session, second).related == (first,)
    assert [c.body for c in detail.comments] == ["looks like credential dumping"]
    assert [(t.title, t.done, t.done_by) for t in detail.tasks] == [("Collect memory image", True, "tier1")]
    assert [(o.kind, o.value) for o in detail.observables] == [("ip", "203.0.113.7")]
    assert [t.event_uid for t in detail.timeline] == ["evt-42"] and detail.related == (second,)
    assert actions[2:] == [
        "comment.added",
        "task.added",
        "task.completed",
        "evidence.added",
        "observable.added",
        "timeline.pinned",
        "incident.linked",
    ]
    with database.session() as session:
        close(session, analyst, first, None, "true_positive", "manual")
    with database.session() as session, pytest.raises(NotAllowed, match="closed"):
        pin_event(session, analyst, first, "evt-43")
