"""Splunk HEC against a running `watchfloor serve` (httpx over loopback), and backpressure in-process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live_server import LiveServer, start_server, wait_for, write_config
from watchfloor.ingest import QuarantineWriter
from watchfloor.ingest.chunk_decoding import InThreadDecoder
from watchfloor.ingest.listeners import live_decoders
from watchfloor.ingest.listeners.hec import AckTracker, hec_app
from watchfloor.ingest.live import LiveConsumer
from watchfloor.ingest.spool import Spool, SpoolLimits
from watchfloor.store import DuckDBEventStore

pytestmark = pytest.mark.network
TOKEN = "0b6a4d1e-hec-test-token"
AUTH = {"Authorization": f"Splunk {TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("hec") / "wf"
    write_config(data_dir, f'hec_tokens = ["{TOKEN}"]\n')
    live = start_server(data_dir)
    yield live
    assert live.stop() == 0


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url("hec"), timeout=30) as http:
        yield http


def test_thousand_events_acked_then_queryable(server: LiveServer, client: httpx.Client) -> None:
    run = uuid.uuid4().hex
    channel = str(uuid.uuid4())
    headers = {**AUTH, "X-Splunk-Request-Channel": channel}
    ack_ids = []
    for batch in range(10):
        body = "".join(
            json.dumps(
                {"event": {"run": run, "n": batch * 100 + i, "msg": "login"}, "host": "web1", "time": 1.7e9}
            )
            for i in range(100)
        )
        response = client.post("/services/collector/event", content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["text"] == "Success" and response.json()["code"] == 0
        ack_ids.append(response.json()["ackId"])
    assert ack_ids == list(range(10))
    acks = client.post("/services/collector/ack", json={"acks": ack_ids}, headers=headers).json()
    assert acks == {"acks": {str(i): True for i in ack_ids}}
    # an id is answered true once, then forgotten, as Splunk does
    assert client.post("/services/collector/ack", json={"acks": [0]}, headers=headers).json() == {
        "acks": {"0": False}
    }
    wait_for(lambda: server.query(f"SELECT count(*) AS n FROM hec WHERE run = '{run}'") == [{"n": 1000}])
    stored = server.query(
        f"SELECT CAST(n AS INTEGER) AS n, host, ocsf.device_hostname AS h FROM hec WHERE run = '{run}'"
    )
    assert sorted(r["n"] for r in stored) == list(range(1000))
    assert {(r["host"], r["h"]) for r in stored} == {("web1", "web1")}
    hunt = subprocess.run(
        [sys.executable, "-m", "watchfloor", "--data-dir", str(server.data_dir), "hunt", "--format", "json",
         f"SELECT count(*) AS n FROM hec WHERE run = '{run}'"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(hunt.stdout) == [{"n": 1000}]


def test_raw_endpoint_and_aliases(server: LiveServer, client: httpx.Client) -> None:
    run = uuid.uuid4().hex
    channel = str(uuid.uuid4())
    lines = "\n".join(f"raw line {run} {i}" for i in range(5))
    response = client.post(
        "/services/collector/raw",
        params={"channel": channel, "sourcetype": "app:log", "host": "h9"},
        content=lines,
        headers=AUTH,
    )
    assert response.json() == {"text": "Success", "code": 0, "ackId": 0}
    for path in ("/services/collector", "/services/collector/event/1.0"):
        assert client.post(path, content=json.dumps({"event": f"{run} via {path}"}), headers=AUTH).json() == {
            "text": "Success",
            "code": 0,
        }
    wait_for(lambda: len(server.query(f"SELECT 1 FROM hec WHERE contains(message, '{run}')")) == 7)
    rows = server.query(f"SELECT message, sourcetype, host FROM hec WHERE contains(message, '{run}')")
    assert len(rows) == 7
    assert {r["sourcetype"] for r in rows if r["message"].startswith("raw")} == {"app:log"}


def _error(code: int, text: str, event: int | None = None) -> dict[str, object]:
    answer: dict[str, object] = {"text": text, "code": code}
    if event is not None:
        answer["invalid-event-number"] = event
    return answer


BAD_CHANNEL = {**AUTH, "X-Splunk-Request-Channel": "not-a-guid"}


@pytest.mark.parametrize(
    ("headers", "body", "status", "answer"),
    [
        ({}, '{"event":"x"}', 401, _error(2, "Token is required")),
        ({"Authorization": TOKEN}, '{"event":"x"}', 401, _error(3, "Invalid authorization")),
        ({"Authorization": "Splunk nope"}, '{"event":"x"}', 403, _error(4, "Invalid token")),
        (AUTH, "", 400, _error(5, "No data")),
        (AUTH, '{"event":"a"}{"event":"b"}{"event": nope}', 400, _error(6, "Invalid data format", 2)),
        (AUTH, '{"event":"a"}[1]', 400, _error(6, "Invalid data format", 1)),
        (AUTH, '{"event":"a","index":"Bad Index"}', 400, _error(7, "Incorrect index", 0)),
        (AUTH, '{"event":"a"}{"host":"h"}', 400, _error(12, "Event field is required", 1)),
        (AUTH, '{"event":""}', 400, _error(13, "Event field cannot be blank", 0)),
        (BAD_CHANNEL, '{"event":"a"}', 400, _error(11, "Invalid data channel")),
    ],
)
def test_error_codes_are_splunks(
    client: httpx.Client, headers: dict[str, str], body: str, status: int, answer: dict[str, object]
) -> None:
    response = client.post("/services/collector/event", content=body, headers=headers)
    assert (response.status_code, response.json()) == (status, answer)


def test_channel_required_where_splunk_requires_it(client: httpx.Client) -> None:
    missing = {"text": "Data channel is missing", "code": 10}
    assert client.post("/services/collector/raw", content="x", headers=AUTH).json() == missing
    assert client.post("/services/collector/ack", json={"acks": [0]}, headers=AUTH).json() == missing
    bad = client.post(
        "/services/collector/ack",
        content="[",
        headers={**AUTH, "X-Splunk-Request-Channel": str(uuid.uuid4())},
    )
    assert (bad.status_code, bad.json()) == (400, {"text": "Invalid data format", "code": 6})


def test_health_needs_no_token(client: httpx.Client) -> None:
    response = client.get("/services/collector/health")
    assert (response.status_code, response.json()) == (200, {"text": "HEC is healthy", "code": 17})


def test_no_token_configured_refuses_everything(tmp_path: Path) -> None:
    live = start_server(tmp_path / "wf")
    try:
        assert any("hec_tokens" in line for line in live.output)
        response = httpx.post(
            live.url("hec") + "/services/collector/event", content='{"event":"x"}', headers=AUTH
        )
        assert (response.status_code, response.json()["code"]) == (403, 4)
        api = httpx.get(live.url("api") + "/health")
        assert api.json() == {"status": "ok"}
        assert httpx.post(live.url("otlp") + "/v1/logs", content=b"").status_code == 401
    finally:
        assert live.stop() == 0


def test_backpressure_is_503_code_9_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", SpoolLimits(max_backlog_records=50, retry_after=2))
    app = hec_app(spool, [TOKEN], lambda: spool.overloaded)
    accepted: list[int] = []
    refused = 0

    async def send() -> httpx.Response:
        nonlocal refused
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hec") as http:
            for n in range(100):
                body = json.dumps({"event": {"n": n}})
                response = await http.post("/services/collector/event", content=body, headers=AUTH)
                if response.status_code == 200:
                    accepted.append(n)
                else:
                    refused += 1
                    assert response.status_code == 503
                    assert response.json() == {"text": "Server is busy", "code": 9}
                    assert response.headers["retry-after"] == "2"
            return await http.get("/services/collector/health")

    health = asyncio.run(send())
    assert (health.status_code, health.json()["code"]) == (503, 18)
    assert accepted == list(range(50)) and refused == 50
    store = DuckDBEventStore(tmp_path / "events")
    consumer = LiveConsumer(
        spool,
        store,
        InThreadDecoder(live_decoders()),
        QuarantineWriter(tmp_path / "q"),
    )
    while consumer.step():
        pass
    assert sorted(int(r["n"]) for r in store.query("SELECT n FROM hec").to_pylist()) == accepted
    assert spool.backlog == (0, 0) and not spool.overloaded
    spool.close()


def test_ack_tracker_is_bounded() -> None:
    tracker = AckTracker(max_channels=2, max_ids=3)
    ids = [tracker.issue("a") for _ in range(5)]
    assert ids == [0, 1, 2, 3, 4]
    assert tracker.query("a", [0, 1, 2, 3, 4]) == {"0": False, "1": False, "2": True, "3": True, "4": True}
    tracker.issue("b")
    tracker.issue("c")  # evicts channel a, the least recently used
    assert tracker.query("a", [4]) == {"4": False}
