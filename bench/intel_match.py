"""Threat-intel matching at scale: 1,000,000 indicators against 1,000,000 stored events.

    .venv/bin/python bench/intel_match.py [--indicators N] [--events N] [--workdir DIR]

Indicators: 70% IPv4 addresses, 18% domains, 11% SHA-256 hashes, 1% IPv4 networks (/16 to /28), loaded
into the intel store as one Arrow upsert. Events: DNS-like records (source and destination address, the
`query` producer column) and process records (Sysmon-style `Hashes`), spread over ten days and stored
through the event store (Parquet). About 1% of events carry an indicator value.

Phases, each in its own process so that its peak memory (max RSS) is its own:
  load     write indicators and events (timed: indicator upsert rate)
  stream   build the in-memory index from the live indicators, then `match_batch` every stored file's
           rows in 65,536-row batches, as the streaming detector would after each append
  retro    `retro_hunt` over the last 30 days: one SQL join in the store (plus the network pre-pass)
Prints one JSON line per phase and a summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from watchfloor.intel import IndicatorIndex, IntelStore, ScoringPolicy, match_batch, retro_hunt
from watchfloor.intel.store import INDICATOR_SCHEMA
from watchfloor.schema import CORE_COLUMN, CORE_FIELDS
from watchfloor.store import DuckDBEventStore

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
POLICY = ScoringPolicy(decay="none", min_confidence=0)
BATCH = 65_536


def _ip(rng: random.Random, first: int) -> str:
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _hash(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _indicators(n: int, seed: int) -> tuple[pa.Table, dict[str, list[str]]]:
    rng = random.Random(seed)
    kinds: list[str] = []
    values: list[str] = []
    for _ in range(int(n * 0.70)):
        kinds.append("ipv4")
        values.append(_ip(rng, rng.choice((45, 91, 185, 194))))
    for i in range(int(n * 0.18)):
        kinds.append("domain")
        values.append(f"c2-{i:07d}-{rng.getrandbits(24):06x}.example-bad.net")
    for _ in range(int(n * 0.11)):
        kinds.append("sha256")
        values.append(_hash(rng))
    while len(values) < n:
        prefix = rng.choice((16, 20, 24, 28))
        kinds.append("cidr")
        values.append(f"{rng.choice((77, 88))}.{rng.randrange(256)}.{rng.randrange(16) * 16}.0/{prefix}")
    stamp = NOW.replace(tzinfo=None)
    keys = {"ipv4": "ip", "domain": "domain", "sha256": "hash", "cidr": "cidr"}
    values = [
        str(ipaddress.ip_network(v, strict=False)) if k == "cidr" else v
        for k, v in zip(kinds, values, strict=True)
    ]
    table = pa.table(
        {
            "type": kinds,
            "value": values,
            "feed": [f"feed{i % 5}" for i in range(n)],
            "match_key": [keys[k] for k in kinds],
            "confidence": pa.array([60 + i % 40 for i in range(n)], pa.int32()),
            "tlp": ["amber"] * n,
            "first_seen": pa.array([stamp] * n, pa.timestamp("us")),
            "last_seen": pa.array([stamp] * n, pa.timestamp("us")),
            "valid_until": pa.nulls(n, pa.timestamp("us")),
            "status": ["active"] * n,
            "description": [""] * n,
            "origin": [""] * n,
            "updated": pa.array([stamp] * n, pa.timestamp("us")),
        },
        schema=INDICATOR_SCHEMA,
    )
    by_kind: dict[str, list[str]] = {}
    for kind, value in zip(kinds, values, strict=True):
        by_kind.setdefault(kind, []).append(value)
    return table, by_kind


def _events(n: int, start: int, pool: dict[str, list[str]], rng: random.Random) -> pa.Table:
    times, uids, src, dst, query, hashes, source = [], [], [], [], [], [], []
    for i in range(start, start + n):
        hit = rng.random() < 0.01
        when = NOW - dt.timedelta(seconds=rng.randrange(10 * 86_400))
        times.append(when)
        uids.append(f"bench{i:09d}")
        src.append(f"10.{rng.randrange(8)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
        if i % 4 == 3:  # a process event with image hashes
            source.append("bench_process")
            dst.append(None)
            query.append(None)
            sha = rng.choice(pool["sha256"]) if hit else _hash(rng)
            hashes.append(
                f"SHA1={rng.getrandbits(160):040x},MD5={rng.getrandbits(128):032x},SHA256={sha.upper()}"
            )
            continue
        source.append("bench_dns")
        hashes.append(None)
        pick = rng.random()
        if hit and pick < 0.5:
            dst.append(rng.choice(pool["ipv4"]))
        elif hit and pick < 0.6:
            network = rng.choice(pool["cidr"]).split("/")[0].rsplit(".", 1)[0]
            dst.append(f"{network}.{rng.randrange(1, 15)}")
        else:
            dst.append(_ip(rng, rng.choice((23, 52, 104, 142, 151))))
        domain = (
            rng.choice(pool["domain"]) if hit and pick >= 0.6 else f"host{rng.randrange(300_000)}.example.com"
        )
        query.append(domain.upper() if rng.random() < 0.1 else domain)
    core_values = {
        "time": pa.array(times, pa.timestamp("us", tz="UTC")),
        "metadata_uid": pa.array(uids),
        "metadata_log_name": pa.array(source),
        "src_endpoint_ip": pa.array(src),
        "dst_endpoint_ip": pa.array(dst, pa.string()),
        "device_hostname": pa.array([f"host{j % 500}" for j in range(n)]),
    }
    arrays = [core_values.get(name, pa.nulls(n, dtype)) for name, dtype, _ in CORE_FIELDS]
    core = pa.StructArray.from_arrays(arrays, names=[name for name, _, _ in CORE_FIELDS])
    return pa.table(
        {"query": pa.array(query, pa.string()), "Hashes": pa.array(hashes, pa.string()), CORE_COLUMN: core}
    )


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_load(work: Path, indicators: int, events: int) -> dict[str, object]:
    table, pool = _indicators(indicators, 7)
    intel = IntelStore(work / "intel")
    started = time.perf_counter()
    intel.upsert_table(table)
    load_s = time.perf_counter() - started
    store = DuckDBEventStore(work / "events")
    rng = random.Random(11)
    for start in range(0, events, 250_000):
        store.append(_events(min(250_000, events - start), start, pool, rng))
    return {
        "phase": "load",
        "indicators": indicators,
        "upsert_s": round(load_s, 2),
        "indicators_per_s": round(indicators / load_s),
        "events": events,
        "peak_rss_mib": round(_rss_mib()),
    }


def phase_stream(work: Path) -> dict[str, object]:
    intel = IntelStore(work / "intel")
    started = time.perf_counter()
    index = IndicatorIndex(intel.live(POLICY, NOW))
    index_s = time.perf_counter() - started
    files = sorted((work / "events").rglob("*.parquet"))
    batches = [b for f in files for b in pq.read_table(f).to_batches(BATCH)]
    rows = sum(b.num_rows for b in batches)
    started = time.perf_counter()
    matches = sum(len(match_batch(index, b)) for b in batches)
    match_s = time.perf_counter() - started
    return {
        "phase": "stream",
        "indicators": len(index),
        "index_build_s": round(index_s, 2),
        "events": rows,
        "match_s": round(match_s, 2),
        "events_per_s": round(rows / match_s),
        "matches": matches,
        "peak_rss_mib": round(_rss_mib()),
    }


def phase_retro(work: Path) -> dict[str, object]:
    intel = IntelStore(work / "intel")
    started = time.perf_counter()
    index = IndicatorIndex(intel.live(POLICY, NOW))
    index_s = time.perf_counter() - started
    store = DuckDBEventStore(work / "events")
    rows = int(store.query("SELECT count(*) AS n FROM events").column("n")[0].as_py())
    started = time.perf_counter()
    matches = retro_hunt(store, index, NOW - dt.timedelta(days=30))
    hunt_s = time.perf_counter() - started
    return {
        "phase": "retro",
        "indicators": len(index),
        "index_build_s": round(index_s, 2),
        "events": rows,
        "hunt_s": round(hunt_s, 2),
        "events_per_s": round(rows / hunt_s),
        "matches": len(matches),
        "peak_rss_mib": round(_rss_mib()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indicators", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--phase", choices=("load", "stream", "retro"), default=None)
    args = parser.parse_args()
    if args.phase:
        work = args.workdir
        result = {
            "load": lambda: phase_load(work, args.indicators, args.events),
            "stream": lambda: phase_stream(work),
            "retro": lambda: phase_retro(work),
        }[args.phase]()
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="wf-intel-bench-", dir=args.workdir) as scratch:
        results = []
        for phase in ("load", "stream", "retro"):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--phase",
                    phase,
                    "--workdir",
                    scratch,
                    "--indicators",
                    str(args.indicators),
                    "--events",
                    str(args.events),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            line = out.stdout.strip().splitlines()[-1]
            print(line, flush=True)
            results.append(json.loads(line))
        print(json.dumps({"load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
