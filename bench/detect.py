"""Detection: the SigmaHQ Windows rules through Watchfloor's shared-scan engine and pySigma's SQLite backend.

Two event sets, each evaluated by both sides:

* `evtx`: every .evtx of the corpora (evtx-attack-samples and sigma/regression_data), timed end to
  end (`ingest_paths` + `match_rules`) and from stored events (`match_rules` only);
* `gen`: `--events` generated Sysmon-like JSON lines (`ingest_jsonl.generate`), stored through
  `ingest_paths` (not timed); only detection over the stored events is timed.

The baseline is what most Python users have: pySigma's SQLite backend turns each rule into one
`SELECT` that is executed over an in-memory SQLite table holding the same events (the producer columns
of Watchfloor's `windows` view), one query per rule. Logsources are applied crudely (`_LOGSOURCE`: a
Sysmon/Security event id set per category, a channel per service); rules the backend cannot convert
are skipped and counted. Rule loading and conversion are reported apart from detection on both sides;
Watchfloor's plan build (Hyperscan compiles included) is inside its detection time and also reported
as `plan_s`. Compiled Hyperscan databases are kept per work folder, as the CLI keeps them in the data
directory: the first phase over a folder compiles them (cold), later phases load them (warm), and
the report says which is which.

Each measured phase runs in a fresh child process, so that its peak RSS is its own.
The generated events come from `detect_events.generate` (nine Sysmon event kinds, about half the
command lines distinct, a few attacker command lines). Each phase also reports its CPU seconds and the
1-minute load average (the machine is shared).
Usage: `python bench/detect.py [--events N] [--engine arrow|sql] [--no-baseline] [--out DIR] [--keep]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPORA = HERE.parent.parent / "shared" / "corpora"
PACKS = ("rules", "rules-threat-hunting", "rules-emerging-threats")
#: `arrow` (in-process multi-pattern evaluator, `detect/arrow_match.py`) or `sql` (one DuckDB statement
#: per 4,000 predicates, `detect/engine.py`); set from `--engine`, passed on to the child phases.
ENGINE = "arrow"

#: Crude logsource conditions for the baseline (what a user without a pipeline would write by hand).
_LOGSOURCE: dict[str, str] = {
    "process_creation": "CAST(EventID AS INTEGER) IN (1, 4688)",
    "network_connection": "CAST(EventID AS INTEGER) = 3",
    "image_load": "CAST(EventID AS INTEGER) = 7",
    "file_event": "CAST(EventID AS INTEGER) = 11",
    "registry_set": "CAST(EventID AS INTEGER) = 13",
    "registry_add": "CAST(EventID AS INTEGER) = 12",
    "registry_delete": "CAST(EventID AS INTEGER) = 12",
    "registry_event": "CAST(EventID AS INTEGER) IN (12, 13, 14)",
    "create_remote_thread": "CAST(EventID AS INTEGER) = 8",
    "process_access": "CAST(EventID AS INTEGER) = 10",
    "pipe_created": "CAST(EventID AS INTEGER) IN (17, 18)",
    "dns_query": "CAST(EventID AS INTEGER) = 22",
    "driver_load": "CAST(EventID AS INTEGER) = 6",
    "file_delete": "CAST(EventID AS INTEGER) IN (23, 26)",
    "ps_script": "CAST(EventID AS INTEGER) = 4104",
    "ps_module": "CAST(EventID AS INTEGER) = 4103",
    "security": "Channel = 'Security'",
    "system": "Channel = 'System'",
    "application": "Channel = 'Application'",
}
_MISSING = re.compile(r"no such column: (\S+)")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _windows_rules() -> tuple[list[Any], float]:
    from watchfloor.detect import load_rules, validate_for_duckdb

    start = time.perf_counter()
    loaded = load_rules([CORPORA / "sigma" / p for p in PACKS], validate=validate_for_duckdb)
    rules = [
        r
        for r in loaded.rules
        if r.sigma is not None and getattr(getattr(r.sigma, "logsource", None), "product", None) == "windows"
    ]
    return rules, time.perf_counter() - start


def _evtx_files() -> list[Path]:
    roots = (CORPORA / "evtx-attack-samples", CORPORA / "sigma" / "regression_data")
    return sorted(p for root in roots for p in root.rglob("*.evtx"))


def _ingest(inputs: list[Path], work: Path) -> tuple[Any, int, float]:
    from watchfloor.ingest import ingest_paths
    from watchfloor.store import DuckDBEventStore

    store = DuckDBEventStore(work / "events")
    start = time.perf_counter()
    summary = ingest_paths(inputs, store, work / "quarantine")
    return store, summary.events, time.perf_counter() - start


DETECT_CPU: list[float] = []  # CPU seconds of each `_detect` call in this process


def _detect(store: Any, rules: list[Any]) -> tuple[int, int, float]:
    cpu = time.process_time()
    try:
        return _detect_timed(store, rules)
    finally:
        DETECT_CPU.append(time.process_time() - cpu)


PLAN_S: list[float] = []  # seconds building the arrow engine's plan (Hyperscan compiles included)


def _detect_timed(store: Any, rules: list[Any]) -> tuple[int, int, float]:
    start = time.perf_counter()
    if ENGINE == "sql":
        from watchfloor.detect import match_rules

        matches, stats = match_rules(store, rules, engine="sql")
        return len(matches), stats.rules, time.perf_counter() - start
    from watchfloor.detect.arrow_match import ArrowPlan, match_view

    active = [r for r in rules if r.status == "active" and r.source == "windows"]
    with store.open_reader() as reader:
        plan = ArrowPlan.for_rules(active, reader.view_columns("windows"))
        PLAN_S.append(time.perf_counter() - start)
        found = match_view(reader, "windows", active, plan=plan)
    return len(found), len(rules), time.perf_counter() - start


def _phase_wf_evtx(work: Path) -> dict[str, Any]:
    rules, load_s = _windows_rules()
    store, events, ingest_s = _ingest(_evtx_files(), work)
    matches, ran, detect_s = _detect(store, rules)
    return {"events": events, "rules_ran": ran, "matches": matches, "load_s": load_s, "ingest_s": ingest_s,
            "detect_s": detect_s, "seconds": ingest_s + detect_s}  # fmt: skip


def _phase_wf_stored(work: Path) -> dict[str, Any]:
    from watchfloor.store import DuckDBEventStore

    rules, load_s = _windows_rules()
    store = DuckDBEventStore(work / "events")
    matches, ran, detect_s = _detect(store, rules)
    events = _count(store)
    return {"events": events, "rules_ran": ran, "matches": matches, "load_s": load_s, "seconds": detect_s}


def _phase_ingest_gen(work: Path) -> dict[str, Any]:
    _, events, ingest_s = _ingest([work / "events.jsonl"], work)
    return {"events": events, "seconds": ingest_s}


def _count(store: Any) -> int:
    connection = store.connect()
    try:
        return int(connection.execute("SELECT count(*) FROM windows").fetchone()[0])
    finally:
        connection.close()


def _phase_sqlite(work: Path) -> dict[str, Any]:
    """pySigma's SQLite backend: one query per rule over an in-memory table of the same events."""
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection

    from watchfloor.store import DuckDBEventStore

    start = time.perf_counter()
    backend = sqliteBackend()
    queries: list[str] = []
    failed = 0
    for path in sorted(p for pack in PACKS for p in (CORPORA / "sigma" / pack).rglob("*.yml")):
        try:
            collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
            rules = [r for r in collection.rules if getattr(r.logsource, "product", None) == "windows"]
            if not rules:
                continue
            logsource = rules[0].logsource
            condition = _LOGSOURCE.get(logsource.category or "") or _LOGSOURCE.get(logsource.service or "")
            for query in backend.convert(collection):
                if condition:
                    query = query.replace(" WHERE ", f" WHERE {condition} AND ", 1)
                queries.append(query)
        except Exception:  # the backend raises many kinds; each is one skipped rule
            failed += 1
    convert_s = time.perf_counter() - start

    store = DuckDBEventStore(work / "events")
    connection = store.connect()
    try:
        table = connection.sql("SELECT * EXCLUDE (ocsf) FROM windows").to_arrow_table()
    finally:
        connection.close()
    db = sqlite3.connect(":memory:")
    columns = [str(c) for c in table.column_names]
    db.execute(f"CREATE TABLE logs ({', '.join(_ident(c) for c in columns)})")
    marks = ", ".join("?" for _ in columns)
    for batch in table.to_batches(50_000):
        rows = zip(*(col.to_pylist() for col in batch.columns), strict=True)
        db.executemany(f"INSERT INTO logs VALUES ({marks})", [tuple(_cell(v) for v in r) for r in rows])
    known = set(columns)
    runnable: list[str] = []
    for query in queries:  # untimed: add the columns rules name that the events lack (they are NULL)
        for _ in range(50):
            try:
                db.execute(f"{query} LIMIT 0").fetchall()
                runnable.append(query)
                break
            except sqlite3.OperationalError as exc:
                found = _MISSING.search(str(exc))
                if not found or found.group(1) in known:
                    failed += 1
                    break
                known.add(found.group(1))
                db.execute(f"ALTER TABLE logs ADD COLUMN {_ident(found.group(1))}")
    start = time.perf_counter()
    matches = sum(len(db.execute(q).fetchall()) for q in runnable)
    seconds = time.perf_counter() - start
    return {"events": table.num_rows, "rules_ran": len(runnable), "rules_skipped": failed, "matches": matches,
            "load_s": convert_s, "seconds": seconds}  # fmt: skip


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cell(value: object) -> object:
    if value is None or isinstance(value, str | int | float):
        return value
    return json.dumps(value, default=str)


PHASES = {
    "wf_evtx": _phase_wf_evtx,
    "wf_stored": _phase_wf_stored,
    "ingest_gen": _phase_ingest_gen,
    "sqlite": _phase_sqlite,
}


def _child(phase: str, work: Path) -> None:
    from watchfloor.detect.patterns import use_compiled_cache

    # As the CLI does with the data directory: compiled Hyperscan databases are kept per work folder,
    # so the first phase over a folder compiles (cold) and later ones load them (warm).
    use_compiled_cache(work / "cache")
    cpu = time.process_time()
    result = PHASES[phase](work)
    result["plan_s"] = sum(PLAN_S)
    result["peak_rss_mib"] = _peak_mib()
    result["cpu_s"] = time.process_time() - cpu
    result["detect_cpu_s"] = sum(DETECT_CPU)
    result["load_avg_1m"] = os.getloadavg()[0]
    print(json.dumps(result))


def _run(phase: str, work: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, "--work", str(work), "--engine", ENGINE]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"phase {phase} failed:\n{done.stderr[-4000:]}")
    out = done.stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    print(f"  {phase:<10} {json.dumps(result)}", flush=True)
    return result


def _rate(result: dict[str, Any]) -> float:
    return float(result["events"]) / max(float(result["seconds"]), 1e-9)


def _report(label: str, wf: dict[str, Any], base: dict[str, Any] | None) -> None:
    if base is None:
        cpu, load = wf["detect_cpu_s"], wf["load_avg_1m"]
        print(f"{label}: {wf['events']:,} events | Watchfloor ({ENGINE}) {_rate(wf):,.0f} ev/s, "
              f"plan {wf['plan_s']:.1f} s, {cpu:.1f} detection CPU s, load {load:.1f}, "
              f"peak {wf['peak_rss_mib']:.0f} MiB")  # fmt: skip
        return
    ratio = _rate(wf) / max(_rate(base), 1e-9)
    print(
        f"{label}: {wf['events']:,} events | Watchfloor {_rate(wf):,.0f} ev/s (plan {wf['plan_s']:.1f} s), "
        f"{wf['rules_ran']} rules, "
        f"peak {wf['peak_rss_mib']:.0f} MiB | pySigma SQLite {_rate(base):,.0f} ev/s, "
        f"{base['rules_ran']} rules "
        f"({base['rules_skipped']} not convertible/runnable), peak {base['peak_rss_mib']:.0f} MiB | "
        f"ratio {ratio:.1f}x"
    )


def main() -> None:
    """Run every phase and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="generated events (default 1M)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="work folder (default bench/out)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and stores")
    parser.add_argument("--engine", choices=("arrow", "sql"), default="arrow", help="Watchfloor engine")
    parser.add_argument("--no-baseline", action="store_true", help="skip pySigma's SQLite backend")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global ENGINE
    ENGINE = args.engine
    if args.phase:
        _child(args.phase, args.work)
        return
    sys.path.insert(0, str(HERE))
    from detect_events import generate

    evtx_work = args.out / "detect_evtx"
    gen_work = args.out / f"detect_gen_{args.events}"
    shutil.rmtree(evtx_work, ignore_errors=True)
    shutil.rmtree(gen_work, ignore_errors=True)
    evtx_work.mkdir(parents=True)
    gen_work.mkdir(parents=True)
    try:
        print("(a) EVTX corpora", flush=True)
        end_to_end = _run("wf_evtx", evtx_work)
        stored = _run("wf_stored", evtx_work)
        base = None if args.no_baseline else _run("sqlite", evtx_work)
        print(f"(b) {args.events:,} generated events", flush=True)
        generate(gen_work / "events.jsonl", args.events)
        _run("ingest_gen", gen_work)
        gen_cold = _run("wf_stored", gen_work)
        gen_stored = _run("wf_stored", gen_work)
        gen_base = None if args.no_baseline else _run("sqlite", gen_work)
        _report("(a) EVTX end to end, compiled cache cold", end_to_end, base)
        _report("(a) EVTX from stored, cache warm", stored, base)
        _report("(b) generated from stored, cache cold", gen_cold, gen_base)
        _report("(b) generated from stored, cache warm", gen_stored, gen_base)
    finally:
        if not args.keep:
            shutil.rmtree(evtx_work, ignore_errors=True)
            shutil.rmtree(gen_work, ignore_errors=True)


if __name__ == "__main__":
    main()
