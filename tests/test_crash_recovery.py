"""SIGKILL `watchfloor serve` again and again under load: nothing acknowledged is lost, nothing doubles."""

from __future__ import annotations

import json
import random
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.live_server import LiveServer, start_server, wait_for, write_config

pytestmark = pytest.mark.network
TOKEN = "crash-test-token"
KILLS = 10


class Load:
    """Client threads that send unique ids while the server comes and goes."""

    def __init__(self) -> None:
        self.server: LiveServer | None = None
        self.acknowledged: set[str] = set()
        self.sent_syslog = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def hec(self, worker: int) -> None:
        channel = str(uuid.uuid4())
        headers = {"Authorization": f"Splunk {TOKEN}", "X-Splunk-Request-Channel": channel}
        batch = 0
        while not self.stop.is_set():
            server = self.server
            if server is None:
                time.sleep(0.02)
                continue
            ids = [f"h{worker}-{batch}-{i}" for i in range(random.randint(1, 40))]
            batch += 1
            body = "".join(json.dumps({"event": {"uid": uid, "worker": worker}}) for uid in ids)
            try:
                response = httpx.post(
                    server.url("hec") + "/services/collector/event", content=body, headers=headers, timeout=5
                )
            except httpx.HTTPError:
                time.sleep(0.02)
                continue
            if response.status_code == 200 and response.json()["code"] == 0:
                with self.lock:
                    self.acknowledged.update(ids)
            else:
                assert response.status_code == 503, response.text  # never a 500
                time.sleep(0.05)

    def syslog(self) -> None:
        number = 0
        while not self.stop.is_set():
            server = self.server
            if server is None:
                time.sleep(0.02)
                continue
            try:
                with socket.create_connection(server.address("syslog_tcp"), timeout=5) as sock:
                    while not self.stop.is_set() and self.server is server:
                        lines = b"".join(
                            f"<13>Jan 10 12:00:00 h1 crashapp: uid=s-{number + i}\n".encode()
                            for i in range(20)
                        )
                        number += 20
                        sock.sendall(lines)
                        time.sleep(0.005)
            except OSError:
                time.sleep(0.02)


def test_sigkill_loses_nothing_acknowledged_and_stores_nothing_twice(tmp_path: Path) -> None:
    data_dir = tmp_path / "wf"
    # small segments so that kills also land around rotations and segment deletions
    write_config(data_dir, f'hec_tokens = ["{TOKEN}"]\n[spool]\nsegment_bytes = 65536\n')
    load = Load()
    threads = [threading.Thread(target=load.hec, args=(w,), daemon=True) for w in range(3)]
    threads.append(threading.Thread(target=load.syslog, daemon=True))
    load.server = start_server(data_dir)
    for thread in threads:
        thread.start()
    rng = random.Random(7)
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.2))
            victim = load.server
            load.server = None
            assert victim is not None
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait(10)
            load.server = start_server(data_dir)
        time.sleep(0.5)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(10)
    final = load.server
    assert final is not None
    assert len(load.acknowledged) > 500, "the load generator barely ran"
    expected = len(load.acknowledged)

    def stored_hec() -> int:
        rows = final.query("SELECT count(DISTINCT uid) AS n FROM hec")
        return int(rows[0]["n"]) if rows else 0

    wait_for(lambda: stored_hec() >= expected, timeout=30)
    assert final.stop() == 0
    hec = final.query("SELECT uid FROM hec")
    uids = [r["uid"] for r in hec]
    assert len(uids) == len(set(uids)), "an event was stored twice"
    missing = load.acknowledged - set(uids)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    syslog = [r["message"] for r in final.query("SELECT message FROM syslog WHERE appname = 'crashapp'")]
    assert len(syslog) == len(set(syslog)), "a syslog message was stored twice"
    ids = final.query("SELECT count(*) AS n, count(DISTINCT metadata_uid) AS d FROM events")
    assert ids[0]["n"] == ids[0]["d"]
