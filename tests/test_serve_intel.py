"""Threat intel under a real `watchfloor serve`: a feed added and pulled over the API, events sent to HEC,
and the intel alert and its incident appearing within seconds of acknowledgement (streaming matching).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from tests.live_server import LiveServer, start_server, wait_for, write_config
from watchfloor.api.intel_stream import IntelStream, PullScheduler, pull_interval
from watchfloor.cases import Actor, IncidentFilter, Role, add_user, list_incidents, open_database
from watchfloor.cases.tokens import create_token
from watchfloor.config import load_settings
from watchfloor.detect import AlertStore
from watchfloor.errors import ConfigError
from watchfloor.intel import FeedInfo, intel_store

TOKEN = "intel-stream-test-token-0123456789"
BAD = "203.0.113.77"


def _api_token(data_dir: Path) -> str:
    """An administrator with an API token, made in the incident database before the server starts."""
    database = open_database(None, data_dir)
    try:
        with database.session() as session:
            add_user(session, Actor("setup", Role.ADMIN), "intel-admin", "admin")
            return create_token(session, Actor("setup", Role.ADMIN), "intel-admin", ["read", "write"]).secret
    finally:
        database.close()


def _send(server: LiveServer, events: list[dict[str, Any]]) -> float:
    headers = {"Authorization": f"Splunk {TOKEN}", "X-Splunk-Request-Channel": str(uuid.uuid4())}
    body = "".join(json.dumps(e) for e in events)
    response = httpx.post(server.url("hec") + "/services/collector/event", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return time.monotonic()


def _intel_alerts(data_dir: Path) -> list[dict[str, Any]]:
    return [a for a in AlertStore(data_dir / "alerts").list() if str(a["rule_id"]).startswith("intel:")]


@pytest.mark.network
def test_streaming_intel_match_becomes_alert_and_incident_within_seconds(tmp_path: Path) -> None:
    data_dir = tmp_path / "wf"
    write_config(data_dir, f'hec_tokens = ["{TOKEN}"]\n[intel]\npull_interval = "1h"\n')
    secret = _api_token(data_dir)
    feed = tmp_path / "blocklist.txt"
    feed.write_text(f"# addresses seen in the campaign\n{BAD}\nbad-c2.example\n", encoding="utf-8")
    server = start_server(data_dir)
    try:
        api = httpx.Client(
            base_url=server.url("api"), headers={"Authorization": f"Bearer {secret}"}, timeout=60
        )
        added = api.post(
            "/api/v1/intel/feeds", json={"name": "campaign", "kind": "csv", "location": str(feed)}
        )
        assert added.status_code == 201, added.text
        pulled = api.post("/api/v1/intel/pull")
        assert pulled.status_code == 200 and pulled.json()[0]["indicators"] == 2, pulled.text
        time.sleep(0.5)  # let the index notice the pull before the events arrive (it checks every 2 s)

        acknowledged = _send(
            server,
            [
                {"event": {"message": f"connection from {BAD}", "src_ip": BAD}, "host": "gw-1"},
                {
                    "event": {"message": "connection from 198.51.100.4", "src_ip": "198.51.100.4"},
                    "host": "gw-1",
                },
            ],
        )
        found = wait_for(lambda: _intel_alerts(data_dir), timeout=20, interval=0.05)
        delay = time.monotonic() - acknowledged
        assert len(found) == 1, server.output
        assert found[0]["rule_id"] == "intel:campaign"
        assert delay < 10, f"intel alert {delay:.2f} s after acknowledgement"
        print(f"intel alert {delay:.2f} s after acknowledgement")

        def incidents() -> list[Any]:
            response = api.get("/api/v1/incidents")
            assert response.status_code == 200, response.text
            return [i for i in response.json()["items"] if i["alert_count"]]

        opened = wait_for(incidents, timeout=10)
        assert len(opened) == 1 and "Threat intel" in opened[0]["title"], opened
        searched = api.get("/api/v1/intel/search", params={"value": BAD}).json()
        assert [r["feed"] for r in searched] == ["campaign"]
    finally:
        server.stop()
    assert any("intel: 1 new alerts" in line for line in server.output), server.output
    sightings = intel_store(load_settings(data_dir, environ={})).sightings()
    assert [(s.value, s.feed) for s in sightings] == [(BAD, "campaign")]
    database = open_database(None, data_dir)
    try:
        with database.session() as session:
            assert len([i for i in list_incidents(session, IncidentFilter()) if i.alert_count]) == 1
    finally:
        database.close()


def test_pull_interval_setting(tmp_path: Path) -> None:
    def interval(value: str) -> float:
        write_config(tmp_path, f"[intel]\npull_interval = {value}\n")
        return pull_interval(load_settings(tmp_path, environ={}))

    assert interval('"1h"') == 3600 and interval('"30m"') == 1800 and interval("0") == 0
    assert interval("90") == 90 and interval('"2d"') == 172800
    with pytest.raises(ConfigError, match="pull_interval"):
        interval('"soon"')
    write_config(tmp_path, "")
    assert pull_interval(load_settings(tmp_path, environ={})) == 3600


def test_a_full_intel_queue_drops_the_table_from_matching_without_blocking(tmp_path: Path) -> None:
    handed: list[Any] = []
    stream = IntelStream(load_settings(tmp_path, environ={}), handed.extend, max_queue=1)
    table = pa.table({"message": ["a", "b"]})
    started = time.monotonic()
    stream.offer(table)  # queued (the worker is not running)
    stream.offer(table)  # the queue is full: dropped from intel matching, never waited on
    assert time.monotonic() - started < 0.5
    assert stream.stats.dropped == 2
    stream.start()
    stream.stop()
    assert stream.stats.batches == 1 and stream.stats.alerts == 0 and handed == []


def test_scheduled_pulls_fetch_feeds_and_log_a_failing_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(tmp_path, environ={})
    good, gone = tmp_path / "good.txt", tmp_path / "gone.txt"
    good.write_text(f"{BAD}\n", encoding="utf-8")
    gone.write_text("bad-c2.example\n", encoding="utf-8")
    store = intel_store(settings)
    store.add_feed(FeedInfo(name="good", kind="csv", location=str(good)))
    store.add_feed(FeedInfo(name="gone", kind="csv", location=str(gone)))
    gone.unlink()
    scheduler = PullScheduler(settings, 0.1, settle_s=0.05)
    scheduler.start()
    try:
        assert wait_for(lambda: scheduler.pulls >= 2, timeout=10, interval=0.05)
    finally:
        scheduler.stop()
    feeds = {f.name: f for f in store.feeds()}
    assert feeds["good"].indicators == 1 and feeds["good"].last_error is None
    assert feeds["gone"].last_error and feeds["gone"].last_pull is not None
    assert any("feed gone failed" in r.getMessage() for r in caplog.records)


def test_an_overdue_feed_is_pulled_soon_after_start_up(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    listed = tmp_path / "list.txt"
    listed.write_text(f"{BAD}\n", encoding="utf-8")
    intel_store(settings).add_feed(FeedInfo(name="never-pulled", kind="csv", location=str(listed)))
    scheduler = PullScheduler(settings, 3600, settle_s=0.05)
    scheduler.start()
    try:
        assert wait_for(lambda: scheduler.pulls >= 1, timeout=10, interval=0.05)
    finally:
        scheduler.stop()
    assert intel_store(settings).feed("never-pulled").indicators == 1
    assert PullScheduler(settings, 3600)._first_delay() > 3000  # just pulled: due in an hour
