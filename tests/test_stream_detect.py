"""Streaming detection under `watchfloor serve`: alerts soon after acknowledgement, state across restarts.

The rules are the demo's SSH password-spray pair (one failed password; five from one address within
five minutes) and a single-event rule, with their logsource pointed at the `hec` source, since HEC is
the listener that acknowledges. Unit tests below drive `StreamingDetector` directly on a store.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

import watchfloor.demo
from tests.live_server import LiveServer, start_server, wait_for, write_config
from watchfloor.cases import IncidentFilter, list_incidents, open_database
from watchfloor.detect import AlertStore, RuleLibrary, StreamingDetector, StreamState
from watchfloor.errors import QueryError, StoreError
from watchfloor.events import BatchBuilder
from watchfloor.ingest.listeners.hec_decode import HEC_MAPPING
from watchfloor.schema import MappingRegistry, add_core
from watchfloor.store import DuckDBEventStore

TOKEN = "stream-detect-token"
DEMO_RULES = Path(watchfloor.demo.__file__).parent / "rules"
SPRAY_ID = "9a4c2e7d-1b3f-4d5a-8e6c-0f2b7d9a1c34"
FAILED_ID = "3e8b5d21-7f6c-4a9e-b2d0-5c1a8f4e7b12"
DUMP_ID = "0d6c7a51-43b4-4c8e-9d55-1f3e2a7b9c10"
DUMP_RULE = f"""title: Credential Dumping Command Line (test)
id: {DUMP_ID}
status: test
logsource:
    product: hec
detection:
    selection:
        CommandLine|contains: 'sekurlsa::logonpasswords'
    condition: selection
level: critical
tags:
    - attack.credential_access
    - attack.t1003.001
"""


def _install_rules(rules_dir: Path) -> None:
    """The demo spray rules over `hec`, and the single-event rule."""
    text = (DEMO_RULES / "linux_ssh_password_spray.yml").read_text(encoding="utf-8")
    moved = text.replace("    product: linux\n    service: sshd\n", "    product: hec\n")
    assert moved != text
    rules_dir.mkdir(parents=True, exist_ok=True)
    (rules_dir / "spray.yml").write_text(moved, encoding="utf-8")
    (rules_dir / "dump.yml").write_text(DUMP_RULE, encoding="utf-8")


def _failed(start: dt.datetime, n: int, address: str = "203.0.113.9") -> dict[str, Any]:
    message = f"sshd[{4000 + n}]: Failed password for invalid user u{n} from {address} port {40000 + n} ssh2"
    return {
        "event": {"message": message, "src_ip": address},
        "time": (start + dt.timedelta(seconds=10 * n)).timestamp(),
        "host": "bastion",
    }


def _send(server: LiveServer, events: list[dict[str, Any]]) -> float:
    """POST events to HEC; the monotonic time the acknowledgement arrived."""
    headers = {"Authorization": f"Splunk {TOKEN}", "X-Splunk-Request-Channel": str(uuid.uuid4())}
    body = "".join(json.dumps(e) for e in events)
    response = httpx.post(server.url("hec") + "/services/collector/event", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return time.monotonic()


def _alerts(data_dir: Path, rule_id: str) -> list[dict[str, Any]]:
    return [a for a in AlertStore(data_dir / "alerts").list() if a["rule_id"] == rule_id]


def _start(data_dir: Path) -> LiveServer:
    write_config(data_dir, f'hec_tokens = ["{TOKEN}"]\n')
    _install_rules(data_dir / "rules")
    return start_server(data_dir)


@pytest.mark.network
def test_single_event_alert_and_incident_within_seconds(tmp_path: Path) -> None:
    server = _start(tmp_path)
    try:
        event = {
            "event": {"CommandLine": "mimikatz.exe sekurlsa::logonpasswords exit", "user": "alice"},
            "host": "ws-17",
        }
        acknowledged = _send(server, [event, {"event": {"CommandLine": "notepad.exe"}, "host": "ws-17"}])
        found = wait_for(lambda: _alerts(tmp_path, DUMP_ID), timeout=20, interval=0.05)
        delay = time.monotonic() - acknowledged
        assert len(found) == 1, server.output
        assert delay < 10, f"alert {delay:.2f} s after acknowledgement"
        print(f"single-event alert {delay:.2f} s after acknowledgement")
        assert found[0]["finding_info"]["attacks"]
        database = open_database(None, tmp_path)
        try:

            def incidents() -> list[Any]:
                with database.session() as session:
                    return [i for i in list_incidents(session, IncidentFilter()) if i.alert_count]

            opened = wait_for(incidents, timeout=10)
        finally:
            database.close()
        assert len(opened) == 1 and "Credential Dumping" in opened[0].title
    finally:
        server.stop()
    assert any("detection: 1 new alerts" in line for line in server.output), server.output


@pytest.mark.network
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_correlation_state_survives_restart(tmp_path: Path, stop_signal: int) -> None:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=2)
    server = _start(tmp_path)
    state = tmp_path / "detect" / "stream_state.json"
    try:
        _send(server, [_failed(start, n) for n in range(3)])
        if stop_signal == signal.SIGTERM:  # let the three be evaluated: they wait in the window buffer
            assert wait_for(lambda: len(json.loads(state.read_text())["buffer"]) == 3, timeout=20)
    finally:
        server.stop(stop_signal)
    assert not _alerts(tmp_path, SPRAY_ID)

    server = start_server(tmp_path)
    try:
        _send(server, [_failed(start, n) for n in range(3, 5)])
        found = wait_for(lambda: _alerts(tmp_path, SPRAY_ID), timeout=20, interval=0.1)
        time.sleep(1.5)  # a duplicate would show up by now
        found = _alerts(tmp_path, SPRAY_ID)
    finally:
        server.stop()
    assert len(found) == 1, server.output
    assert len(found[0]["evidences"]) == 5
    assert found[0]["correlation_key"] == f"{SPRAY_ID}|src_ip=203.0.113.9"
    assert not _alerts(tmp_path, FAILED_ID)  # the base rule only feeds the correlation


# -- the detector on its own ---------------------------------------------------------------------
def _store_failed(store: DuckDBEventStore, start: dt.datetime, numbers: range, tag: str) -> None:
    builder = BatchBuilder("hec", "splunk-hec", f"test:{tag}")
    for n in numbers:
        doc = _failed(start, n)
        record = {**doc["event"], "time": doc["time"], "host": doc["host"]}
        builder.add(record, doc["event"]["message"], n)
    registry = MappingRegistry()
    registry.register(HEC_MAPPING)
    table: pa.Table = add_core(builder.build(), registry, logged_time=start, origin=f"test:{tag}")
    store.append(table)


def _detector(root: Path, store: DuckDBEventStore) -> StreamingDetector:
    return StreamingDetector(
        store, RuleLibrary(root / "rules"), AlertStore(root / "alerts"), root / "detect" / "stream_state.json"
    )


def test_each_part_evaluated_once_and_windows_carried(tmp_path: Path) -> None:
    _install_rules(tmp_path / "rules")
    store = DuckDBEventStore(tmp_path / "events")
    start = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
    _store_failed(store, start, range(0, 1), "old")  # stored before streaming began: not evaluated
    detector = _detector(tmp_path, store)
    detector.initialize()
    assert detector.run_once() is None
    for n in range(1, 5):  # one part per cycle, the fifth match arrives in the fourth cycle
        _store_failed(store, start, range(n, n + 1), str(n))
        cycle = _detector(tmp_path, store).run_once()  # a fresh detector each time: state from the file
        assert cycle is not None and cycle.parts == 1
    assert not _alerts(tmp_path, SPRAY_ID)  # only four evaluated failures
    _store_failed(store, start, range(5, 9), "burst")
    cycle = _detector(tmp_path, store).run_once()
    assert cycle is not None and [a.rule_id for a in cycle.new_alerts] == [SPRAY_ID]
    assert len(cycle.new_alerts[0].evidence) == 5  # the window: failures 1..5 (0 was history)
    assert _detector(tmp_path, store).run_once() is None  # nothing new: nothing evaluated twice
    saved = StreamState.read(tmp_path / "detect" / "stream_state.json")
    assert saved is not None and len(saved.seen) == 6 and saved.quiet[SPRAY_ID]


def test_a_failing_cycle_is_retried_and_replays_cleanly(tmp_path: Path) -> None:
    _install_rules(tmp_path / "rules")
    store = DuckDBEventStore(tmp_path / "events")
    start = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
    handed: list[int] = []

    def flaky(alerts: Any) -> None:
        handed.append(len(alerts))
        if len(handed) == 1:
            raise OSError("incident database unavailable")

    detector = _detector(tmp_path, store)
    detector.on_alerts = flaky
    detector.retry_seconds = 0.05
    detector.start()
    try:
        _store_failed(store, start, range(0, 6), "all")
        detector.notify()
        assert wait_for(lambda: len(handed) >= 2, timeout=20)
    finally:
        detector.stop()
    assert detector.stats.errors == 1
    assert len(_alerts(tmp_path, SPRAY_ID)) == 1  # stored by the failed cycle, not again by the retry


def test_alerts_are_stored_at_once_and_the_state_file_waits_for_incident_intake(tmp_path: Path) -> None:
    """Intake runs on its own thread; until it is done, a crash replays the cycle (nothing is lost)."""
    _install_rules(tmp_path / "rules")
    store = DuckDBEventStore(tmp_path / "events")
    start = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
    release = threading.Event()
    handed: list[int] = []

    def slow_intake(alerts: Any) -> None:
        handed.append(len(alerts))
        release.wait(20)

    detector = _detector(tmp_path, store)
    detector.on_alerts = slow_intake
    detector.start()
    try:
        _store_failed(store, start, range(0, 6), "all")
        detector.notify()
        assert wait_for(lambda: handed, timeout=20)
        assert len(_alerts(tmp_path, SPRAY_ID)) == 1  # stored while intake is still busy
        # A crash now: a detector started from the saved state evaluates the same parts again and
        # hands the same alert on (the alert store already has it; intake drops copies by uid).
        replay = _detector(tmp_path, store).run_once()
        assert replay is not None and replay.parts == 1
        assert [a.rule_id for a in replay.alerts].count(SPRAY_ID) == 1 and not replay.new_alerts
    finally:
        release.set()
        detector.stop()
    saved = StreamState.read(tmp_path / "detect" / "stream_state.json")
    assert saved is not None and len(saved.seen) == 1  # written once intake finished


def test_store_reads_only_the_parts_asked_for(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "events")
    start = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
    _store_failed(store, start, range(0, 2), "a")
    _store_failed(store, start, range(2, 5), "b")
    parts = store.parts()
    assert len(parts) == 2 and parts[0].written_ns <= parts[1].written_ns
    assert store.parts(parts[1].written_ns) == parts[1:]
    with store.open_reader([parts[1].name]) as reader:
        assert "hec" in reader.views() and "src_ip" in reader.view_columns("hec")
        assert reader.view_columns("nothing_here") == []
        rows = sum(b.num_rows for b in reader.query_batches('SELECT * FROM "hec"'))
    assert rows == 3
    with store.open_reader() as reader:
        assert sum(b.num_rows for b in reader.query_batches("SELECT * FROM events")) == 5
        with pytest.raises(QueryError):
            list(reader.query_batches("SELECT no_such_column FROM hec"))
    with pytest.raises(StoreError):
        store.open_reader(["../../etc/passwd"])
