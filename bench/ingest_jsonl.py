"""JSON-lines ingestion: Watchfloor end to end against DuckDB's own `read_json` → Parquet.

Generates a file of Sysmon-like flat Windows events (about 20 fields, varied values, a few nested
objects left out on purpose so that the common shape of shippers such as NXLog is measured), then
times, each in a fresh child process so that peak memory is that phase's own:

* Watchfloor: `watchfloor.ingest.ingest_paths` into a fresh `DuckDBEventStore` (detection, parsing,
  OCSF core, Parquet partitioned by source and day);
* DuckDB: `COPY (SELECT * FROM read_json(file, format='newline_delimited')) TO 'x.parquet'`.

Usage: `python bench/ingest_jsonl.py [--events N] [--repeat K] [--keep]`. The data goes under
`bench/out/` (git-ignored) unless `--out` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent

_IMAGES = [
    r"C:\Windows\System32\cmd.exe",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Windows\System32\svchost.exe",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Windows\System32\rundll32.exe",
    r"C:\Users\Public\Downloads\ünïcode tööl.exe",
    r"C:\Windows\explorer.exe",
    r"C:\Windows\System32\wbem\WmiPrvSE.exe",
]
_USERS = ["CORP\\alice", "CORP\\bob", "NT AUTHORITY\\SYSTEM", "CORP\\svc_backup", "CORP\\jörg"]
_HOSTS = [f"WS{n:04d}.corp.example.com" for n in range(200)]
_ARGS = ["-enc SQBFAFgA", "/c whoami /all", '-nop -w hidden -c "IEX (New-Object Net.WebClient)"', "", "/S"]


def _event(rng: random.Random, n: int) -> dict[str, object]:
    """One Sysmon process-creation-like event, as NXLog or Logstash would write it flat."""
    image = rng.choice(_IMAGES)
    parent = rng.choice(_IMAGES)
    pid = rng.randint(100, 65000)
    second = n % 86400
    return {
        "EventTime": f"2024-03-{1 + n // 86400 % 28:02d} {second // 3600:02d}:{second // 60 % 60:02d}:"
        f"{second % 60:02d}",
        "UtcTime": f"2024-03-{1 + n // 86400 % 28:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:"
        f"{second % 60:02d}.{rng.randint(0, 999):03d}Z",
        "Hostname": rng.choice(_HOSTS),
        "EventID": rng.choice((1, 1, 1, 3, 11, 13)),
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "SourceName": "Microsoft-Windows-Sysmon",
        "Severity": "INFO",
        "RecordNumber": n + 1,
        "ProcessGuid": f"{{{rng.getrandbits(32):08x}-5f1e-{rng.getrandbits(16):04x}-0000-0010{n:08x}}}",
        "ProcessId": pid,
        "Image": image,
        "CommandLine": f'"{image}" {rng.choice(_ARGS)}',
        "CurrentDirectory": "C:\\Windows\\system32\\",
        "User": rng.choice(_USERS),
        "LogonId": hex(rng.getrandbits(24)),
        "IntegrityLevel": rng.choice(("Medium", "High", "System")),
        "Hashes": f"SHA256={rng.getrandbits(256):064X}",
        "ParentImage": parent,
        "ParentProcessId": rng.randint(4, 65000),
        "ParentCommandLine": f'"{parent}"',
        "Elevated": rng.random() < 0.2,
    }


def write_json_lines(
    path: Path, events: int, make: Callable[[random.Random, int], dict[str, object]], seed: int
) -> None:
    """Write `events` JSON lines made by `make(rng, n)`; the same seed always writes the same file."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        chunk: list[bytes] = []
        for n in range(events):
            chunk.append(orjson.dumps(make(rng, n)))
            if len(chunk) == 10_000:
                fh.write(b"\n".join(chunk) + b"\n")
                chunk = []
        if chunk:
            fh.write(b"\n".join(chunk) + b"\n")


def generate(path: Path, events: int, seed: int = 7) -> None:
    """Write `events` lines; the same seed always writes the same file."""
    write_json_lines(path, events, _event, seed)


def _phase_watchfloor(data: Path, work: Path) -> dict[str, object]:
    from watchfloor.ingest import ingest_paths
    from watchfloor.store import DuckDBEventStore

    store = DuckDBEventStore(work / "events")
    start, cpu = time.perf_counter(), time.process_time()
    summary = ingest_paths([data], store, work / "quarantine")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"events": summary.events, "quarantined": summary.quarantined, "seconds": elapsed, "job_cpu": cpu}


def _phase_duckdb(data: Path, work: Path) -> dict[str, object]:
    import duckdb

    work.mkdir(parents=True, exist_ok=True)
    target = work / "duckdb.parquet"
    connection = duckdb.connect(":memory:")
    start, cpu = time.perf_counter(), time.process_time()
    connection.execute(
        f"COPY (SELECT * FROM read_json('{data}', format='newline_delimited')) TO '{target}' (FORMAT parquet)"
    )
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    row = connection.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()
    return {"events": int(row[0]) if row else 0, "quarantined": 0, "seconds": elapsed, "job_cpu": cpu}


PHASES = {"watchfloor": _phase_watchfloor, "duckdb": _phase_duckdb}


def run_phase(phase: str, data: Path, work: Path) -> dict[str, object]:
    """Run one phase in a fresh interpreter; its peak RSS is then its own."""
    if work.exists():
        shutil.rmtree(work)
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--data", str(data), "--work", str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _child(phase: str, data: Path, work: Path) -> None:
    result = PHASES[phase](data, work)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="lines to generate (default 1M)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side; the median is shown")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="work folder (default bench/out)")
    parser.add_argument("--keep", action="store_true", help="keep the generated file and stores")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _child(args.phase, args.data, args.work)
        return

    data = args.out / f"sysmon-{args.events}.jsonl"
    if not data.exists():
        start = time.perf_counter()
        generate(data, args.events)
        print(f"generated {data} in {time.perf_counter() - start:.1f}s")
    megabytes = data.stat().st_size / 1e6
    print(f"input: {args.events:,} events, {megabytes:,.1f} MB; cpus: {os.cpu_count()}")
    rates: dict[str, list[float]] = {p: [] for p in PHASES}
    peaks: dict[str, list[float]] = {p: [] for p in PHASES}
    cpus: dict[str, list[float]] = {p: [] for p in PHASES}
    jobs: dict[str, list[float]] = {p: [] for p in PHASES}
    for run in range(args.repeat):
        for phase in PHASES:
            result = run_phase(phase, data, args.out / f"work-{phase}")
            seconds = float(str(result["seconds"]))
            rate = int(str(result["events"])) / seconds
            rates[phase].append(rate)
            peaks[phase].append(float(str(result["peak_rss_mb"])))
            cpus[phase].append(float(str(result["cpu_seconds"])) * 1e6 / int(str(result["events"])))
            jobs[phase].append(float(str(result["job_cpu"])) * 1e6 / int(str(result["events"])))
            print(
                f"run {run + 1} {phase:>10}: {result['events']:,} events in {seconds:.2f}s = "
                f"{rate:,.0f} events/s, {megabytes / seconds:,.1f} MB/s, peak RSS "
                f"{result['peak_rss_mb']:,.0f} MB, CPU {result['cpu_seconds']:.1f}s (job alone "
                f"{float(str(result['job_cpu'])):.1f}s), quarantined "
                f"{result['quarantined']}, load average {os.getloadavg()[0]:.1f}"
            )
    wf, dk = statistics.median(rates["watchfloor"]), statistics.median(rates["duckdb"])
    print(
        f"median: watchfloor {wf:,.0f} events/s (peak {statistics.median(peaks['watchfloor']):,.0f} MB), "
        f"duckdb {dk:,.0f} events/s (peak {statistics.median(peaks['duckdb']):,.0f} MB), "
        f"ratio watchfloor/duckdb = {wf / dk:.2f}"
    )
    # On a shared machine the wall-clock ratio follows the other jobs; CPU per event does not.
    wf_cpu, dk_cpu = statistics.median(cpus["watchfloor"]), statistics.median(cpus["duckdb"])
    print(
        f"CPU seconds per million events (median): watchfloor {wf_cpu:.1f}, duckdb {dk_cpu:.1f}, "
        f"CPU ratio duckdb/watchfloor = {dk_cpu / wf_cpu:.2f}"
    )
    # The same without process start-up and imports (Watchfloor's are about 0.5 s, DuckDB's 0.2 s).
    wf_job, dk_job = statistics.median(jobs["watchfloor"]), statistics.median(jobs["duckdb"])
    print(
        f"CPU seconds per million events, timed job alone (median): watchfloor {wf_job:.1f}, "
        f"duckdb {dk_job:.1f}, CPU ratio duckdb/watchfloor = {dk_job / wf_job:.2f}"
    )
    if not args.keep:
        for phase in PHASES:
            shutil.rmtree(args.out / f"work-{phase}", ignore_errors=True)
        data.unlink()


if __name__ == "__main__":
    main()
