"""Major incidents: declaration by tier 3, per-audience updates delivered to real HTTP receivers,
cadence reminders on a controlled clock, acknowledgements, and the post-incident review."""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.test_cases_support import T0, alert, database, db_url, pg_schema_url, staff  # noqa: F401
from watchfloor.cases import (
    Actor,
    Conflict,
    Database,
    Forbidden,
    NotAllowed,
    NotFound,
    UpdateText,
    acknowledge_update,
    add_action,
    close_major,
    complete_action,
    declare_major,
    due_majors,
    entries,
    receive_alerts,
    show_major,
    stakeholder_page,
    verify,
    write_review,
)
from watchfloor.respond import ActionSpec, RecordingConnector, sign
from watchfloor.respond.comms import CommsConfig, post_update, send_reminders

TEXT = UpdateText(
    what_happened="An attacker used a stolen password to reach the payments database.",
    impact="Card payments are slow; no card data is known to have left.",
    doing="We locked the account and are checking every server it touched.",
    need="Approval to take the payments database offline for one hour.",
)


def _incidents(database: Database) -> list[int]:
    with database.session() as session:
        result = receive_alerts(
            session, [alert("a1", 0, hosts=("pay-db01",)), alert("a2", 1, hosts=("ws-042",), rule="r-other")]
        )
    return sorted({result.incident_of("a1"), result.incident_of("a2")})


def _declare(
    database: Database,
    lead: Actor,
    audiences: tuple[str, ...],
    cadence: int = 30,
    now: dt.datetime | None = T0,
) -> int:
    with database.session() as session:
        return declare_major(
            session,
            lead,
            incident_ids=_incidents(database),
            title="Payments breach",
            services=("Payments",),
            audiences=audiences,
            cadence_minutes=cadence,
            now=now,
        ).id


def test_only_tier3_declares(database: Database, staff: dict[str, Actor]) -> None:
    ids = _incidents(database)
    for role in ("tier1", "tier2", "stakeholder"):
        with pytest.raises(Forbidden, match="tier 3"), database.session() as session:
            declare_major(
                session,
                staff[role],
                incident_ids=ids,
                title="x",
                services=(),
                audiences=(),
                cadence_minutes=60,
            )
    with database.session() as session:
        view = declare_major(
            session,
            staff["tier3"],
            incident_ids=ids,
            title="Payments breach",
            services=("Payments",),
            audiences=("executives",),
            cadence_minutes=60,
            now=T0,
        )
        trail = [e.after for e in entries(session, target_type="major", target_id=view.id)]
    assert view.incident_ids == tuple(ids) and view.next_update_due_at == T0 + dt.timedelta(minutes=60)
    assert trail[0]["incidents"] == ids and trail[0]["audiences"] == ["executives"]


def _config(httpserver: HTTPServer) -> CommsConfig:
    extra: dict[str, Any] = {
        "connectors": {
            "exec-room": {"type": "slack", "url": httpserver.url_for("/slack")},
            "counsel": {"type": "webhook", "url": httpserver.url_for("/hook"), "secret": "s3cret"},
        },
        "major": {
            "audiences": {
                "executives": {"channel": "slack:exec-room"},
                "legal": {"channel": "webhook:counsel"},
                "regulators": {"channel": "slack:nowhere"},
            }
        },
    }
    return CommsConfig.from_settings(extra)


def test_update_is_rendered_per_audience_and_delivered(
    database: Database, staff: dict[str, Actor], httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    major_id = _declare(database, staff["tier3"], ("executives", "legal", "regulators"))
    with database.session() as session:
        update = post_update(
            session, staff["tier3"], major_id, TEXT, _config(httpserver), now=T0 + dt.timedelta(minutes=10)
        )
    by_path = {request.path: request for request, _ in httpserver.log}
    slack = json.loads(by_path["/slack"].get_data())
    assert "Executive briefing 1: Payments breach" in slack["text"]
    assert "Card payments are slow" in slack["text"] and "Payments" in slack["text"]
    hook = by_path["/hook"]
    body = hook.get_data()
    assert hook.headers["X-Watchfloor-Signature"] == sign(
        "s3cret", hook.headers["X-Watchfloor-Timestamp"], body
    )
    legal = json.loads(body)
    assert legal["text"].startswith("Privileged and confidential")
    assert "Approval to take the payments database offline" in legal["text"]
    status = {d.audience: (d.status, d.detail) for d in update.deliveries}
    assert status["executives"][0] == "sent" and status["legal"][0] == "sent"
    assert status["regulators"][0] == "failed" and "nowhere" in status["regulators"][1]
    with database.session() as session:
        actions = [e.action for e in entries(session, target_type="major", target_id=major_id)]
    assert actions.count("major.update.delivered") == 3 and "major.updated" in actions


def test_cadence_and_reminders_with_a_controlled_clock(database: Database, staff: dict[str, Actor]) -> None:
    lead = staff["tier3"]
    major_id = _declare(database, lead, (), cadence=30)
    reminders = RecordingConnector("lead", {"send": ActionSpec("send")})
    config = CommsConfig({}, {"lead": reminders}, {"lead": {"type": "slack"}}, None, "slack:lead", None)
    minute = lambda n: T0 + dt.timedelta(minutes=n)  # noqa: E731
    with database.session() as session:
        assert due_majors(session, minute(29)) == []
        due = send_reminders(session, config, minute(31))
        assert [d.major.id for d in due] == [major_id] and due[0].overdue == dt.timedelta(minutes=1)
        assert "overdue by 1 min" in reminders.calls[0][1]["text"]
        post_update(session, lead, major_id, TEXT, config, next_in_minutes=15, now=minute(31))
        assert due_majors(session, minute(45)) == []
        assert [d.major.id for d in due_majors(session, minute(47))] == [major_id]
        close_major(session, lead, major_id, now=minute(50))
        assert due_majors(session, minute(500)) == []
        with pytest.raises(NotAllowed, match="closed"):
            post_update(session, lead, major_id, TEXT, config, now=minute(51))


def test_acknowledgements_are_tracked(database: Database, staff: dict[str, Actor]) -> None:
    lead = staff["tier3"]
    major_id = _declare(database, lead, ("executives", "legal"))
    channel = RecordingConnector("room", {"send": ActionSpec("send")})
    config = CommsConfig.from_settings(
        {
            "major": {
                "audiences": {
                    "executives": {"channel": "connector:room"},
                    "legal": {"channel": "connector:room"},
                }
            }
        }
    )
    config = CommsConfig(config.audiences, {"room": channel}, {"room": {"type": "slack"}}, None, None, None)
    with database.session() as session:
        update = post_update(session, lead, major_id, TEXT, config, now=T0)
    assert len(channel.calls) == 2
    with database.session() as session:
        acknowledge_update(session, staff["stakeholder"], update.id, audience="executives", by="CFO", now=T0)
        with pytest.raises(Conflict, match="already acknowledged"):
            acknowledge_update(session, lead, update.id, audience="executives", by="CEO")
        with pytest.raises(NotFound):
            acknowledge_update(session, lead, update.id, audience="press", by="x")
        page = stakeholder_page(session)
    latest = {d.audience: d for d in page[0].latest}
    assert latest["executives"].acknowledged_by == "CFO" and latest["legal"].acknowledged_by is None
    assert page[0].latest_update is not None and page[0].latest_update.text == TEXT


def test_review_has_the_timeline_lessons_and_action_items(
    database: Database, staff: dict[str, Actor]
) -> None:
    lead = staff["tier3"]
    major_id = _declare(database, lead, (), now=None)  # the audit log's clock: the review sorts by it
    config = CommsConfig({}, {}, {}, None, None, None)
    with database.session() as session:
        post_update(session, lead, major_id, TEXT, config)
        item = add_action(
            session,
            staff["tier2"],
            major_id,
            owner="dba-team",
            due=dt.date(2026, 4, 1),
            text="Rotate DB keys",
        )
        with pytest.raises(NotAllowed, match="close major incident"):
            write_review(session, lead, major_id)
        close_major(session, lead, major_id)
        complete_action(session, staff["tier2"], item.id)
        add_action(session, lead, major_id, owner="iam", due=dt.date(2026, 5, 1), text="Enforce MFA for DBAs")
        markdown = write_review(session, lead, major_id, lessons="MFA was missing on admin accounts.")
        stored = show_major(session, major_id)
        assert verify(session).ok
    assert stored.review == markdown and stored.lessons.startswith("MFA was missing")
    assert "# Post-incident review: Payments breach" in markdown
    timeline = markdown.split("## Timeline", 1)[1].split("## Stakeholder updates", 1)[0]
    rows = [line for line in timeline.splitlines() if line.startswith("| 20")]
    actions = [row.split("|")[3].strip() for row in rows]
    assert actions.count("incident.opened") == 2 and actions[0] == "incident.opened"
    assert actions.index("major.declared") > max(i for i, a in enumerate(actions) if a == "incident.opened")
    assert actions.index("major.updated") < actions.index("major.closed") < actions.index("major.action.done")
    assert "- [x] Rotate DB keys (owner: dba-team, due 2026-04-01)" in markdown
    assert "- [ ] Enforce MFA for DBAs (owner: iam, due 2026-05-01)" in markdown
    assert "MFA was missing on admin accounts." in markdown


def test_serve_reminder_thread_counts_overdue_majors(tmp_path: Path) -> None:
    from watchfloor.api.automation import MajorReminders
    from watchfloor.cases import Role, add_user, open_database
    from watchfloor.config import load_settings

    root = tmp_path / "wf"
    root.mkdir()
    (root / "watchfloor.toml").write_text('[major]\nreminder_interval = "0"\n', encoding="utf-8")
    settings = load_settings(root, environ={})
    database = open_database(None, root)
    try:
        with database.session() as session:
            add_user(session, Actor.system("test"), "lead", "tier3")
        lead = Actor("lead", Role.TIER3)
        _declare(database, lead, (), cadence=30, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    finally:
        database.close()
    reminders = MajorReminders(settings)
    assert reminders.interval == 0.0
    reminders.start()  # interval 0: no thread
    assert not reminders.thread.is_alive()
    assert reminders.check() == 1  # overdue by 90 minutes; no reminder channel configured: counted only
    reminders.stop()
