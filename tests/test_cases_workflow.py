"""The lifecycle: every transition, every refusal, tiers, escalation records and optimistic concurrency."""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

import pytest

from tests.test_cases_support import alert, database, db_url, pg_schema_url, staff  # noqa: F401
from watchfloor.cases import (
    Conflict,
    Database,
    Forbidden,
    IncidentFilter,
    InvalidInput,
    NotAllowed,
    NotFound,
    State,
    acknowledge,
    add_comment,
    assign,
    close,
    contain,
    deescalate,
    escalate,
    investigate,
    list_incidents,
    receive_alerts,
    remediate,
    reopen,
    show_incident,
)
from watchfloor.cases.audit import entries
from watchfloor.cases.workflow import TRANSITIONS, Action, next_state


def _open(database: Database, uid: str = "x1", **kw) -> int:
    with database.session() as session:
        return receive_alerts(session, [alert(uid, 0, hosts=(f"host-{uid}",), **kw)]).opened[0]


def _version(database: Database, incident_id: int) -> int:
    with database.session() as session:
        return show_incident(session, incident_id).incident.version


def test_transition_table_covers_every_state_pair() -> None:
    """Each action from each state either leads to its target or is refused, exactly per the table."""
    for action, transition in TRANSITIONS.items():
        for state in State:
            if state in transition.sources:
                assert next_state(state.value, action) is transition.target
            else:
                with pytest.raises(
                    NotAllowed, match=f"cannot {action.value} an incident that is {state.value}"
                ):
                    next_state(state.value, action)


def test_full_lifecycle_and_its_audit_trail(database: Database, staff) -> None:
    incident_id = _open(database)
    analyst = staff["tier1"]
    with database.session() as session:
        row = acknowledge(session, analyst, incident_id, _version(database, incident_id))
        assert (row.state, row.acknowledged_by, row.assignee) == ("acknowledged", "tier1", "tier1")
        assert row.acknowledged_at is not None
        version = row.version
    with database.session() as session:
        version = investigate(session, analyst, incident_id, version).version
    with database.session() as session:
        version = contain(session, analyst, incident_id, version).version
    with database.session() as session:
        row = remediate(session, analyst, incident_id, version, "automated", ("isolated host",))
        assert row.state == "remediated" and row.remediation_kind == "automated"
        version = row.version
    with database.session() as session:
        row = close(session, analyst, incident_id, version, "true_positive", None, (), "done")
        assert (row.state, row.verdict, row.remediation_actions) == (
            "closed",
            "true_positive",
            ["isolated host"],
        )
        version = row.version
    with database.session() as session:
        row = reopen(session, analyst, incident_id, version, "the attacker came back")
        assert (row.state, row.verdict, row.closed_at) == ("investigating", None, None)
    with database.session() as session:
        trail = list(entries(session, target_type="incident", target_id=incident_id))
    actions = [e.action for e in trail]
    assert actions == [
        "incident.opened",
        "alert.attached",
        "incident.acknowledged",
        "incident.investigating",
        "incident.contained",
        "incident.remediated",
        "incident.closed",
        "incident.investigating",
    ]
    by_action = {e.action: e for e in trail}
    # what MTTA and MTTR need is in the log itself
    ack = by_action["incident.acknowledged"]
    assert ack.after["first_alert_at"] == "2026-03-02T09:00:00.000000Z" and ack.after["acknowledged_at"]
    assert by_action["incident.remediated"].after["remediation_kind"] == "automated"
    assert by_action["incident.closed"].after["verdict"] == "true_positive"
    assert trail[-1].after["reason"] == "the attacker came back" and trail[-1].after["previous_verdict"]
    assert all(e.before["version"] + 1 == e.after["version"] for e in trail[2:])


def test_close_needs_verdict_and_remediation(database: Database, staff) -> None:
    incident_id = _open(database)
    with database.session() as session, pytest.raises(InvalidInput, match="needs a verdict"):
        close(session, staff["tier1"], incident_id, None, None, "manual")
    with database.session() as session, pytest.raises(InvalidInput, match="unknown verdict 'maybe'"):
        close(session, staff["tier1"], incident_id, None, "maybe", "manual")
    with database.session() as session, pytest.raises(InvalidInput, match="manual or automated"):
        close(session, staff["tier1"], incident_id, None, "false_positive_data", None)
    with database.session() as session:
        row = close(
            session, staff["tier1"], incident_id, None, "false_positive_data", "manual", ("tuned rule",)
        )
        assert row.state == "closed" and row.remediation_kind == "manual" and row.remediated_at is not None


def test_closed_incidents_refuse_work(database: Database, staff) -> None:
    incident_id = _open(database)
    analyst = staff["tier1"]
    with database.session() as session:
        close(session, analyst, incident_id, None, "benign_true_positive", "manual")
    for doing in (acknowledge, investigate, contain):
        with database.session() as session, pytest.raises(NotAllowed, match="closed"):
            doing(session, analyst, incident_id, None)
    with database.session() as session, pytest.raises(NotAllowed, match="closed"):
        close(session, analyst, incident_id, None, "true_positive", "manual")
    with database.session() as session, pytest.raises(NotAllowed, match="closed"):
        escalate(session, analyst, incident_id, None, 2, "look")
    with database.session() as session, pytest.raises(NotAllowed, match="closed"):
        assign(session, analyst, incident_id, None, to_user="tier1")
    with database.session() as session:  # a note after closing is still fine
        add_comment(session, analyst, incident_id, "closing note")


def test_other_refusals(database: Database, staff) -> None:
    incident_id = _open(database)
    analyst = staff["tier1"]
    with database.session() as session:
        acknowledge(session, analyst, incident_id, None)
    with (
        database.session() as session,
        pytest.raises(NotAllowed, match="acknowledge an incident that is acknowledged"),
    ):
        acknowledge(session, analyst, incident_id, None)
    with database.session() as session, pytest.raises(NotAllowed, match="reopen"):
        reopen(session, analyst, incident_id, None, "why not")
    with database.session() as session, pytest.raises(NotFound, match="incident 999"):
        acknowledge(session, analyst, 999, None)
    with database.session() as session, pytest.raises(InvalidInput, match="unknown remediation"):
        remediate(session, analyst, incident_id, None, "magic")


def test_stale_version_is_a_conflict_and_changes_nothing(database: Database, staff) -> None:
    incident_id = _open(database)
    read_by_both = _version(database, incident_id)
    with database.session() as session:
        assign(session, staff["tier1"], incident_id, read_by_both, to_user="tier2")
    with database.session() as session, pytest.raises(Conflict, match="changed since you read it") as caught:
        acknowledge(session, staff["tier1"], incident_id, read_by_both)
    assert caught.value.http_status == 409 and caught.value.current_version == read_by_both + 1
    with database.session() as session:
        row = show_incident(session, incident_id).incident
        assert (row.state, row.assignee, row.version) == ("new", "tier2", read_by_both + 1)
        acknowledge(session, staff["tier1"], incident_id, row.version)


def test_tiers_limit_who_acts(database: Database, staff) -> None:
    incident_id = _open(database)
    with database.session() as session:
        escalate(session, staff["tier1"], incident_id, None, 3, "domain admin involved")
    for who in ("tier1", "tier2", "stakeholder", "detection_engineer"):
        with database.session() as session, pytest.raises(Forbidden, match="needs tier 3"):
            acknowledge(session, staff[who], incident_id, None)
    with database.session() as session, pytest.raises(Forbidden, match="cannot work tier 3"):
        assign(session, staff["tier3"], incident_id, None, to_user="tier2")
    with database.session() as session:
        acknowledge(session, staff["tier3"], incident_id, None)
        assign(session, staff["admin"], incident_id, None, to_user="tier3")
    with database.session() as session, pytest.raises(Forbidden, match="stakeholder"):
        add_comment(session, staff["stakeholder"], incident_id, "hello")


def test_escalation_and_deescalation_are_records(database: Database, staff) -> None:
    incident_id = _open(database, evidence=("evt-1", "evt-2"))
    with database.session() as session:
        acknowledge(session, staff["tier1"], incident_id, None)
        up = escalate(session, staff["tier1"], incident_id, None, 2, "needs cloud logs", "beyond runbook")
    assert (up.from_tier, up.to_tier, up.actor, up.direction) == (1, 2, "tier1", "escalate")
    assert (up.reason, up.handoff_note, up.evidence_snapshot) == (
        "beyond runbook",
        "needs cloud logs",
        ["evt-1", "evt-2"],
    )
    with database.session() as session:
        row = show_incident(session, incident_id).incident
        assert (row.tier, row.queue, row.assignee) == (2, "tier2", None)
        assert [i.id for i in list_incidents(session, IncidentFilter(queue="tier2"))] == [incident_id]
        with pytest.raises(InvalidInput, match="must be above tier 2"):
            escalate(session, staff["tier2"], incident_id, None, 1, "wrong way")
        with pytest.raises(InvalidInput, match="handoff note"):
            escalate(session, staff["tier2"], incident_id, None, 3, "  ")
        with pytest.raises(InvalidInput, match="tier 4 does not exist"):
            escalate(session, staff["tier2"], incident_id, None, 4, "x")
    with database.session() as session, pytest.raises(Forbidden):
        deescalate(session, staff["tier1"], incident_id, None, 1, "back to you")
    with database.session() as session:
        down = deescalate(session, staff["tier2"], incident_id, None, 1, "follow runbook RB-7")
        assert (down.from_tier, down.to_tier, down.direction) == (2, 1, "deescalate")
    with database.session() as session:
        detail = show_incident(session, incident_id)
        logged = [e for e in entries(session, actions=("incident.escalated", "incident.deescalated"))]
    assert [(e.direction, e.from_tier, e.to_tier) for e in detail.escalations] == [
        ("escalate", 1, 2),
        ("deescalate", 2, 1),
    ]
    assert [(e.after["from_tier"], e.after["to_tier"]) for e in logged] == [(1, 2), (2, 1)]


def test_assign_to_user_and_queue(database: Database, staff) -> None:
    incident_id = _open(database)
    with database.session() as session:
        assert assign(session, staff["tier1"], incident_id, None, to_user="tier1").assignee == "tier1"
        with pytest.raises(NotFound, match="unknown user 'nobody'"):
            assign(session, staff["tier1"], incident_id, None, to_user="nobody")
        with pytest.raises(InvalidInput, match="another tier"):
            assign(session, staff["tier1"], incident_id, None, queue="tier2")
        with pytest.raises(InvalidInput, match="exactly one"):
            assign(session, staff["tier1"], incident_id, None)
        row = assign(session, staff["tier1"], incident_id, None, queue="tier1-phishing")
        assert (row.queue, row.assignee) == ("tier1-phishing", None)


def test_queue_list_filters_and_sorts(database: Database, staff) -> None:
    with database.session() as session:
        receive_alerts(
            session,
            [
                alert("q1", 0, hosts=("h1",), severity="low"),
                alert("q2", 0, hosts=("h2",), severity="critical"),
                alert("q3", 0, hosts=("h3",), severity="medium"),
            ],
        )
    with database.session() as session:
        assert [i.severity for i in list_incidents(session)] == ["critical", "medium", "low"]
        assert [i.severity for i in list_incidents(session, IncidentFilter(severity="medium"))] == [
            "critical",
            "medium",
        ]
        assert len(list_incidents(session, IncidentFilter(limit=2))) == 2
        first = list_incidents(session)[0].id
        acknowledge(session, staff["tier1"], first, None)
        assert [i.id for i in list_incidents(session, IncidentFilter(states=("acknowledged",)))] == [first]
        with pytest.raises(InvalidInput):
            IncidentFilter(states=("sleeping",))
    assert Action.CLOSE in TRANSITIONS
