"""EVTX ingestion: Watchfloor end to end against bare iteration of the `evtx` library.

Takes every .evtx file under the shared corpora (evtx-attack-samples and sigma/regression_data),
optionally each K times for a steadier figure, and times, each in a fresh child process so that peak
memory is that phase's own:

* Watchfloor: `watchfloor.ingest.ingest_paths` into a fresh `DuckDBEventStore` (detection, the evtx
  library's JSON rendering, flattening, OCSF core, Parquet);
* the library alone: `PyEvtxParser(path).records_json()` consumed fully, which is the floor of what
  any Python tool built on it can reach.

Usage: `python bench/ingest_evtx.py [--repeat K] [--corpora DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CORPORA = Path(os.environ.get("WATCHFLOOR_CORPORA", HERE.parent.parent / "shared" / "corpora"))
FOLDERS = ("evtx-attack-samples", "sigma/regression_data")


def evtx_files(corpora: Path) -> list[Path]:
    """Every .evtx file of the benchmark folders, in a stable order."""
    return sorted(p for folder in FOLDERS for p in (corpora / folder).rglob("*.evtx"))


def _phase_watchfloor(files: list[Path], work: Path) -> dict[str, object]:
    from watchfloor.ingest import ingest_paths
    from watchfloor.store import DuckDBEventStore

    store = DuckDBEventStore(work / "events")
    start = time.perf_counter()
    summary = ingest_paths(files, store, work / "quarantine")
    return {"events": summary.events, "seconds": time.perf_counter() - start}


def _phase_library(files: list[Path], work: Path) -> dict[str, object]:
    from evtx import PyEvtxParser

    events = 0
    start = time.perf_counter()
    for path in files:
        records = iter(PyEvtxParser(str(path)).records_json())
        while True:
            try:
                next(records)
            except StopIteration:
                break
            except Exception:  # a damaged record: the library raises plain runtime errors
                continue
            events += 1
    return {"events": events, "seconds": time.perf_counter() - start}


PHASES = {"watchfloor": _phase_watchfloor, "evtx-library": _phase_library}


def _child(phase: str, listing: Path, work: Path) -> None:
    files = [Path(line) for line in listing.read_text().splitlines()]
    result = PHASES[phase](files, work)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))


def run_phase(phase: str, listing: Path, work: Path) -> dict[str, object]:
    """Run one phase in a fresh interpreter; its peak RSS is then its own."""
    shutil.rmtree(work, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--listing", str(listing), "--work", str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="read every file K times in each run")
    parser.add_argument("--runs", type=int, default=1, help="runs of each side; the median is shown")
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA, help="the shared corpora folder")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--listing", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _child(args.phase, args.listing, args.work)
        return

    files = evtx_files(args.corpora)
    if not files:
        sys.exit(f"no .evtx files under {args.corpora} ({', '.join(FOLDERS)})")
    megabytes = sum(p.stat().st_size for p in files) * args.repeat / 1e6
    print(f"input: {len(files)} files x {args.repeat} = {megabytes:,.1f} MB; cpus: {os.cpu_count()}")
    rates: dict[str, list[float]] = {p: [] for p in PHASES}
    peaks: dict[str, list[float]] = {p: [] for p in PHASES}
    with tempfile.TemporaryDirectory(prefix="wf-bench-evtx-") as tmp:
        listing = Path(tmp) / "files.txt"
        listing.write_text("\n".join(str(p) for p in files * args.repeat))
        for run in range(args.runs):
            for phase in PHASES:
                result = run_phase(phase, listing, Path(tmp) / phase)
                seconds = float(str(result["seconds"]))
                rate = int(str(result["events"])) / seconds
                rates[phase].append(rate)
                peaks[phase].append(float(str(result["peak_rss_mb"])))
                print(
                    f"run {run + 1} {phase:>12}: {result['events']:,} events in {seconds:.2f}s = "
                    f"{rate:,.0f} events/s, peak RSS {result['peak_rss_mb']:,.0f} MB, "
                    f"CPU {result['cpu_seconds']:.1f}s"
                )
    wf, lib = statistics.median(rates["watchfloor"]), statistics.median(rates["evtx-library"])
    print(
        f"median: watchfloor {wf:,.0f} events/s (peak {statistics.median(peaks['watchfloor']):,.0f} MB), "
        f"evtx library {lib:,.0f} events/s (peak {statistics.median(peaks['evtx-library']):,.0f} MB), "
        f"ratio watchfloor/library = {wf / lib:.2f}"
    )


if __name__ == "__main__":
    main()
