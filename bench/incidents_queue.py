"""Incident queue: `list_incidents` + `count_incidents` over a large generated case base, on both databases.

The queue list is what analysts refresh all day, so the target is a p95 under 100 ms per page (one list
call and one count call in one session, as the API and console make them) with 100,000 incidents and
1,000,000 alerts. Creating that many incidents through `receive_alerts` would take hours, so the data
set is bulk-loaded into the real schema made by the real migrations (`open_database`): SQLAlchemy Core
`insert()` executemany in large batches on SQLite, `COPY` through psycopg 3 on PostgreSQL.

The distributions follow a working SOC: ids grow with time over a year; the newest tenth of incidents
is mostly open and older ones are mostly closed (about 15% open overall); tiers 1/2/3 at about
70/25/5; a few named queues beside the tier queues; severities skewed to low and medium; 50 analysts;
2% exercises; alerts per incident long-tailed (Pareto), the incident as severe as its worst alert, and
`alert_count`, `severity_rank`, `first_alert_at`, `last_alert_at` consistent with the alerts. Alert
entities and audit entries are not generated (the queue list reads neither); PostgreSQL sequences are
moved past the generated ids so the application can keep creating incidents on the same database.

Usage: `python bench/incidents_queue.py [--incidents N] [--alerts M] [--repeat R] [--reuse]
[--db-path FILE] [--postgres-url URL] [--backends sqlite,postgresql] [--count-cap N] [--explain]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.engine import make_url

from watchfloor.cases import Database, IncidentFilter, count_incidents, list_incidents, open_database
from watchfloor.cases.models import Alert, Incident, User
from watchfloor.cases.values import SEVERITY_RANK, Severity, State, Verdict, queue_for_tier

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PG_ENV = "WATCHFLOOR_TEST_POSTGRES_URL"
PG_SCHEMA = "wf_bench_queue"
T_END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
SPAN = dt.timedelta(days=365)
BATCH = 20_000

OPEN_STATES = (State.NEW, State.ACKNOWLEDGED, State.INVESTIGATING, State.CONTAINED, State.REMEDIATED)
OPEN_WEIGHTS = (40, 20, 25, 10, 5)
SEVERITIES = tuple(Severity)
SEVERITY_WEIGHTS = (10, 30, 35, 20, 5)
NAMED_QUEUES = ("phishing", "cloud", "major-incident")
ANALYSTS = tuple(f"analyst{n:02d}" for n in range(1, 51))
RULES = tuple(f"rule-{n:03d}" for n in range(200))
SOURCES = ("windows", "linux", "cloudtrail", "okta", "zeek", "suricata")


@dataclass(frozen=True, slots=True)
class Spec:
    """What to generate; the same spec and seed always give the same rows."""

    incidents: int = 100_000
    alerts: int = 1_000_000
    seed: int = 4


@dataclass(frozen=True, slots=True)
class Query:
    """One queue view of the mix: a name for the report and the filter the API would build."""

    name: str
    wanted: IncidentFilter


QUERIES: tuple[Query, ...] = (
    Query("open queue, by severity (default)", IncidentFilter()),
    Query("tier 2 queue", IncidentFilter(tier=2)),
    Query("queue 'phishing'", IncidentFilter(queue="phishing")),
    Query("severity >= high", IncidentFilter(severity="high")),
    Query("assignee analyst07", IncidentFilter(assignee="analyst07")),
    Query("sort by last alert", IncidentFilter(sort="last_alert")),
    Query("deep page (offset 1000)", IncidentFilter(offset=1000)),
    Query("exercises only", IncidentFilter(is_exercise=True)),
    Query("tier 1, high, by last alert", IncidentFilter(tier=1, severity="high", sort="last_alert")),
    Query("closed, newest (history)", IncidentFilter(states=(State.CLOSED.value,), sort="newest")),
)


@dataclass(slots=True)
class Timings:
    """Seconds per repetition of each query, and the load average around the run."""

    per_query: dict[str, list[float]] = field(default_factory=dict)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


# --- generation -------------------------------------------------------------------------------------


def _alert_counts(rng: random.Random, spec: Spec) -> list[int]:
    """A long tail: most incidents have a handful of alerts, a few have thousands; the sum is exact."""
    if spec.alerts < spec.incidents:
        raise SystemExit("need at least one alert per incident")
    weights = [min(rng.paretovariate(1.2), 5_000.0) for _ in range(spec.incidents)]
    extra = spec.alerts - spec.incidents
    scale = extra / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    missing = spec.alerts - sum(counts)
    for i in rng.choices(range(spec.incidents), k=missing):
        counts[i] += 1
    return counts


def incident_rows(spec: Spec) -> list[dict[str, Any]]:
    """Every incident as a column → value mapping of the `incidents` table (ids 1..N, growing with time)."""
    rng = random.Random(spec.seed)
    counts = _alert_counts(rng, spec)
    rows: list[dict[str, Any]] = []
    recent = int(spec.incidents * 0.9)
    for i in range(spec.incidents):
        created = T_END - SPAN + SPAN * (i / spec.incidents) + dt.timedelta(seconds=rng.randint(0, 600))
        is_open = rng.random() < (0.7 if i >= recent else 0.09)
        state = rng.choices(OPEN_STATES, OPEN_WEIGHTS)[0] if is_open else State.CLOSED
        tier = rng.choices((1, 2, 3), (70, 25, 5))[0]
        pick = rng.random()
        queue = (
            "major-incident"
            if tier == 3 and pick < 0.3
            else "phishing"
            if pick < 0.08
            else "cloud"
            if pick < 0.13
            else queue_for_tier(tier)
        )
        severity = rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0]
        duration = dt.timedelta(minutes=rng.randint(0, 30) * min(counts[i], 200))
        acked = state is not State.NEW
        closed = state is State.CLOSED
        remediated = state in (State.REMEDIATED, State.CLOSED)
        rows.append(
            {
                "id": i + 1,
                "title": f"{RULES[i % len(RULES)]} on host-{rng.randint(1, 5000):04d}",
                "state": state.value,
                "tier": tier,
                "queue": queue,
                "severity": severity.value,
                "severity_rank": SEVERITY_RANK[severity],
                "assignee": rng.choice(ANALYSTS) if acked else None,
                "correlation_key": f"corr-{rng.randint(1, 2000)}" if rng.random() < 0.1 else None,
                "is_exercise": rng.random() < 0.02,
                "alert_count": counts[i],
                "first_alert_at": created,
                "last_alert_at": created + duration,
                "created_at": created,
                "updated_at": created + duration,
                "acknowledged_at": created + dt.timedelta(minutes=rng.randint(1, 240)) if acked else None,
                "acknowledged_by": rng.choice(ANALYSTS) if acked else None,
                "remediated_at": created + dt.timedelta(hours=rng.randint(1, 72)) if remediated else None,
                "closed_at": created + dt.timedelta(hours=rng.randint(72, 96)) if closed else None,
                "verdict": rng.choice(tuple(Verdict)).value if closed else None,
                "remediation_kind": rng.choice(("manual", "automated")) if remediated else None,
                "remediation_actions": ["isolate host"] if remediated else [],
                "merged_into_id": None,
                "version": 1 if state is State.NEW else rng.randint(2, 8),
            }
        )
    return rows


def alert_rows(spec: Spec, incidents: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each incident's alerts spread between its first and last alert; the first is as severe as it is."""
    rng = random.Random(spec.seed + 1)
    alert_id = 0
    for row in incidents:
        first: dt.datetime = row["first_alert_at"]
        span = (row["last_alert_at"] - first).total_seconds()
        rank = row["severity_rank"]
        for k in range(row["alert_count"]):
            alert_id += 1
            at = (
                first
                if k == 0
                else row["last_alert_at"]
                if k == 1
                else first + dt.timedelta(seconds=rng.random() * span)
            )
            severity = row["severity"] if k == 0 else SEVERITIES[rng.randint(0, rank)].value
            rule = RULES[(row["id"] + k) % len(RULES)]
            yield {
                "id": alert_id,
                "uid": f"bench-{row['id']}-{k}",
                "incident_id": row["id"],
                "rule_id": rule,
                "rule_title": f"Title of {rule}",
                "severity": severity,
                "event_time": at,
                "received_at": at + dt.timedelta(seconds=5),
                "source": SOURCES[row["id"] % len(SOURCES)],
                "correlation_key": row["correlation_key"],
                "is_exercise": row["is_exercise"],
                "techniques": [],
                "tactics": [],
                "evidence_event_ids": [],
            }


def user_rows() -> list[dict[str, Any]]:
    """The 50 analysts incidents are assigned to (30 tier 1, 15 tier 2, 5 tier 3)."""
    roles = ["tier1"] * 30 + ["tier2"] * 15 + ["tier3"] * 5
    return [
        {"id": n + 1, "username": name, "display_name": name, "role": roles[n], "created_at": T_END - SPAN}
        for n, name in enumerate(ANALYSTS)
    ]


def _batches(rows: Iterator[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _load_sqlite(engine: Engine, spec: Spec, incidents: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(User), user_rows())
        for batch in _batches(iter(incidents)):
            conn.execute(insert(Incident), batch)
        for batch in _batches(alert_rows(spec, incidents)):
            conn.execute(insert(Alert), batch)


def _copy(cursor: Any, table: str, rows: Iterator[dict[str, Any]], columns: Sequence[str]) -> None:
    """COPY the rows; model columns the generator leaves out (later features') take their defaults."""
    import itertools
    import json

    first = next(rows, None)
    if first is None:
        return
    columns = [c for c in columns if c in first]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in itertools.chain([first], rows):
            copy.write_row([json.dumps(row[c]) if isinstance(row[c], list) else row[c] for c in columns])


def _load_postgres(engine: Engine, spec: Spec, incidents: list[dict[str, Any]]) -> None:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        with conn.cursor() as cursor:
            for table, rows in (
                ("users", iter(user_rows())),
                ("incidents", iter(incidents)),
                ("alerts", alert_rows(spec, incidents)),
            ):
                columns = [
                    c.name
                    for c in {"users": User, "incidents": Incident, "alerts": Alert}[table].__table__.columns
                ]
                _copy(cursor, table, rows, columns)
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
            conn.commit()
            conn.autocommit = True
            cursor.execute("VACUUM ANALYZE incidents")
            cursor.execute("VACUUM ANALYZE alerts")
            conn.autocommit = False
    finally:
        raw.close()


def _counts(db: Database) -> tuple[int, int]:
    with db.engine.connect() as conn:
        incidents = conn.scalar(select(func.count()).select_from(Incident)) or 0
        alerts = conn.scalar(select(func.count()).select_from(Alert)) or 0
    return incidents, alerts


def generate(db: Database, spec: Spec) -> float:
    """Bulk-load the data set into an empty, migrated database; returns the seconds it took."""
    if _counts(db) != (0, 0):
        raise SystemExit("generate needs an empty database (give --reuse to keep a matching one)")
    start = time.perf_counter()
    incidents = incident_rows(spec)
    if db.engine.dialect.name == "postgresql":
        _load_postgres(db.engine, spec, incidents)
    else:
        _load_sqlite(db.engine, spec, incidents)
    return time.perf_counter() - start


# --- opening the benchmark databases ----------------------------------------------------------------


def postgres_schema_url(url: str, schema: str, *, fresh: bool) -> str:
    """The URL with connections pinned to `schema` (dropped and recreated when `fresh`)."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    return (
        make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


def open_loaded(url: str, data_dir: Path, spec: Spec, *, reuse: bool) -> tuple[Database, float | None]:
    """Open (migrating) and fill the database, or reuse it when it already holds exactly this spec."""
    db = open_database(url, data_dir)
    counts = _counts(db)
    if reuse and counts == (spec.incidents, spec.alerts):
        return db, None
    if counts != (0, 0):
        db.close()
        raise SystemExit(f"{url.split('@')[-1]} holds {counts}, not {spec}: drop it or leave out --reuse")
    return db, generate(db, spec)


# --- timing -----------------------------------------------------------------------------------------


def page(db: Database, wanted: IncidentFilter, count_cap: int | None = None) -> tuple[int, int]:
    """One queue page as the API serves it: the rows and the total (exact unless capped), in one session."""
    with db.session() as session:
        rows = list_incidents(session, wanted)
        total = count_incidents(session, wanted, cap=count_cap)
    return len(rows), total


def time_queries(
    db: Database,
    queries: Sequence[Query] = QUERIES,
    *,
    repeat: int = 200,
    warmup: int = 20,
    count_cap: int | None = None,
) -> Timings:
    """Time each query `repeat` times after `warmup` untimed runs."""
    timings = Timings(load_before=os.getloadavg())
    for query in queries:
        for _ in range(warmup):
            page(db, query.wanted, count_cap)
        samples: list[float] = []
        for _ in range(repeat):
            start = time.perf_counter()
            page(db, query.wanted, count_cap)
            samples.append(time.perf_counter() - start)
        timings.per_query[query.name] = samples
    timings.load_after = os.getloadavg()
    return timings


def percentiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """p50, p95 and p99 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def explain(db: Database, queries: Sequence[Query] = QUERIES) -> dict[str, list[str]]:
    """The plan of every statement a page runs, captured from the real calls and explained verbatim."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        captured.append((statement, parameters))

    plans: dict[str, list[str]] = {}
    prefix = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
    for query in queries:
        captured.clear()
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            page(db, query.wanted)
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        lines: list[str] = []
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement, parameters in captured:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                cursor.execute(prefix + statement, parameters)
                lines.append(" | ".join(str(r[-1]) for r in cursor.fetchall()))
            cursor.close()
        finally:
            raw.close()
        plans[query.name] = lines
    return plans


def report(backend: str, timings: Timings, queries: Sequence[Query] = QUERIES) -> str:
    """A Markdown table of p50/p95/p99 per query and overall."""
    lines = [
        f"### {backend}: load average {timings.load_before[0]:.2f} before, {timings.load_after[0]:.2f} after",
        "",
        "| Query | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    everything: list[float] = []
    for query in queries:
        samples = timings.per_query[query.name]
        everything.extend(samples)
        p50, p95, p99 = percentiles(samples)
        lines.append(f"| {query.name} | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
    p50, p95, p99 = percentiles(everything)
    lines.append(f"| **all** | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
    return "\n".join(lines)


def _run_backend(
    backend: str, url: str, data_dir: Path, spec: Spec, args: argparse.Namespace, out: Callable[[str], None]
) -> float:
    db, seconds = open_loaded(url, data_dir, spec, reuse=args.reuse)
    try:
        out(
            f"{backend}: "
            + ("reused the loaded data set" if seconds is None else f"loaded in {seconds:.1f} s")
        )
        for query in QUERIES:
            rows, total = page(db, query.wanted)
            out(f"  {query.name}: {rows} rows of {total}")
        if args.explain:
            for name, plan in explain(db).items():
                out(f"  plan of {name}:")
                for line in plan:
                    out(f"    {line}")
        timings = time_queries(db, repeat=args.repeat, warmup=args.warmup, count_cap=args.count_cap)
        out(report(backend, timings))
        return max(percentiles(s)[1] for s in timings.per_query.values())
    finally:
        db.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--db-path", type=Path, default=None, help="SQLite file (default bench/out/...)")
    parser.add_argument("--reuse", action="store_true", help="keep a database that already holds this spec")
    parser.add_argument("--postgres-url", default=os.environ.get(PG_ENV), help=f"default: ${PG_ENV}")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--count-cap", type=int, default=None, help="count at most this many (API: N+)")
    parser.add_argument("--explain", action="store_true", help="print the plan of every statement")
    args = parser.parse_args(argv)
    spec = Spec(args.incidents, args.alerts)
    db_path: Path = args.db_path or OUT / f"incidents_queue_{spec.incidents}_{spec.alerts}.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    worst = 0.0
    for backend in args.backends.split(","):
        if backend == "sqlite":
            if not args.reuse:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            worst = max(
                worst, _run_backend("SQLite", f"sqlite:///{db_path}", db_path.parent, spec, args, print)
            )
        elif backend == "postgresql":
            if not args.postgres_url:
                print(f"PostgreSQL skipped: give --postgres-url or set {PG_ENV}", file=sys.stderr)
                continue
            schema = f"{PG_SCHEMA}_{spec.incidents}_{spec.alerts}"
            url = postgres_schema_url(args.postgres_url, schema, fresh=not args.reuse)
            worst = max(worst, _run_backend("PostgreSQL", url, db_path.parent, spec, args, print))
        else:
            raise SystemExit(f"unknown backend {backend!r} (sqlite, postgresql)")
    print(f"worst per-query p95: {worst:.1f} ms (target < 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
