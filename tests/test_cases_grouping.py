"""Alerts into incidents: grouping by entities, window and correlation key; routing; regrouping."""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

import datetime as dt

import pytest

from tests.test_cases_support import alert, database, db_url, pg_schema_url, staff  # noqa: F401
from watchfloor.cases import (
    Actor,
    Database,
    GroupingPolicy,
    IncidentFilter,
    IncomingAlert,
    InvalidInput,
    NotAllowed,
    Role,
    acknowledge,
    add_task_template,
    close,
    list_incidents,
    merge,
    move_alerts,
    receive_alerts,
    set_criticality,
    show_incident,
    split,
)
from watchfloor.cases.audit import entries
from watchfloor.config import load_settings
from watchfloor.errors import ConfigError


def test_shared_entities_group_and_others_open_new_incidents(database: Database) -> None:
    batch = [
        alert("a1", 0, hosts=("WS01.corp.local",), users=("CORP\\alice",)),
        alert("a2", 10, hosts=("ws01.corp.local",), title="LSASS access"),  # same host, other case
        alert("a3", 20, users=("corp\\alice",), hosts=("ws02",)),  # same user
        alert("a4", 30, ips=("::ffff:10.0.0.9",), hosts=("ws02",)),  # via ws02
        alert("a5", 40, ips=("10.0.0.9",), hosts=("ws77",)),  # same address, canonicalised
        alert("b1", 15, hosts=("srv-db",), users=("bob",)),  # unrelated
        alert("c1", 16, processes=("{aaaa-1}",), hosts=("ws50",)),
        alert("c2", 17, processes=("{AAAA-1}", "{aaaa-2}"), hosts=("ws51",)),  # same process tree guid
    ]
    with database.session() as session:
        result = receive_alerts(session, batch)
    assert len(result.opened) == 3
    first = result.incident_of("a1")
    assert {result.incident_of(u) for u in ("a2", "a3", "a4", "a5")} == {first}
    assert result.incident_of("b1") not in {first, result.incident_of("c1")}
    assert result.incident_of("c2") == result.incident_of("c1")
    with database.session() as session:
        detail = show_incident(session, first)
    assert detail.incident.alert_count == 5
    assert [a.uid for a in detail.alerts] == ["a1", "a2", "a3", "a4", "a5"]
    assert detail.incident.first_alert_at == alert("a1").event_time
    assert detail.incident.last_alert_at == alert("a5", 40).event_time


def test_window_bounds_grouping_and_is_configurable(database: Database, tmp_path) -> None:
    with database.session() as session:
        result = receive_alerts(session, [alert("w1", 0, hosts=("h1",)), alert("w2", 5 * 60, hosts=("h1",))])
    assert len(result.opened) == 2, "five hours apart is outside the default four-hour window"
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "watchfloor.toml").write_text("[cases]\ngrouping_window_minutes = 600\n")
    policy = GroupingPolicy.from_settings(load_settings(tmp_path / "cfg", environ={}))
    assert policy.window == dt.timedelta(hours=10)
    with database.session() as session:
        later = receive_alerts(session, [alert("w3", 9 * 60, hosts=("h1",))], policy=policy)
    assert later.opened == () and later.incident_of("w3") == result.incident_of("w2")
    (tmp_path / "cfg" / "watchfloor.toml").write_text("[cases]\ngrouping_window_minutes = -1\n")
    with pytest.raises(ConfigError, match="grouping_window_minutes"):
        GroupingPolicy.from_settings(load_settings(tmp_path / "cfg", environ={}))


def test_common_values_do_not_glue_alerts_together(database: Database) -> None:
    batch = [
        alert("n1", 0, hosts=("ws1",), users=("SYSTEM",), ips=("127.0.0.1",)),
        alert("n2", 1, hosts=("ws2",), users=("NT AUTHORITY\\SYSTEM", "system"), ips=("127.0.0.1", "::1")),
        alert("n3", 2, hosts=("localhost", "-"), processes=("0",)),
    ]
    with database.session() as session:
        result = receive_alerts(session, batch)
    assert len(result.opened) == 3


def test_correlation_key_groups_without_shared_entities(database: Database) -> None:
    batch = [
        alert("k1", 0, hosts=("a",), correlation_key="brute-force:10.1.1.1"),
        alert("k2", 60 * 30, hosts=("b",), correlation_key="brute-force:10.1.1.1"),
        alert("k3", 1, hosts=("c",), correlation_key="other"),
    ]
    with database.session() as session:
        result = receive_alerts(session, batch)
    assert result.incident_of("k1") == result.incident_of("k2") != result.incident_of("k3")


def test_new_alert_joins_open_incident_but_not_closed_or_exercise(database: Database, staff) -> None:
    with database.session() as session:
        opened = receive_alerts(session, [alert("j1", 0, hosts=("ws9",))])
        incident_id = opened.opened[0]
    with database.session() as session:
        joined = receive_alerts(session, [alert("j2", 5, hosts=("ws9",), severity="critical")])
        drill = receive_alerts(session, [alert("j3", 6, hosts=("ws9",), is_exercise=True)])
    assert joined.opened == () and joined.incident_of("j2") == incident_id
    assert drill.opened != () and drill.incident_of("j3") != incident_id
    with database.session() as session:
        [row] = [i for i in list_incidents(session) if i.id == incident_id]
        assert row.severity == "critical" and row.alert_count == 2
        close(session, staff["tier1"], incident_id, row.version, "false_positive_logic", "manual")
    with database.session() as session:
        after_close = receive_alerts(session, [alert("j4", 7, hosts=("ws9",))])
    assert after_close.opened and after_close.incident_of("j4") != incident_id


def test_duplicate_alert_uids_are_ignored(database: Database) -> None:
    with database.session() as session:
        first = receive_alerts(session, [alert("d1", 0, hosts=("x",))])
    with database.session() as session:
        again = receive_alerts(session, [alert("d1", 0, hosts=("x",)), alert("d1", 0, hosts=("x",))])
    assert first.opened and again.duplicates == ("d1", "d1") and again.placements == ()


def test_invalid_alerts_are_refused() -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        IncomingAlert(
            uid="z", rule_id="r", rule_title="t", severity="high", event_time=dt.datetime(2026, 1, 1)
        )
    with pytest.raises(InvalidInput, match="unknown severity"):
        alert("z", 0, severity="urgent")


def test_routing_business_critical_goes_to_tier2(database: Database, staff) -> None:
    with database.session() as session:
        set_criticality(session, staff["tier2"], "host", "DC01", "business_critical", "Active Directory")
        set_criticality(session, staff["tier2"], "user", "svc-backup", "high")
        with pytest.raises(Exception, match="tier 2"):
            set_criticality(session, staff["tier1"], "host", "x", "business_critical")
    with database.session() as session:
        result = receive_alerts(
            session,
            [
                alert("r1", 0, hosts=("dc01",)),
                alert("r2", 0, hosts=("ws3",), users=("svc-backup",)),
            ],
        )
        tier2 = list_incidents(session, IncidentFilter(tier=2))
        tier1 = list_incidents(session, IncidentFilter(queue="tier1"))
    assert [i.id for i in tier2] == [result.incident_of("r1")] and tier2[0].queue == "tier2"
    assert [i.id for i in tier1] == [result.incident_of("r2")]
    with database.session() as session:
        opened = [e for e in entries(session, actions=("incident.opened",))]
    assert opened[0].after["routing"] == ["host dc01 is business_critical (Active Directory)"]


def test_joining_alert_on_critical_asset_escalates_by_routing(database: Database, staff) -> None:
    with database.session() as session:
        set_criticality(session, staff["admin"], "host", "pay-01", "business_critical", "Payments")
        first = receive_alerts(session, [alert("e1", 0, users=("carol",), hosts=("ws5",))])
        joined = receive_alerts(session, [alert("e2", 3, users=("carol",), hosts=("pay-01",))])
    incident_id = first.opened[0]
    assert joined.incident_of("e2") == incident_id
    with database.session() as session:
        detail = show_incident(session, incident_id)
    assert detail.incident.tier == 2 and detail.incident.queue == "tier2"
    [esc] = detail.escalations
    assert (esc.from_tier, esc.to_tier, esc.actor) == (1, 2, "system:intake")
    assert "pay-01" in esc.reason and esc.evidence_snapshot == ("ev-e1",)


def test_task_templates_become_tasks_once(database: Database, staff) -> None:
    with database.session() as session:
        add_task_template(session, staff["tier2"], "rule", "r-mimikatz", "Reset the user's credentials")
        add_task_template(session, staff["tier2"], "technique", "t1003", "Check for lateral movement")
        add_task_template(session, staff["tier2"], "rule", "r-other", "Not for this one")
        with pytest.raises(InvalidInput):
            add_task_template(session, staff["tier2"], "colour", "red", "nope")
        result = receive_alerts(session, [alert("t1", 0, hosts=("h",)), alert("t2", 1, hosts=("h",))])
        detail = show_incident(session, result.opened[0])
    assert [t.title for t in detail.tasks] == ["Reset the user's credentials", "Check for lateral movement"]


def test_merge_split_and_move(database: Database, staff) -> None:
    with database.session() as session:
        result = receive_alerts(
            session,
            [
                alert("m1", 0, hosts=("a1",), severity="low"),
                alert("m2", 1, hosts=("a1",), severity="medium"),
                alert("m3", 2, hosts=("b1",), severity="critical"),
                alert("m4", 3, hosts=("c1",)),
            ],
        )
    a, b, c = (result.incident_of(u) for u in ("m1", "m3", "m4"))
    tier1 = staff["tier1"]
    with database.session() as session:
        merged = merge(session, tier1, a, None, {b: None})
        assert merged.alert_count == 3 and merged.severity == "critical"
    with database.session() as session:
        gone = show_incident(session, b).incident
        assert (gone.state, gone.verdict, gone.merged_into_id) == ("closed", "duplicate", a)
        assert show_incident(session, a).related == (b,)
        with pytest.raises(NotAllowed):
            merge(session, tier1, b, None, {c: None})
    with database.session() as session:
        new = split(session, tier1, a, None, ["m3"])
        assert new.alert_count == 1 and new.severity == "critical" and new.state == "new"
        with pytest.raises(InvalidInput, match="empty"):
            split(session, tier1, new.id, None, ["m3"])
    with database.session() as session:
        assert show_incident(session, a).incident.severity == "medium"
        target = move_alerts(session, tier1, ["m4"], a, None)
        assert target.alert_count == 3
        assert show_incident(session, c).incident.state == "closed"
    # later alerts follow the alerts to where the analyst put them
    with database.session() as session:
        again = receive_alerts(session, [alert("m5", 4, hosts=("c1",))])
    assert again.incident_of("m5") == a


def test_regrouping_checks_tier_and_version(database: Database, staff) -> None:
    with database.session() as session:
        set_criticality(session, staff["tier2"], "host", "crit", "business_critical")
        result = receive_alerts(session, [alert("v1", 0, hosts=("crit",)), alert("v2", 0, hosts=("plain",))])
    crit, plain = result.incident_of("v1"), result.incident_of("v2")
    with database.session() as session, pytest.raises(Exception, match="tier 2"):
        merge(session, staff["tier1"], plain, None, {crit: None})
    with database.session() as session:
        acknowledge(session, Actor("tier2", Role.TIER2), crit, None)
    with database.session() as session, pytest.raises(Exception, match="changed since"):
        merge(session, staff["tier2"], plain, None, {crit: 1})
