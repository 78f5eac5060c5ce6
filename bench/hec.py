"""Splunk HEC with indexer acknowledgement against `watchfloor serve` on loopback.

Starts `watchfloor serve` on free ports in a fresh data directory, then for `--seconds` runs
`--clients` concurrent senders, each posting batches of `--batch` JSON events on its own data channel.
An answer with an `ackId` means the spool has fsynced the batch (that is when Watchfloor answers), so
the acknowledgement latency of a batch is its request's round trip; at the end every ackId is checked
with `/services/collector/ack`, and the run waits until the consumer has stored every event.

Prints sustained acknowledged events/s, p50/p99 acknowledgement latency, and the time the store took
to catch up. Client and server share the machine: on a small one the client's own CPU is part of the
figure. Usage: `python bench/hec.py [--seconds 20] [--clients 16] [--batch 100]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
TOKEN = "bench-hec-token"


def start(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    data_dir.mkdir(parents=True)
    (data_dir / "watchfloor.toml").write_text(f'hec_tokens = ["{TOKEN}"]\n', encoding="utf-8")
    ports = ["--api-port", "0", "--syslog-port", "0", "--hec-port", "0", "--otlp-port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "watchfloor", "--data-dir", str(data_dir), "serve", *ports],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    url = ""
    for line in process.stdout:
        if line.startswith("listening: hec "):
            url = line.split()[-1]
        if line.startswith("watchfloor serve ready"):
            return process, url
    raise SystemExit("watchfloor serve did not start")


async def sender(
    url: str, batch: int, until: float, latencies: list[float], acked: dict[str, list[int]]
) -> int:
    channel = str(uuid.uuid4())
    headers = {"Authorization": f"Splunk {TOKEN}", "X-Splunk-Request-Channel": channel}
    ids: list[int] = []
    acked[channel] = ids
    sent = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        while time.monotonic() < until:
            body = "".join(
                json.dumps({"event": {"user": "alice", "action": "login", "n": sent + i}, "host": "web1"})
                for i in range(batch)
            )
            started = time.perf_counter()
            response = await client.post("/services/collector/event", content=body)
            if response.status_code == 503:
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
            ids.append(response.json()["ackId"])
            sent += batch
        for start_at in range(0, len(ids), 1000):
            part = ids[start_at : start_at + 1000]
            answer = (await client.post("/services/collector/ack", json={"acks": part})).json()["acks"]
            assert all(answer[str(i)] for i in part), "an ackId was not acknowledged"
    return sent


async def load(url: str, clients: int, batch: int, seconds: float) -> tuple[int, list[float], float]:
    latencies: list[float] = []
    acked: dict[str, list[int]] = {}
    began = time.monotonic()
    until = began + seconds
    counts = await asyncio.gather(*(sender(url, batch, until, latencies, acked) for _ in range(clients)))
    return sum(counts), latencies, time.monotonic() - began


def stored(data_dir: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "watchfloor", "--data-dir", str(data_dir), "hunt", "--format", "json",
         "SELECT count(*) AS n FROM events"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return int(json.loads(done.stdout)[0]["n"]) if done.returncode == 0 else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "hec")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    process, url = start(args.out)
    try:
        events, latencies, elapsed = asyncio.run(load(url, args.clients, args.batch, args.seconds))
        caught_up = time.monotonic()
        while stored(args.out) < events and time.monotonic() - caught_up < 120:
            time.sleep(0.5)
        lag = time.monotonic() - caught_up
        total = stored(args.out)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"HEC with ack, {args.clients} clients x {args.batch} events/request, {elapsed:.1f} s on loopback")
    rates = f"{events / elapsed:,.0f} events/s, {len(latencies) / elapsed:,.0f} req/s"
    print(f"  acknowledged: {events} events, {rates}")
    print(f"  ack latency:  p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"  stored:       {total} events ({lag:.1f} s after the last acknowledgement)")
    if total != events:
        raise SystemExit(f"stored {total} of {events} acknowledged events")


if __name__ == "__main__":
    main()
