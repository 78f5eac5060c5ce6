"""The intel and playbook routes over real HTTP: roles, validation, effects on disk, and the audit log.

The application is the one `watchfloor serve` runs (`create_app`) over a fresh SQLite database; each
role has a read+write token from `create_token`, as in test_api_incidents.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.in_thread_server import serve
from tests.test_cases_support import alert
from watchfloor.api import create_app
from watchfloor.cases import Actor, Database, Role, add_user, receive_alerts
from watchfloor.cases.audit import entries
from watchfloor.cases.tokens import create_token
from watchfloor.config import load_settings
from watchfloor.ingest import MemoryAcknowledger

pytestmark = pytest.mark.network

SETUP = Actor("setup", Role.ADMIN)

FEED = "value,type,confidence,tlp\n203.0.113.77,ipv4,90,amber\nbad-c2.example,domain,80,green\n"

GATED = """
name: gated-note
version: 1
description: Waits for a tier 2 approval, then writes a comment.
trigger: {on: incident.created, rule: never-fires}
steps:
  - id: ok
    approval: {reason: "check first"}
  - id: note
    set: {comment: "approved and noted"}
samples:
  - {rule_id: never-fires, rule_title: Sample, severity: low, hosts: [ws-1]}
"""


@dataclass
class Api:
    http: httpx.Client
    database: Database
    data_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str, **params: Any) -> httpx.Response:
        return self.http.get(f"/api/v1{path}", headers=self.auth(who), params=params or None)

    def post(self, path: str, who: str, body: Any = None) -> httpx.Response:
        return self.http.post(f"/api/v1{path}", headers=self.auth(who), json=body)

    def put_yaml(self, name: str, who: str, text: str) -> httpx.Response:
        headers = {**self.auth(who), "Content-Type": "application/yaml"}
        return self.http.put(f"/api/v1/playbooks/{name}", headers=headers, content=text.encode())

    def incident(self, uid: str) -> int:
        with self.database.session() as session:
            return receive_alerts(session, [alert(uid, 1, hosts=(f"{uid}-host",))]).incident_of(uid)

    def audit(self, *actions: str) -> list[tuple[str, str, str]]:
        with self.database.session() as session:
            return [(e.action, e.actor, e.target_id) for e in entries(session, actions=actions)]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = load_settings(tmp_path / "wf", environ={})
    app = create_app(settings, MemoryAcknowledger())
    database: Database = app.state.cases_database
    tokens: dict[str, str] = {}
    with database.session() as session:
        for role in Role:
            add_user(session, SETUP, role.value, role.value)
            tokens[role.value] = create_token(session, SETUP, role.value, ["read", "write"]).secret
        tokens["reader"] = create_token(session, SETUP, "tier3", ["read"], "dashboard").secret
    try:
        with serve(app) as url, httpx.Client(base_url=url, timeout=60) as http:
            yield Api(http, database, settings.data_dir, tokens)
    finally:
        database.close()


def test_intel_feed_added_pulled_searched_by_allowed_roles_and_audited(api: Api, tmp_path: Path) -> None:
    feed_file = tmp_path / "feed.csv"
    feed_file.write_text(FEED, encoding="utf-8")
    body = {"name": "local-list", "kind": "csv", "location": str(feed_file)}

    assert api.get("/intel/feeds", "tier1").json() == []
    assert api.get("/intel/feeds", "stakeholder").status_code == 403
    assert api.post("/intel/feeds", "tier1", body).status_code == 403
    assert api.post("/intel/feeds", "reader", body).status_code == 403  # read-only token
    assert api.http.post("/api/v1/intel/feeds", json=body).status_code == 401
    bad_kind = api.post("/intel/feeds", "admin", {**body, "kind": "rss"})
    assert bad_kind.status_code == 422 and bad_kind.json()["field"] == "kind"
    missing = api.post("/intel/feeds", "admin", {**body, "location": str(tmp_path / "nope.csv")})
    assert missing.status_code == 422 and missing.json()["field"] == "location"
    assert api.post("/intel/feeds", "admin", {**body, "name": "bad name!"}).status_code == 422
    assert api.post("/intel/feeds", "admin", {"name": "x"}).status_code == 422  # pydantic: fields missing

    added = api.post("/intel/feeds", "detection_engineer", body)
    assert added.status_code == 201, added.text
    assert added.json()["name"] == "local-list" and added.json()["kind"] == "csv"
    assert api.post("/intel/feeds", "admin", body).status_code == 409

    assert api.post("/intel/pull", "tier1").status_code == 403
    assert api.post("/intel/pull?feed=unknown", "tier2").status_code == 404
    pulled = api.post("/intel/pull", "tier2")
    assert pulled.status_code == 200, pulled.text
    assert pulled.json() == [
        {"feed": "local-list", "indicators": 2, "unsupported": 0, "unsupported_examples": [], "error": None}
    ]

    feeds = api.get("/intel/feeds", "tier1").json()
    assert [(f["name"], f["indicators"], f["last_error"]) for f in feeds] == [("local-list", 2, None)]
    found = api.get("/intel/search", "tier1", value="203.0.113.77").json()
    assert [(r["type"], r["feed"], r["tlp"], r["confidence"]) for r in found] == [
        ("ipv4", "local-list", "amber", 90)
    ]
    assert api.get("/intel/search", "tier1", value="198.51.100.1").json() == []
    assert api.get("/intel/search", "stakeholder", value="203.0.113.77").status_code == 403
    assert api.get("/intel/search", "tier1").status_code == 422  # value is required

    assert api.audit("intel.feed_added", "intel.pulled") == [
        ("intel.feed_added", "detection_engineer", "local-list"),
        ("intel.pulled", "tier2", "*"),
    ]


def test_playbooks_saved_run_approved_cancelled_and_deleted_over_the_api(api: Api) -> None:
    listed = api.get("/playbooks", "tier1").json()
    builtins = {p["name"] for p in listed["playbooks"]}
    assert {"enrich-new-incidents", "resolve-known-benign"} <= builtins and listed["errors"] == []
    assert api.get("/playbooks", "stakeholder").status_code == 403

    # Managed over the API: only detection engineers and administrators, validated by the loader.
    assert api.put_yaml("gated-note", "tier3", GATED).status_code == 403
    broken = api.put_yaml("gated-note", "detection_engineer", "name: gated-note\nsteps: [oops\n")
    assert broken.status_code == 422
    unknown_step = GATED.replace("approval:", "teleport:")
    assert api.put_yaml("gated-note", "detection_engineer", unknown_step).status_code == 422
    assert api.put_yaml("other-name", "detection_engineer", GATED).status_code == 422
    assert not (api.data_dir / "playbooks").exists() or not list((api.data_dir / "playbooks").iterdir())
    created = api.put_yaml("gated-note", "detection_engineer", GATED)
    assert created.status_code == 201, created.text
    assert created.json()["steps"] == [{"id": "ok", "kind": "approval"}, {"id": "note", "kind": "set"}]
    assert (api.data_dir / "playbooks" / "gated-note.yml").read_text() == GATED
    replaced = api.put_yaml("gated-note", "admin", GATED.replace("version: 1", "version: 2"))
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    assert "gated-note" in {p["name"] for p in api.get("/playbooks", "tier1").json()["playbooks"]}

    # Run on an incident: workers only; unknown playbook or incident is 404; body validated.
    incident = api.incident("a-1")
    assert (
        api.post("/playbooks/gated-note/run", "detection_engineer", {"incident_id": incident}).status_code
        == 403
    )
    assert api.post("/playbooks/nope/run", "tier1", {"incident_id": incident}).status_code == 404
    assert api.post("/playbooks/gated-note/run", "tier1", {"incident_id": 999_999}).status_code == 404
    assert api.post("/playbooks/gated-note/run", "tier1", {"incident_id": "x"}).status_code == 422
    dry = api.post("/playbooks/gated-note/run", "tier1", {"incident_id": incident, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["state"] == "succeeded" and dry.json()["dry_run"] is True
    waiting = api.post("/playbooks/gated-note/run", "tier1", {"incident_id": incident}).json()
    assert waiting["state"] == "waiting_approval" and waiting["waiting_step"] == "ok"

    # Approve: tier 2 or above; a run not waiting is a conflict.
    run_id = waiting["id"]
    assert api.post(f"/playbooks/runs/{run_id}/approve", "tier1").status_code == 403
    approved = api.post(f"/playbooks/runs/{run_id}/approve", "tier2")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "succeeded"
    assert api.post(f"/playbooks/runs/{run_id}/approve", "tier2").status_code == 409
    assert api.post("/playbooks/runs/999999/approve", "tier2").status_code == 404

    # Cancel: tier 1 or above, a reason required, an ended run is a conflict.
    second = api.post("/playbooks/gated-note/run", "tier1", {"incident_id": incident}).json()
    assert api.post(f"/playbooks/runs/{second['id']}/cancel", "tier1", {}).status_code == 422
    assert (
        api.post(f"/playbooks/runs/{second['id']}/cancel", "stakeholder", {"reason": "x"}).status_code == 403
    )
    cancelled = api.post(f"/playbooks/runs/{second['id']}/cancel", "tier1", {"reason": "not needed"})
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert api.post(f"/playbooks/runs/{second['id']}/cancel", "tier1", {"reason": "again"}).status_code == 409

    runs = api.get("/playbooks/runs", "tier1", playbook="gated-note").json()
    assert [r["state"] for r in runs] == ["cancelled", "succeeded", "succeeded"]
    detail = api.get(f"/playbooks/runs/{run_id}", "tier1").json()
    assert [s["step"] for s in detail["steps"]] == ["ok", "note"]
    assert api.get("/playbooks/runs/999999", "tier1").status_code == 404

    # Delete: built-ins cannot be; installation playbooks can, by authors only.
    assert (
        api.http.delete("/api/v1/playbooks/enrich-new-incidents", headers=api.auth("admin")).status_code
        == 409
    )
    assert api.http.delete("/api/v1/playbooks/gated-note", headers=api.auth("tier3")).status_code == 403
    assert api.http.delete("/api/v1/playbooks/never-was", headers=api.auth("admin")).status_code == 404
    deleted = api.http.delete("/api/v1/playbooks/gated-note", headers=api.auth("admin"))
    assert deleted.status_code == 200 and deleted.json()["builtin_applies"] is False
    assert not (api.data_dir / "playbooks" / "gated-note.yml").exists()
    assert "gated-note" not in {p["name"] for p in api.get("/playbooks", "tier1").json()["playbooks"]}

    audit = api.audit("playbook.saved", "playbook.deleted", "playbook.approved", "playbook.run_cancelled")
    assert [(a, who) for a, who, _ in audit] == [
        ("playbook.saved", "detection_engineer"),
        ("playbook.saved", "admin"),
        ("playbook.approved", "tier2"),
        ("playbook.run_cancelled", "playbook:gated-note"),
        ("playbook.deleted", "admin"),
    ]
