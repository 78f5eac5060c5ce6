"""The unexpected-targets report: true-positive incidents' entities against the business context."""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

import datetime as dt

from tests.test_cases_support import alert, database, db_url, pg_schema_url, staff  # noqa: F401
from watchfloor.cases import (
    Actor,
    Database,
    import_context,
    receive_alerts,
    render_targets_markdown,
    show_incident,
    unexpected_targets,
)
from watchfloor.cases.service import close
from watchfloor.context import parse_text

ASSETS = """hostname,addresses,criticality,data_sensitivity,owner,business_service,crown_jewel,exposure
pay-db01.corp.example,10.1.2.3,critical,restricted,dba team,Payments,yes,internal
ws-042.corp.example,10.20.4.42,low,confidential,desk,,no,internal
"""
IDENTITIES = '[{"username": "j.doe", "vip": true}, {"username": "intern", "criticality": "low"}]'


def _close(database: Database, actor: Actor, incident_id: int, verdict: str) -> None:
    with database.session() as session:
        version = show_incident(session, incident_id).incident.version
        close(session, actor, incident_id, version, verdict, "manual", ("reimaged",), "done")


def test_targets_report_finds_unexpected_hosts_and_sensitive_data(
    database: Database, staff: dict[str, Actor]
) -> None:
    with database.session() as session:
        import_context(session, staff["admin"], parse_text(ASSETS, "assets.csv"))
        import_context(session, staff["admin"], parse_text(IDENTITIES, "identities.json"))
        result = receive_alerts(
            session,
            [
                alert("crown", 0, hosts=("PAY-DB01",), users=("CORP\\j.doe",)),
                alert("desk", 1, hosts=("ws-042",), rule="r-desk", users=("intern",)),
                alert("build", 2, hosts=("build-07.corp.example",), rule="r-build", ips=("10.1.2.3",)),
                alert("noise", 3, hosts=("printer-9",), rule="r-noise"),
            ],
        )
    lead = staff["tier3"]
    for uid in ("crown", "desk", "build"):
        _close(database, lead, result.incident_of(uid), "true_positive")
    _close(database, lead, result.incident_of("noise"), "false_positive_logic")
    with database.session() as session:
        report = unexpected_targets(session, days=90, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    assert report.incidents == 3
    unexpected = {(f.kind, f.value): f for f in report.unexpected}
    assert set(unexpected) == {
        ("host", "ws-042"),
        ("user", "intern"),
        ("host", "build-07.corp.example"),
    }
    assert unexpected[("host", "build-07.corp.example")].reason == "not in the business context"
    assert unexpected[("host", "ws-042")].known_as == "ws-042.corp.example"
    assert "criticality low" in unexpected[("host", "ws-042")].reason
    sensitive = {(f.kind, f.value): f.reason for f in report.sensitive}
    assert sensitive == {
        ("host", "pay-db01"): "holds restricted data",
        ("ip", "10.1.2.3"): "holds restricted data",
        ("host", "ws-042"): "holds confidential data",
    }
    markdown = render_targets_markdown(report)
    assert "| host | build-07.corp.example | - | - | not in the business context |" in markdown
    assert "printer-9" not in markdown  # a false positive says nothing about what attackers want
