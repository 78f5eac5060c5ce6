"""Business context: imports with located errors, entity resolution, the priority formula, and routing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchfloor.cases import (
    Actor,
    Role,
    entries,
    import_context,
    list_incidents,
    open_database,
    receive_alerts,
    set_criticality,
    show_incident,
)
from watchfloor.cases.intake import IncomingAlert
from watchfloor.cases.queries import IncidentFilter
from watchfloor.cli.app import cli
from watchfloor.context import (
    Asset,
    BusinessService,
    ContextError,
    ContextIndex,
    ContextKind,
    Identity,
    Priority,
    compute_priority,
    parse_context,
    parse_text,
)

ADMIN = Actor("setup", Role.ADMIN)
T0 = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)

ASSETS = """hostname,addresses,criticality,data_sensitivity,owner,business_service,crown_jewel,exposure
pay-db01.corp.example,10.1.2.3;10.9.0.0/16,critical,restricted,dba team,Payments,yes,internal
www.corp.example,203.0.113.10,3,public,web team,Website,no,internet
ws-042.corp.example,10.20.4.42,low,internal,desk,,no,internal
"""
IDENTITIES = [
    {"username": "j.doe", "aliases": ["j.doe@corp.example", "jane"], "vip": True, "criticality": "high"},
    {"username": "svc_backup", "criticality": 2, "business_service": "Backups"},
]
SERVICES = (
    "name,criticality,owner,description\nPayments,critical,cfo,Card payments\nBackups,high,it,Nightly\n"
)


def alert(uid: str, severity: str = "high", **entities: tuple[str, ...]) -> IncomingAlert:
    return IncomingAlert(
        uid=uid, rule_id=f"r-{uid}", rule_title="t", severity=severity, event_time=T0, **entities
    )


def test_import_reports_every_problem_with_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "assets.csv"
    bad.write_text(
        "hostname,addresses,criticality,crown_jewel,colour\n"
        "a.example,10.0.0.1,critical,yes,\n"
        "b.example,10.0.0.300,7,maybe,\n"
        ",10.0.0.2,1,no,\n"
        "A.example,,1,no,\n",
        encoding="utf-8",
    )
    result = parse_context(bad)
    problems = {(e.location.line, e.location.field) for e in result.errors if e.location}
    assert (1, "colour") in problems  # an unknown column is an error, not silently dropped
    assert {(3, "addresses"), (3, "criticality"), (3, "crown_jewel"), (4, "hostname")} <= problems
    messages = [str(e) for e in result.errors]
    assert any(m.startswith(f"{bad}, line 3, field 'addresses'") and "10.0.0.300" in m for m in messages)
    assert any("line 5" in m and "duplicate hostname 'a.example' (first on line 2)" in m for m in messages)
    database = open_database(None, tmp_path / "wf")
    with pytest.raises(ContextError, match="nothing imported") as caught, database.session() as session:
        import_context(session, ADMIN, result)
    database.close()
    assert len(caught.value.problems) == len(result.errors)


def test_json_import_names_the_line_of_each_record() -> None:
    text = '[\n  {"username": "a"},\n  {"username": "b",\n   "vip": "perhaps"}\n]\n'
    result = parse_text(text, "people.json")
    assert result.kind is ContextKind.IDENTITIES
    [error] = result.errors
    assert (error.location.line, error.location.field) == (3, "vip")
    assert [r.key for r in result.records] == ["a"]
    broken = parse_text('[{"username": "a"},\n{"username": }]', "identities.json")
    assert broken.errors[0].location.line == 2 and "not valid JSON" in broken.errors[0].message


def test_resolution_of_names_addresses_and_users() -> None:
    index = ContextIndex.build(
        [
            *parse_text(ASSETS, "assets.csv").records,
            *parse_text(json.dumps(IDENTITIES), "identities.json").records,
            *parse_text(SERVICES, "services.csv").records,
        ]
    )
    assert index.host("PAY-DB01").record.key == "pay-db01.corp.example"  # short name, any case
    assert index.host("pay-db01.corp.example.").matched_by == "hostname"
    assert index.host("pay-db01.other.example").record.key == "pay-db01.corp.example"
    assert index.ip("10.1.2.3").matched_by == "address"
    inside = index.ip("10.9.200.7")
    assert inside.record.key == "pay-db01.corp.example" and inside.matched_by == "range 10.9.0.0/16"
    assert index.ip("::ffff:10.9.0.1").record.key == "pay-db01.corp.example"  # IPv4-mapped IPv6
    assert index.ip("10.8.0.1") is None and index.host("nowhere") is None
    assert index.host("203.0.113.10").record.key == "www.corp.example"  # an address as a host name
    for spelling in ("CORP\\j.doe", "j.doe@corp.example", "JANE", "j.doe"):
        assert index.user(spelling).record.key == "j.doe", spelling
    assert index.user("CORP\\svc_backup").record.key == "svc_backup"
    assert index.user("Jane@other.example").matched_by == "alias"
    assert [type(r.record) for r in index.resolve("payments")] == [BusinessService]


def test_priority_formula() -> None:
    index = ContextIndex.build(
        [
            Asset("crown.example", crown_jewel=True),
            Asset("ws.example", criticality=2),
            Identity("ceo", vip=True),
            BusinessService("Payments", criticality=5),
            Asset("shop.example", service="Payments"),
        ]
    )
    plain = compute_priority("high")  # nothing known: severity decides
    assert (plain.priority, plain.score) == (Priority.P2, 59) and plain.sla_severity == "high"
    crown = compute_priority("high", [index.host("crown")])
    assert crown.priority is Priority.P1 and crown.business_critical and crown.score == 79
    assert "crown jewel" in crown.reasons[0]
    assert compute_priority("medium", [index.host("crown")]).priority is Priority.P2
    assert compute_priority("low", [index.host("ws")]).priority is Priority.P3
    assert compute_priority("informational").priority is Priority.P4
    vip = compute_priority("medium", [index.user("ceo")])
    assert vip.criticality == 4 and "VIP" in vip.reasons[0]
    shop = compute_priority("high", [index.host("shop")], index.services)
    assert shop.business_critical and shop.services == ("Payments",)  # critical through its service
    assert compute_priority("critical", intel_confidence=100).score > compute_priority("critical").score
    with pytest.raises(ValueError, match=r"outside 0\.\.100"):
        compute_priority("high", intel_confidence=101)


def test_routing_from_context(tmp_path: Path) -> None:
    (tmp_path / "assets.csv").write_text(ASSETS, encoding="utf-8")
    (tmp_path / "identities.json").write_text(json.dumps(IDENTITIES), encoding="utf-8")
    (tmp_path / "services.csv").write_text(SERVICES, encoding="utf-8")
    database = open_database(None, tmp_path / "wf")
    with database.session() as session:
        for name in ("services.csv", "assets.csv", "identities.json"):
            import_context(session, ADMIN, parse_context(tmp_path / name))
        with pytest.raises(Exception, match="tier 2"):
            import_context(session, Actor("t1", Role.TIER1), parse_context(tmp_path / "assets.csv"))
        result = receive_alerts(
            session,
            [
                alert("crown", hosts=("PAY-DB01",)),
                alert("range", severity="medium", ips=("10.9.3.3",)),
                alert("plain", severity="low", hosts=("ws-042",)),
                alert("vip", severity="medium", users=("CORP\\jane",)),
            ],
        )
        queue = {i.id: i for i in list_incidents(session, IncidentFilter(limit=10))}
        crown = show_incident(session, result.incident_of("crown")).incident
    database.close()
    assert (crown.tier, crown.queue) == (2, "tier2")
    rows = {uid: queue[result.incident_of(uid)] for uid in ("crown", "range", "plain", "vip")}
    assert rows["crown"].tier == 2 and rows["plain"].tier == 1 and rows["vip"].tier == 1
    with database.session() as session:
        opened = {e.after["rule_id"]: e.after for e in entries(session, actions=("incident.opened",))}
        imported = [e.after for e in entries(session, actions=("context.imported",))]
        changes = list(entries(session, actions=("context.asset.set",)))
    assert opened["r-crown"]["priority"] == "P1" and opened["r-crown"]["sla_severity"] == "critical"
    assert opened["r-crown"]["routing"] == ["host pay-db01 is business critical (Payments)"]
    assert "Payments" in opened["r-crown"]["services"]
    assert opened["r-range"]["priority"] == "P2"  # medium alert inside the crown jewel's range
    assert opened["r-plain"]["priority"] == "P3" and opened["r-vip"]["priority"] == "P2"  # VIP: 55
    assert [i["added"] for i in imported] == [2, 3, 2]
    assert {c.target_id for c in changes} == {
        "pay-db01.corp.example",
        "www.corp.example",
        "ws-042.corp.example",
    }


def test_old_criticality_table_still_routes_and_joins_raise_priority(tmp_path: Path) -> None:
    database = open_database(None, tmp_path / "wf")
    with database.session() as session:
        set_criticality(session, ADMIN, "host", "DC01", "business_critical", "Active Directory")
        first = receive_alerts(session, [alert("a1", severity="low", users=("bob",))])
        low = show_incident(session, first.opened[0]).incident
        joined = receive_alerts(session, [alert("a2", users=("bob",), hosts=("dc01",))])
        incident = show_incident(session, first.opened[0]).incident
        raised = list(entries(session, actions=("incident.prioritized",)))
    database.close()
    assert joined.incident_of("a2") == first.opened[0] and incident.tier == 2
    assert low.tier == 1 and [e.after["priority"] for e in raised] == ["P1"]


def test_context_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "wf"
    (tmp_path / "assets.csv").write_text(ASSETS, encoding="utf-8")
    bad = tmp_path / "hosts.csv"
    bad.write_text("hostname,criticality\nx,11\n", encoding="utf-8")
    base = ["--data-dir", str(data)]
    env = {"WATCHFLOOR_USER": "admin"}
    assert runner.invoke(cli, [*base, "users", "add", "admin", "--role", "admin"], env=env).exit_code == 0
    out = runner.invoke(cli, [*base, "context", "import", str(tmp_path / "assets.csv"), "--json"], env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["added"] == 3
    failed = runner.invoke(cli, [*base, "context", "import", str(bad)], env=env)
    assert failed.exit_code != 0 and f"{bad}, line 2, field 'criticality'" in failed.output
    listed = runner.invoke(cli, [*base, "context", "list", "--kind", "assets", "--json"])
    assert next(r["hostname"] for r in json.loads(listed.output)) == "pay-db01.corp.example"
    resolved = runner.invoke(cli, [*base, "context", "resolve", "10.9.1.1", "--json"])
    [match] = json.loads(resolved.output)
    assert (
        match["record"]["hostname"] == "pay-db01.corp.example" and match["matched_by"] == "range 10.9.0.0/16"
    )
    assert runner.invoke(cli, [*base, "context", "resolve", "nobody"]).exit_code != 0
