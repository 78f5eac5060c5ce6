"""The incident API over real HTTP, on SQLite and PostgreSQL, with data from the real cases service.

The application is the one `watchfloor serve` runs (`create_app`), pointed at a fresh incident database
through `WATCHFLOOR_DB`; incidents arrive through `receive_alerts`, tokens through `create_token`.
"""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.in_thread_server import serve
from tests.test_cases_support import alert, db_url, pg_schema_url  # noqa: F401
from watchfloor.api import create_app
from watchfloor.api.schemas import IncidentSort
from watchfloor.cases import Actor, Database, Role, add_user, escalate, receive_alerts, show_incident
from watchfloor.cases.audit import entries
from watchfloor.cases.queries import SORTS
from watchfloor.cases.tokens import create_token, revoke_token
from watchfloor.config import load_settings
from watchfloor.ingest import MemoryAcknowledger

pytestmark = pytest.mark.network

SETUP = Actor("setup", Role.ADMIN)


@dataclass
class Api:
    """A running API, its database, and a read+write token per role (plus `reader` and `auditor`)."""

    http: httpx.Client
    database: Database
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str, if_match: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if if_match is not None:
            headers["If-Match"] = if_match
        return headers

    def incidents(self, *alerts: Any) -> list[int]:
        with self.database.session() as session:
            result = receive_alerts(session, list(alerts))
        return [result.incident_of(a.uid) for a in alerts]

    def etag(self, incident_id: int) -> str:
        response = self.http.get(f"/api/v1/incidents/{incident_id}", headers=self.auth("tier1"))
        assert response.status_code == 200, response.text
        return response.headers["ETag"]

    def post(self, path: str, who: str, if_match: str | None = None, **body: Any) -> httpx.Response:
        return self.http.post(f"/api/v1{path}", headers=self.auth(who, if_match), json=body or None)

    def version(self, incident_id: int) -> int:
        with self.database.session() as session:
            return show_incident(session, incident_id).incident.version


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = load_settings(tmp_path / "wf", environ={"WATCHFLOOR_DB": db_url})  # as `serve` resolves it
    app = create_app(settings, MemoryAcknowledger())
    database: Database = app.state.cases_database
    tokens: dict[str, str] = {}
    with database.session() as session:
        for role in Role:
            add_user(session, SETUP, role.value, role.value)
            tokens[role.value] = create_token(session, SETUP, role.value, ["read", "write"]).secret
        tokens["reader"] = create_token(session, SETUP, "tier1", ["read"], "dashboard").secret
        tokens["auditor"] = create_token(session, SETUP, "admin", ["admin"], "auditor").secret
    try:
        with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
            yield Api(http, database, tokens)
    finally:
        database.close()


def test_every_route_needs_a_valid_token_with_its_scope(api: Api) -> None:
    (incident,) = api.incidents(alert("a1", hosts=("ws1",)))
    for headers in ({}, {"Authorization": "Bearer wf_000000000000_nope"}, {"Authorization": "Basic x"}):
        response = api.http.get("/api/v1/incidents", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["code"] == "invalid_token"
    # a configured hunt token (api_tokens) is not an incident token
    assert api.http.get("/api/v1/incidents", headers={"Authorization": "Bearer hunt"}).status_code == 401
    etag = api.etag(incident)
    read_only = api.post(f"/incidents/{incident}/ack", "reader", etag)
    assert read_only.status_code == 403 and "lacks the 'write' scope" in read_only.json()["detail"]
    # the scope allows writing, the stakeholder role does not allow working incidents
    stakeholder = api.post(f"/incidents/{incident}/ack", "stakeholder", etag)
    assert stakeholder.status_code == 403 and "stakeholder" in stakeholder.json()["detail"]
    assert api.version(incident) == int(etag.strip('"').split("-")[1])
    assert api.http.get("/api/v1/audit/verify", headers=api.auth("tier3")).status_code == 403
    verified = api.http.get("/api/v1/audit/verify", headers=api.auth("auditor"))
    assert verified.status_code == 200 and verified.json()["ok"] is True


def test_a_revoked_token_is_refused_at_once(api: Api) -> None:
    assert api.http.get("/api/v1/incidents", headers=api.auth("reader")).status_code == 200
    with api.database.session() as session:
        token_id = api.tokens["reader"].split("_")[1]
        revoke_token(session, SETUP, token_id)
    response = api.http.get("/api/v1/incidents", headers=api.auth("reader"))
    assert response.status_code == 401 and response.json()["detail"] == "invalid or revoked API token"


def test_list_paginates_with_total_and_next_link(api: Api) -> None:
    severities = ["low", "critical", "medium", "high", "informational"]
    ids = api.incidents(*(alert(f"p{i}", i, hosts=(f"h{i}",), severity=s) for i, s in enumerate(severities)))
    seen: list[int] = []
    url: str | None = "/api/v1/incidents?limit=2&sort=oldest"
    pages = 0
    while url is not None:
        response = api.http.get(url, headers=api.auth("reader"))
        assert response.status_code == 200, response.text
        page = response.json()
        assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2 * pages)
        seen += [item["id"] for item in page["items"]]
        url = page["next"]
        assert (url is None) == ("Link" not in response.headers)
        if url is not None:
            assert response.headers["Link"] == f'<{url}>; rel="next"'
        pages += 1
    assert (seen, pages) == (ids, 3)


def test_list_filters_and_sorts(api: Api) -> None:
    low, critical, high, drill = api.incidents(
        alert("f1", 0, hosts=("h1",), severity="low"),
        alert("f2", 1, hosts=("h2",), severity="critical"),
        alert("f3", 2, hosts=("h3",), severity="high"),
        alert("f4", 3, hosts=("h4",), severity="medium", is_exercise=True),
    )
    assert api.post(f"/incidents/{high}/ack", "tier1", api.etag(high)).status_code == 200
    with api.database.session() as session:
        escalate(session, SETUP, critical, None, 2, "crown jewels")

    def ids(query: str) -> list[int]:
        response = api.http.get(f"/api/v1/incidents?{query}", headers=api.auth("reader"))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids("") == [critical, high, low]  # worst first by default; drills are not in real queues
    assert ids("sort=newest") == [high, critical, low]
    assert ids("severity=high") == [critical, high]
    assert ids("state=acknowledged") == [high]
    assert ids("state=new&state=acknowledged&tier=1&sort=oldest") == [low, high]
    assert ids("tier=2") == [critical] and ids("queue=tier2") == [critical]
    assert ids("assignee=tier1") == [high]
    assert ids("exercise=true") == [drill] and drill not in ids("exercise=false")
    bad = api.http.get("/api/v1/incidents?sort=loudest&severity=dire", headers=api.auth("reader"))
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("query", "sort"), ("query", "severity")}
    assert {s.value for s in IncidentSort} == set(SORTS)  # the API offers every sort the service has


def test_etag_and_if_match(api: Api) -> None:
    first, second = api.incidents(alert("e1", hosts=("h1",)), alert("e2", hosts=("h2",)))
    etag = api.etag(first)
    assert etag == f'"{first}-{api.version(first)}"'
    missing = api.post(f"/incidents/{first}/ack", "tier1")
    assert missing.status_code == 428
    assert (missing.json()["code"], missing.json()["field"]) == ("precondition_required", "If-Match")
    assert api.post(f"/incidents/{first}/ack", "tier1", "*").status_code == 428
    with api.database.session() as session:
        log_before = len(list(entries(session)))
    version = api.version(first)
    for stale in (f'"{first}-{version - 1}"', api.etag(second), "garbage"):
        refused = api.post(f"/incidents/{first}/ack", "tier1", stale)
        assert refused.status_code == 412, stale
        assert refused.json()["current_version"] == version
        assert refused.json()["code"] == "precondition_failed"
    with api.database.session() as session:
        assert show_incident(session, first).incident.state == "new"  # nothing changed
        assert len(list(entries(session))) == log_before
    done = api.post(f"/incidents/{first}/ack", "tier1", f"W/{etag}")  # a weak echo is accepted too
    assert done.status_code == 200
    assert done.headers["ETag"] == f'"{first}-{version + 1}"' == f'"{first}-{done.json()["version"]}"'
    # two analysts read the same version: the second write is refused, not silently applied
    again = api.post(f"/incidents/{first}/assign", "tier2", etag, to="tier3")
    assert again.status_code == 412 and api.version(first) == version + 1


def test_concurrent_writers_with_one_etag_exactly_one_wins(api: Api) -> None:
    (incident,) = api.incidents(alert("k1", hosts=("h1",)))
    etag = api.etag(incident)
    assignees = ["tier1", "tier2", "tier3", "admin"] * 2

    def assign_to(user: str) -> int:
        response = api.post(f"/incidents/{incident}/assign", "admin", etag, to=user)
        return response.status_code

    with ThreadPoolExecutor(len(assignees)) as pool:
        statuses = sorted(pool.map(assign_to, assignees))
    assert statuses == [200] + [412] * (len(assignees) - 1)
    with api.database.session() as session:
        changes = list(entries(session, target_type="incident", target_id=incident))
    assert [e.action for e in changes].count("incident.assigned") == 1
    assert api.version(incident) == int(etag.strip('"').split("-")[1]) + 1


def test_full_lifecycle_ack_escalate_close(api: Api) -> None:
    (incident,) = api.incidents(alert("l1", hosts=("ws7",), evidence=("ev-9",)))
    step = api.post(f"/incidents/{incident}/ack", "tier1", api.etag(incident))
    assert (step.json()["state"], step.json()["acknowledged_by"]) == ("acknowledged", "tier1")
    step = api.post(f"/incidents/{incident}/investigate", "tier1", step.headers["ETag"])
    assert step.json()["state"] == "investigating"
    up = api.post(
        f"/incidents/{incident}/escalate", "tier1", step.headers["ETag"], to_tier=2, note="needs AD logs"
    )
    assert up.status_code == 200, up.text
    body = up.json()
    assert (body["incident"]["tier"], body["incident"]["queue"], body["incident"]["assignee"]) == (
        2,
        "tier2",
        None,
    )
    escalation = body["escalation"]
    assert (escalation["from_tier"], escalation["to_tier"], escalation["actor"]) == (1, 2, "tier1")
    assert (escalation["handoff_note"], escalation["evidence_snapshot"]) == ("needs AD logs", ["ev-9"])
    assert up.headers["ETag"] == f'"{incident}-{body["incident"]["version"]}"'
    etag = up.headers["ETag"]
    # tier 1 handed it over: it may no longer close it
    refused = api.post(f"/incidents/{incident}/close", "tier1", etag, verdict="true_positive")
    assert refused.status_code == 403
    closed = api.post(
        f"/incidents/{incident}/close",
        "tier2",
        etag,
        verdict="true_positive",
        remediation="manual",
        actions=["reset password", "reimaged ws7"],
        note="done",
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["state"], closed.json()["verdict"], closed.json()["remediation_kind"]) == (
        "closed",
        "true_positive",
        "manual",
    )
    assert closed.json()["remediation_actions"] == ["reset password", "reimaged ws7"]
    detail = api.http.get(f"/api/v1/incidents/{incident}", headers=api.auth("reader")).json()
    assert [e["handoff_note"] for e in detail["escalations"]] == ["needs AD logs"]
    reopened = api.post(f"/incidents/{incident}/reopen", "tier2", closed.headers["ETag"], reason="came back")
    assert (reopened.status_code, reopened.json()["state"]) == (200, "investigating")
    with api.database.session() as session:
        actions = [e.action for e in entries(session, target_type="incident", target_id=incident)]
    assert actions[2:] == [
        "incident.acknowledged",
        "incident.investigating",
        "incident.escalated",
        "incident.closed",
        "incident.investigating",
    ]
    assert api.http.get("/api/v1/audit/verify", headers=api.auth("auditor")).json()["ok"] is True


def test_refusals_map_to_statuses(api: Api) -> None:
    (incident,) = api.incidents(alert("r1", hosts=("h1",)))
    no_verdict = api.post(f"/incidents/{incident}/close", "tier1", api.etag(incident), remediation="manual")
    assert no_verdict.status_code == 422
    assert [e["loc"] for e in no_verdict.json()["detail"]] == [["body", "verdict"]]
    unknown = api.post(f"/incidents/{incident}/close", "tier1", api.etag(incident), verdict="maybe")
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "verdict"]
    no_remediation = api.post(
        f"/incidents/{incident}/close", "tier1", api.etag(incident), verdict="false_positive_data"
    )
    assert no_remediation.status_code == 422 and no_remediation.json()["code"] == "invalid_input"
    closed = api.post(
        f"/incidents/{incident}/close",
        "tier1",
        api.etag(incident),
        verdict="false_positive_data",
        remediation="manual",
    )
    assert closed.status_code == 200
    ack_closed = api.post(f"/incidents/{incident}/ack", "tier1", closed.headers["ETag"])
    assert ack_closed.status_code == 409
    assert ack_closed.json() == {
        "detail": "cannot acknowledge an incident that is closed (only from: new)",
        "code": "not_allowed",
        "field": None,
        "current_version": None,
    }
    wrong_way = api.post(
        f"/incidents/{incident}/escalate", "tier1", closed.headers["ETag"], to_tier=1, note="x"
    )
    assert wrong_way.status_code == 409  # closed incidents change tier only after a reopen
    missing = api.http.get("/api/v1/incidents/999999", headers=api.auth("reader"))
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert api.post("/incidents/999999/ack", "tier1", '"999999-1"').status_code == 404


def test_case_work_and_alerts(api: Api) -> None:
    incident = api.incidents(*(alert(f"c{i}", i, hosts=("ws1",)) for i in range(5)))[0]
    etag = api.etag(incident)
    comment = api.post(f"/incidents/{incident}/comments", "tier1", body="looks like a spray")
    assert comment.status_code == 201 and comment.json()["author"] == "tier1"
    task = api.post(f"/incidents/{incident}/tasks", "tier1", etag, title="pull proxy logs")
    assert task.status_code == 201
    done = api.post(f"/tasks/{task.json()['id']}/complete", "tier1")
    assert (done.json()["done"], done.json()["done_by"]) == (True, "tier1")
    assert api.post(f"/tasks/{task.json()['id']}/complete", "tier1").status_code == 409
    observable = api.post(f"/incidents/{incident}/observables", "tier1", kind="ip", value="203.0.113.9")
    assert observable.status_code == 201
    assert (
        api.post(f"/incidents/{incident}/observables", "tier1", kind="ip", value="203.0.113.9").status_code
        == 409
    )
    assert (
        api.post(f"/incidents/{incident}/observables", "tier1", kind="planet", value="x").status_code == 422
    )
    pinned = api.post(
        f"/incidents/{incident}/timeline",
        "tier1",
        event_uid="evt-1",
        event_time="2026-03-02T09:00:00Z",
        summary="first logon",
    )
    assert pinned.status_code == 201
    assert api.post(f"/incidents/{incident}/comments", "stakeholder", body="hi").status_code == 403
    assert api.version(incident) == int(etag.strip('"').split("-")[1])  # case work leaves the version
    # If-Match is optional on case work, but a stale one is still refused
    stale = api.post(f"/incidents/{incident}/comments", "tier1", f'"{incident}-0"', body="late")
    assert stale.status_code == 412
    detail = api.http.get(f"/api/v1/incidents/{incident}", headers=api.auth("reader")).json()
    assert [c["body"] for c in detail["comments"]] == ["looks like a spray"]
    assert [t["title"] for t in detail["tasks"]] == ["pull proxy logs"]
    assert [(o["kind"], o["value"]) for o in detail["observables"]] == [("ip", "203.0.113.9")]
    assert [t["event_uid"] for t in detail["timeline"]] == ["evt-1"]
    first = api.http.get(f"/api/v1/alerts?incident={incident}&limit=3", headers=api.auth("reader"))
    page = first.json()
    assert ([a["uid"] for a in page["items"]], page["total"]) == (["c0", "c1", "c2"], 5)
    rest = api.http.get(page["next"], headers=api.auth("reader")).json()
    assert ([a["uid"] for a in rest["items"]], rest["next"]) == (["c3", "c4"], None)
    assert api.http.get("/api/v1/alerts", headers=api.auth("reader")).status_code == 422


def test_openapi_is_public_and_documents_every_route(api: Api) -> None:
    document = api.http.get("/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    expected = {
        ("get", "/api/v1/incidents"),
        ("get", "/api/v1/incidents/{incident_id}"),
        ("get", "/api/v1/alerts"),
        ("get", "/api/v1/audit/verify"),
        ("post", "/api/v1/tasks/{task_id}/complete"),
        *(
            ("post", f"/api/v1/incidents/{{incident_id}}/{action}")
            for action in (
                "ack",
                "investigate",
                "contain",
                "remediate",
                "close",
                "reopen",
                "assign",
                "escalate",
                "deescalate",
                "comments",
                "tasks",
                "observables",
                "timeline",
            )
        ),
    }
    documented = {(method, path) for path, item in paths.items() for method in item}
    assert expected <= documented
    for method, path in expected:
        operation = paths[path][method]
        assert operation["security"] == [{"token": []}], (method, path)
        assert "401" in operation["responses"] and "403" in operation["responses"]
    assert document.json()["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    assert "If-Match" in {
        p["name"] for p in paths["/api/v1/incidents/{incident_id}/close"]["post"]["parameters"]
    }
    assert api.http.get("/docs").status_code == 200


def test_metrics_over_the_api_as_json_and_csv(api: Api) -> None:
    (incident,) = api.incidents(alert("m1", hosts=("ws-metrics",)))
    assert api.post(f"/incidents/{incident}/ack", "tier1", api.etag(incident)).status_code == 200
    closed = api.post(
        f"/incidents/{incident}/close",
        "tier1",
        api.etag(incident),
        verdict="true_positive",
        remediation="manual",
    )
    assert closed.status_code == 200, closed.text
    report = api.http.get("/api/v1/metrics", headers=api.auth("stakeholder"))
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["incidents"] == 1 and body["remediation"]["manual"] == 1, body
    csv = api.http.get("/api/v1/metrics", params={"format": "csv"}, headers=api.auth("reader"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert str(incident) in csv.text.splitlines()[1]
    bad = api.http.get("/api/v1/metrics", params={"from": "2026-11-01T00:00"}, headers=api.auth("tier1"))
    assert bad.status_code == 422 and "timezone" in bad.text
    fidelity = api.http.get("/api/v1/metrics/fidelity", headers=api.auth("tier1")).json()
    assert fidelity["policy"]["threshold"] == 0.9
    assert api.http.get("/api/v1/metrics").status_code == 401


def test_business_context_over_the_api_sets_priority_routing(api: Api) -> None:
    records = [{"hostname": "pay-db-01.corp.example", "criticality": "critical", "crown_jewel": True}]
    refused = api.http.post(
        "/api/v1/context/import", json={"kind": "assets", "records": records}, headers=api.auth("tier1")
    )
    assert refused.status_code == 403  # importing context is tier 2 work
    bad = api.http.post(
        "/api/v1/context/import",
        json={"kind": "assets", "csv": "hostname,criticality\nweb-01,sky-high\n"},
        headers=api.auth("tier2"),
    )
    assert bad.status_code == 422 and "criticality" in bad.text
    done = api.http.post(
        "/api/v1/context/import", json={"kind": "assets", "records": records}, headers=api.auth("tier2")
    )
    assert done.status_code == 201 and done.json()["added"] == 1, done.text
    listed = api.http.get(
        "/api/v1/context", params={"kind": "assets"}, headers=api.auth("stakeholder")
    ).json()
    assert [r["hostname"] for r in listed] == ["pay-db-01.corp.example"]
    resolved = api.http.get(
        "/api/v1/context/resolve", params={"value": "PAY-DB-01"}, headers=api.auth("tier1")
    )
    assert resolved.json()[0]["kind"] == "assets"
    (incident,) = api.incidents(alert("ctx1", hosts=("pay-db-01",)))
    shown = api.http.get(f"/api/v1/incidents/{incident}", headers=api.auth("tier2")).json()
    assert shown["incident"]["tier"] == 2, shown  # a crown jewel goes to tier 2
    listed_row = api.http.get("/api/v1/incidents", params={"tier": 2}, headers=api.auth("tier2")).json()
    assert [r["priority"] for r in listed_row["items"] if r["id"] == incident] == [
        shown["incident"]["priority"]
    ]
    assert shown["incident"]["priority"] in {"P1", "P2"}, shown  # raised by the crown jewel
