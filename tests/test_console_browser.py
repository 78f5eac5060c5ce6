"""The console in a real browser: Debian's Chromium driven by Playwright against `watchfloor serve`.

The installation is the built-in demo (its detection opens three tier 1 incidents); the first
administrator comes from `watchfloor setup`, and two analysts are added with known passwords. Each test
saves a screenshot under `.artifacts/screenshots/`. Skipped where `/usr/bin/chromium` is missing
(`.ci/run` installs it).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.live_server import LiveServer, start_server
from watchfloor.cases import Actor, add_user, open_database
from watchfloor.cases.passwords import set_password

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / ".artifacts" / "screenshots"
ANALYST_PASSWORD = "tier one analyst passphrase"
LEAD_PASSWORD = "tier three lead passphrase"

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]

playwright_sync = pytest.importorskip("playwright.sync_api")


@dataclass
class Installation:
    server: LiveServer
    url: str
    one_time_password: str
    errors: list[str] = field(default_factory=list)


def _watchfloor(data_dir: Path, *args: str) -> str:
    command = [sys.executable, "-m", "watchfloor", "--data-dir", str(data_dir), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    data_dir = tmp_path_factory.mktemp("console") / "wf"
    _watchfloor(data_dir, "demo")
    found = re.search(r"one-time password: (\S+)", _watchfloor(data_dir, "setup"))
    assert found is not None
    database = open_database(None, data_dir)
    with database.session() as session:
        setup = Actor.system("test")
        for name, role, password in (("ana", "tier1", ANALYST_PASSWORD), ("lead", "tier3", LEAD_PASSWORD)):
            add_user(session, setup, name, role)
            set_password(session, setup, name, password, must_change=False)
    database.close()
    server = start_server(data_dir)
    try:
        yield Installation(server, server.url("api"), found.group(1))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: object, installation: Installation) -> Iterator[object]:
    """A fresh browser context (no cookies) whose console errors, CSP violations included, are kept."""
    context = browser.new_context(base_url=installation.url, viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    errors: list[str] = []
    # a 401 or 403 page is logged as a failed load; anything else (a CSP refusal, a script error) is not ok
    tab.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == [], errors


def _shot(page: object, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    assert path.stat().st_size > 10_000
    return path


def _log_in(page: object, username: str, password: str) -> None:
    page.goto("/")  # type: ignore[attr-defined]
    page.fill("#username", username)  # type: ignore[attr-defined]
    page.fill("#password", password)  # type: ignore[attr-defined]
    page.click("#login")  # type: ignore[attr-defined]


def test_first_login_with_the_one_time_password_then_a_new_one(
    page: object, installation: Installation
) -> None:
    expect = playwright_sync.expect
    _log_in(page, "admin", "not the password")
    expect(page.locator(".error")).to_have_text("Invalid username or password.")
    _log_in(page, "admin", installation.one_time_password)
    expect(page).to_have_url(re.compile(r"/password$"))
    expect(page.locator(".notice")).to_contain_text("one-time password")
    page.fill("#current", installation.one_time_password)  # type: ignore[attr-defined]
    new = "the administrator's own passphrase"
    page.fill("#new", new)  # type: ignore[attr-defined]
    page.fill("#confirm", new)  # type: ignore[attr-defined]
    page.click("#change")  # type: ignore[attr-defined]
    expect(page).to_have_url(re.compile(r"/queues$"))
    expect(page.locator("#whoami")).to_have_text("admin · admin")
    _shot(page, "01-first-login-queues")


def test_triage_from_the_tier1_queue_to_closed(
    browser: object, page: object, installation: Installation
) -> None:
    expect = playwright_sync.expect
    _log_in(page, "ana", ANALYST_PASSWORD)
    expect(page).to_have_url(re.compile(r"/queues$"))
    rows = page.locator("#queue tbody tr")  # type: ignore[attr-defined]
    expect(rows).to_have_count(3)
    # the queue refreshes itself from its JSON endpoint (a script the CSP allows: same origin, no inline)
    expect(page.locator("#refresh-state")).to_contain_text("live ·", timeout=15_000)  # type: ignore[attr-defined]
    _shot(page, "02-tier1-queue")
    title = rows.first.locator("a").inner_text()
    rows.first.locator("a").click()
    expect(page.locator("h1")).to_contain_text(title)
    incident_url = page.url  # type: ignore[attr-defined]

    page.keyboard.press("a")  # type: ignore[attr-defined]  # the acknowledge shortcut
    expect(page.locator("#state")).to_have_text("state: acknowledged")
    page.keyboard.press("e")  # type: ignore[attr-defined]  # focuses the escalation note
    page.keyboard.type("Beacon and spray share the host: handing to tier 2.")  # type: ignore[attr-defined]
    page.select_option("#escalate-tier", "2")  # type: ignore[attr-defined]
    page.click("#do-escalate")  # type: ignore[attr-defined]
    expect(page.locator("#tier")).to_have_text("tier 2")
    expect(page.locator("#timeline")).to_contain_text("handing to tier 2")
    # tier 1 can no longer close it: the service refuses, the page says why
    page.select_option("#close-verdict", "true_positive")  # type: ignore[attr-defined]
    page.select_option("#close-remediation", "manual")  # type: ignore[attr-defined]
    page.click("#do-close")  # type: ignore[attr-defined]
    expect(page.locator("#error")).to_contain_text("needs tier 2")
    _shot(page, "03-escalated-tier1-refused")

    lead = browser.new_context(base_url=installation.url, viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    other = lead.new_page()
    _log_in(other, "lead", LEAD_PASSWORD)
    other.goto(incident_url)
    other.select_option("#close-verdict", "true_positive")
    other.select_option("#close-remediation", "manual")
    other.fill("#close-note", "Host reimaged, credentials rotated.")
    other.click("#do-close")
    expect(other.locator("#state")).to_have_text("state: closed")
    expect(other.locator("#verdict")).to_have_text("verdict: true_positive (manual)")
    _shot(other, "04-closed-by-tier3")
    lead.close()


def test_metrics_page_shows_the_figures_and_the_trend(page: object) -> None:
    expect = playwright_sync.expect
    _log_in(page, "lead", LEAD_PASSWORD)
    page.goto("/metrics")  # type: ignore[attr-defined]
    expect(page.locator("#incident-count")).to_have_text(re.compile(r"^\d+$"))
    assert int(page.locator("#incident-count").inner_text()) >= 3  # type: ignore[attr-defined]
    expect(page.locator("#mtta .value")).not_to_have_text("-")
    expect(page.locator("#escalations .value")).to_have_text("1")
    # the closing above was manual (the demo's own playbooks may add automated ones)
    expect(page.locator("#remediation .value")).to_have_text(re.compile(r"^[1-9]\d* manual / \d+ automated$"))
    expect(page.locator("svg.chart polyline")).to_have_count(2)
    expect(page.locator("#remediation-chart rect")).to_have_count(2)  # manual and automated bars
    expect(page.locator("#fidelity-chart rect").first).to_be_visible()  # the closed incident's rules
    _shot(page, "05-metrics")


def test_stakeholders_get_the_read_only_overview(page: object, installation: Installation) -> None:
    expect = playwright_sync.expect
    database = open_database(None, installation.server.data_dir)
    with database.session() as session:
        add_user(session, Actor.system("test"), "cfo", "stakeholder")
        set_password(session, Actor.system("test"), "cfo", "business leader passphrase", must_change=False)
    database.close()
    _log_in(page, "cfo", "business leader passphrase")
    expect(page).to_have_url(re.compile(r"/overview$"))
    expect(page.locator("form[action^='/incidents']")).to_have_count(0)
    expect(page.locator("nav a[href='/queues']")).to_have_count(0)
    _shot(page, "06-stakeholder-overview")
    response = page.goto("/queues")  # type: ignore[attr-defined]
    assert response is not None and response.status == 403


def _open_incident(installation: Installation) -> int:
    """An incident still open in the demo installation (the triage test closed one of three)."""
    from watchfloor.cases import IncidentFilter, list_incidents

    database = open_database(None, installation.server.data_dir)
    with database.session() as session:
        found = [i.id for i in list_incidents(session, IncidentFilter()) if i.state != "closed"]
    database.close()
    assert found
    return found[0]


def test_hunt_pages_saves_and_pins_a_result(page: object, installation: Installation) -> None:
    expect = playwright_sync.expect
    incident = _open_incident(installation)
    _log_in(page, "lead", LEAD_PASSWORD)
    page.click("nav a[href='/hunt']")  # type: ignore[attr-defined]
    expect(page).to_have_url(re.compile(r"/hunt$"))
    sql = "SELECT metadata_uid, time, class_name, metadata_log_name FROM events ORDER BY time, metadata_uid"
    page.fill("#hunt-sql", sql)  # type: ignore[attr-defined]
    page.press("#hunt-sql", "Control+Enter")  # type: ignore[attr-defined]  # runs from the editor
    rows = page.locator("#hunt-results tbody tr")  # type: ignore[attr-defined]
    expect(rows).to_have_count(50)
    expect(page.locator("#hunt-range")).to_have_text("rows 1 to 50 of more")
    page.click("#next-page")  # type: ignore[attr-defined]
    expect(page.locator("#hunt-range")).to_contain_text("rows 51 to")
    page.click("#prev-page")  # type: ignore[attr-defined]
    expect(page.locator("#hunt-range")).to_have_text("rows 1 to 50 of more")

    page.fill("#hunt-name", "events in time order")  # type: ignore[attr-defined]
    page.click("#save-hunt")  # type: ignore[attr-defined]
    expect(page.locator("#hunt-notice")).to_have_text("Saved the hunt events in time order.")
    expect(page.locator("#saved-hunts a.saved-hunt")).to_contain_text(["events in time order"])

    first = rows.first
    uid = first.locator("input[name=event_uid]").get_attribute("value")
    assert uid
    first.locator("input.pin-incident").fill(str(incident))
    first.locator("button.pin-event").click()
    expect(page.locator("#hunt-notice")).to_have_text(f"Pinned {uid} to the incident's timeline.")
    expect(rows).to_have_count(50)  # back on the same page of the same query
    _shot(page, "07-hunt-pinned")

    page.goto(f"/incidents/{incident}")  # type: ignore[attr-defined]
    expect(page.locator("#timeline")).to_contain_text(f"pinned by lead: hunt result {uid}")
    _shot(page, "08-incident-with-pinned-event")


def test_rules_page_lists_rules_with_status_and_volume(page: object) -> None:
    expect = playwright_sync.expect
    _log_in(page, "lead", LEAD_PASSWORD)
    page.click("nav a[href='/rules']")  # type: ignore[attr-defined]
    expect(page).to_have_url(re.compile(r"/rules$"))
    expect(page.locator("#rule-totals")).to_contain_text(re.compile(r"[1-9]\d* active"))
    rows = page.locator("#rules tbody tr")  # type: ignore[attr-defined]
    expect(rows.first.locator(".status-active")).to_have_text("active")
    # the demo's detection raised alerts, so the busiest rule comes first with a non-zero count
    assert int(rows.first.locator("td.alerts").inner_text()) > 0
    # the demo runs the canary once: its results are on the page
    expect(page.locator("#canary")).to_contain_text("rule(s) tested")
    page.fill("#rule-search", "shadow")  # type: ignore[attr-defined]
    page.click("#rule-filter")  # type: ignore[attr-defined]
    expect(rows).to_have_count(2)
    _shot(page, "09-rules")
