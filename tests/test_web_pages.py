"""The hunt and rules pages without a browser: paging, one-line errors, saving, pinning and its CSRF.

The application is `create_app` over an installation holding five real EVTX attack samples and the
demo rules, served in-process on a loopback port (`tests.in_thread_server`); sessions are opened
straight in the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import corpus
from tests.in_thread_server import serve
from tests.test_cases_support import alert
from watchfloor.api import create_app
from watchfloor.cases import Actor, Database, add_user, receive_alerts, show_incident
from watchfloor.cases.audit import entries
from watchfloor.cases.models import User
from watchfloor.cases.passwords import hash_password
from watchfloor.cases.sessions import login
from watchfloor.config import load_settings
from watchfloor.detect import CanaryState, RuleLibrary
from watchfloor.ingest import MemoryAcknowledger, ingest_paths
from watchfloor.store import DuckDBEventStore
from watchfloor.web import SESSION_COOKIE
from watchfloor.web.hunt import PAGE

PASSWORD = "pages test passphrase"
SYSTEM = Actor.system("test")
DEMO_RULES = Path(__file__).resolve().parents[1] / "src/watchfloor/demo/rules"
SPRAY_RULE = "linux_ssh_password_spray.yml"


@dataclass
class Site:
    client: httpx.Client
    database: Database
    data_dir: Path
    app: FastAPI

    def as_user(self, username: str) -> str:
        """Log `username` in (the cookie goes on the client); returns the session's CSRF token."""
        from watchfloor.cases.sessions import csrf_token

        config = self.app.state.console.config
        policy, now = config.policy, config.now()
        with self.database.session() as session:
            issued = login(session, username, PASSWORD, "10.1.1.1", now, policy)
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, issued.session_id)
        return csrf_token(issued.session_id)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("pages") / "wf"
    sample = sorted(corpus("evtx-attack-samples").rglob("*.evtx"))[:5]
    ingest_paths(sample, DuckDBEventStore(root / "events"), root / "quarantine")
    settings = load_settings(root, environ={})
    RuleLibrary.from_settings(settings).add(DEMO_RULES)
    app = create_app(settings, MemoryAcknowledger())
    database: Database = app.state.cases_database
    hashed = hash_password(PASSWORD)
    with database.session() as session:
        for name, role in (("t1", "tier1"), ("de", "detection_engineer"), ("boss", "stakeholder")):
            add_user(session, SYSTEM, name, role)
        for user in session.scalars(select(User)):
            user.password_hash = hashed
    try:
        with (
            serve(app) as url,
            httpx.Client(base_url=url, timeout=60, headers={"Accept": "text/html"}) as client,
        ):
            yield Site(client, database, root, app)
    finally:
        database.close()


def _rows(html: str) -> int:
    body = html.split('id="hunt-results"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.count("<tr>")


def test_hunt_pages_through_results(site: Site) -> None:
    site.as_user("t1")
    sql = "SELECT range AS n FROM range(120)"
    first = site.client.get("/hunt", params={"sql": sql})
    assert first.status_code == 200
    assert _rows(first.text) == PAGE and "rows 1 to 50 of more" in first.text
    assert 'id="prev-page"' not in first.text
    next_href = re.search(r'id="next-page" href="([^"]+)"', first.text)
    assert next_href is not None and "offset=50" in next_href.group(1)
    second = site.client.get(next_href.group(1).replace("&amp;", "&"))
    assert _rows(second.text) == PAGE and "rows 51 to 100" in second.text
    last = site.client.get("/hunt", params={"sql": sql, "offset": 100})
    assert _rows(last.text) == 20 and "rows 101 to 120" in last.text
    assert 'id="next-page"' not in last.text and 'id="prev-page"' in last.text
    # the numbers on the last page are the store's rows 100..119
    cells = re.findall(r"<td>(\d+)</td>", last.text.split('id="hunt-results"', 1)[1])
    assert [int(c) for c in cells] == list(range(100, 120))
    # past the end: an empty page, not an error; past the cap: refused by validation
    assert "no rows" in site.client.get("/hunt", params={"sql": sql, "offset": 200}).text
    assert site.client.get("/hunt", params={"sql": sql, "offset": 10_001}).status_code == 422


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM events", "only SELECT queries are allowed here (got DELETE)"),
        ("SELECT 1; SELECT 2", "expected exactly one statement, got 2"),
        ("SELEKT nothing", "invalid SQL:"),
        ("SELECT no_such_column FROM events", "no_such_column"),
    ],
)
def test_hunt_errors_are_one_line(site: Site, sql: str, message: str) -> None:
    site.as_user("t1")
    response = site.client.get("/hunt", params={"sql": sql})
    assert response.status_code == 200
    found = re.search(r'<p class="error" role="alert" id="hunt-error">([^<]*)</p>', response.text)
    assert found is not None and message in found.group(1).replace("&#39;", "'").replace("&#34;", '"')
    assert 'id="hunt-results"' not in response.text


def test_stakeholders_do_not_hunt(site: Site) -> None:
    site.as_user("boss")
    assert site.client.get("/hunt").status_code == 403
    assert site.client.get("/rules").status_code == 403


def test_saving_a_hunt_needs_csrf_and_is_audited(site: Site) -> None:
    csrf = site.as_user("t1")
    form = {"name": "logons", "sql": "SELECT metadata_uid FROM events LIMIT 5"}
    assert site.client.post("/hunt/save", data=form, follow_redirects=False).status_code == 403
    saved = site.client.post("/hunt/save", data=form | {"csrf_token": csrf}, follow_redirects=False)
    assert saved.status_code == 303
    lines = (site.data_dir / "hunts" / "saved.jsonl").read_text(encoding="utf-8").splitlines()
    doc = json.loads(lines[-1])
    assert (doc["name"], doc["sql"], doc["owner"]) == ("logons", form["sql"], "t1")
    page = site.client.get(saved.headers["location"])
    assert "Saved the hunt logons." in page.text and 'class="saved-hunt"' in page.text
    blank = site.client.post("/hunt/save", data={"name": " ", "sql": "SELECT 1", "csrf_token": csrf})
    assert blank.status_code == 400 and "needs a name" in blank.text
    with site.database.session() as session:
        audit = [e for e in entries(session, target_type="hunt", target_id="logons")]
    assert [(e.action, e.actor) for e in audit] == [("hunt.saved", "t1")]


def test_pinning_a_result_needs_csrf_and_lands_on_the_timeline(site: Site) -> None:
    with site.database.session() as session:
        result = receive_alerts(session, [alert("pin-1", hosts=("h1",))])
        incident = result.incident_of("pin-1")
    csrf = site.as_user("t1")
    store = DuckDBEventStore(site.data_dir / "events")
    event_uid = str(
        store.query("SELECT metadata_uid FROM events ORDER BY metadata_uid", 1).to_pylist()[0]["metadata_uid"]
    )
    page = site.client.get(
        "/hunt", params={"sql": "SELECT metadata_uid, time FROM events ORDER BY metadata_uid"}
    )
    assert f'name="event_uid" value="{event_uid}"' in page.text
    form = {"incident_id": str(incident), "event_uid": event_uid, "sql": "SELECT 1", "offset": "0"}
    refused = site.client.post("/hunt/pin", data=form, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = site.client.post("/hunt/pin", data=form | {"csrf_token": "x" * 43}, follow_redirects=False)
    assert wrong.status_code == 403
    with site.database.session() as session:
        assert show_incident(session, incident).timeline == ()
    pinned = site.client.post("/hunt/pin", data=form | {"csrf_token": csrf}, follow_redirects=False)
    assert pinned.status_code == 303 and "pinned=" in pinned.headers["location"]
    with site.database.session() as session:
        timeline = show_incident(session, incident).timeline
        actions = [e.action for e in entries(session, target_type="incident", target_id=str(incident))]
    assert [(t.event_uid, t.pinned_by) for t in timeline] == [(event_uid, "t1")]
    assert timeline[0].event_time is not None  # taken from the store
    assert "timeline.pinned" in actions
    # pinning it twice is a conflict, shown on the hunt page; a missing incident is a 404
    again = site.client.post("/hunt/pin", data=form | {"csrf_token": csrf})
    assert again.status_code == 409 and "already on incident" in again.text
    missing = site.client.post("/hunt/pin", data=form | {"csrf_token": csrf, "incident_id": "999999"})
    assert missing.status_code == 404
    assert event_uid in site.client.get(f"/incidents/{incident}").text


def test_rules_page_shows_status_volume_and_canary(site: Site) -> None:
    settings = load_settings(site.data_dir, environ={})
    library = RuleLibrary.from_settings(settings)
    loaded = library.load()
    spray = next(r for r in loaded.rules if r.path.endswith(SPRAY_RULE))
    with site.database.session() as session:
        receive_alerts(session, [alert(f"spray-{i}", i, rule=spray.id, title=spray.title) for i in range(3)])
    state = CanaryState()
    state.last_run_at = "2026-11-23T09:00:00+00:00"
    state.last_results = [{"id": spray.id, "title": spray.title, "passed": False, "reason": "no alert"}]
    (site.data_dir / "canary").mkdir(exist_ok=True)
    state.write(site.data_dir / "canary" / "state.json")
    site.as_user("de")
    page = site.client.get("/rules")
    assert page.status_code == 200
    active = len(loaded.by_status("active"))
    assert f"{active} active" in page.text and active >= 9
    row = page.text.split(f'data-rule="{spray.id}"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="alerts">3</td>' in row and "status-active" in row
    assert "failed" in row and "no alert" in row
    assert "1 rule(s) tested" in page.text
    filtered = site.client.get("/rules", params={"q": "shadow", "status": "active"})
    assert filtered.text.count("data-rule=") == 2
    assert site.client.get("/rules", params={"status": "disabled"}).text.count("data-rule=") == 0
    assert site.client.get("/rules", params={"status": "bogus"}).status_code == 422
    site.as_user("t1")
    assert site.client.get("/rules").status_code == 403


def test_stakeholder_overview_shows_the_major_incident_update(site: Site) -> None:
    from watchfloor.cases import Role, declare_major
    from watchfloor.cases.major import UpdateText
    from watchfloor.respond.comms import CommsConfig, post_update

    with site.database.session() as session:
        add_user(session, SYSTEM, "lead", "tier3")
        incident = receive_alerts(session, [alert("major-1", 0, hosts=("pay-db01",))]).incident_of("major-1")
        lead = Actor("lead", Role.TIER3)
        major = declare_major(
            session,
            lead,
            incident_ids=[incident],
            title="Payments outage",
            services=("Payments",),
            audiences=(),
            cadence_minutes=60,
        )
        text = UpdateText(
            "Ransomware on the payments database.", "Card payments stopped.", "Restoring backups."
        )
        post_update(session, lead, major.id, text, CommsConfig.from_settings({}, site.data_dir))
    site.as_user("boss")
    page = site.client.get("/overview")
    assert page.status_code == 200
    assert "Payments outage" in page.text and "Restoring backups." in page.text
