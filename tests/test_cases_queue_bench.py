"""The incident-queue benchmark at a tiny size: its generated data is consistent and the queue reads it right.

`bench/incidents_queue.py` bulk-loads incidents and alerts behind the application's back, so these tests
check what the application relies on (denormalised counts and times, severity ranks, sequences) and
compare every queue view of the benchmark mix with a plain Python filter over the generated rows, on
SQLite and PostgreSQL.
"""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from tests.test_cases_support import (  # noqa: F401
    BACKENDS,
    alert,
    database,
    db_url,
    pg_schema_url,
    postgres_admin_url,
)
from watchfloor.cases import (
    Actor,
    Database,
    IncidentFilter,
    InvalidInput,
    Role,
    acknowledge,
    count_incidents,
    list_incidents,
    open_database,
    receive_alerts,
)
from watchfloor.cases.audit import verify
from watchfloor.cases.models import Alert, Incident
from watchfloor.cases.values import SEVERITY_RANK, Severity, State

BENCH = Path(__file__).resolve().parent.parent / "bench" / "incidents_queue.py"
OPEN = {s.value for s in State if s is not State.CLOSED}


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_incidents_queue", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bench = _bench()
SPEC = bench.Spec(incidents=2_000, alerts=20_000)


def _expected(rows: list[dict[str, Any]], wanted: IncidentFilter) -> tuple[list[int], int]:
    """The page and total a queue view must show, computed without SQL."""
    states = set(wanted.states) or OPEN
    minimum = SEVERITY_RANK[Severity(wanted.severity)] if wanted.severity else -1
    kept = [
        r
        for r in rows
        if r["state"] in states
        and (wanted.tier is None or r["tier"] == wanted.tier)
        and (wanted.queue is None or r["queue"] == wanted.queue)
        and r["severity_rank"] >= minimum
        and (wanted.assignee is None or r["assignee"] == wanted.assignee)
        and (wanted.is_exercise is None or r["is_exercise"] == wanted.is_exercise)
    ]
    keys = {
        "severity": lambda r: (-r["severity_rank"], -r["id"]),
        "newest": lambda r: -r["id"],
        "oldest": lambda r: r["id"],
        "last_alert": lambda r: (-r["last_alert_at"].timestamp(), -r["id"]),
    }
    kept.sort(key=keys[wanted.sort])
    return [r["id"] for r in kept[wanted.offset : wanted.offset + wanted.limit]], len(kept)


@pytest.fixture
def loaded(database: Database) -> Database:
    """A fresh loaded database, for tests that change it."""
    seconds = bench.generate(database, SPEC)
    assert seconds < 15
    return database


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One loaded database per backend for the tests that only read (loading is most of their time)."""
    data_dir = tmp_path_factory.mktemp("queue-bench")
    if request.param == "sqlite":
        db = open_database(f"sqlite:///{data_dir / 'cases.db'}", data_dir)
        schema = None
    else:
        admin = postgres_admin_url()
        schema = f"wf_test_{uuid.uuid4().hex[:12]}"
        url = bench.postgres_schema_url(admin, schema, fresh=True)
        db = open_database(url, data_dir)
    try:
        bench.generate(db, SPEC)
        yield db
    finally:
        db.close()
        if schema is not None:
            import psycopg

            with psycopg.connect(
                admin.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True
            ) as c:
                c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_generated_data_is_consistent(shared: Database) -> None:
    rows = bench.incident_rows(SPEC)
    with shared.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Incident)) == SPEC.incidents
        assert conn.scalar(select(func.count()).select_from(Alert)) == SPEC.alerts
        per_incident = {
            incident_id: (count, first, last, worst)
            for incident_id, count, first, last, worst in conn.execute(
                select(
                    Alert.incident_id,
                    func.count(),
                    func.min(Alert.event_time),
                    func.max(Alert.event_time),
                    func.max(Alert.severity),  # compared below through ranks, not this max
                ).group_by(Alert.incident_id)
            )
        }
        severities: dict[int, set[str]] = {}
        for incident_id, severity in conn.execute(select(Alert.incident_id, Alert.severity).distinct()):
            severities.setdefault(incident_id, set()).add(severity)
        stored = {r.id: r for r in conn.execute(select(Incident))}
    assert len(per_incident) == SPEC.incidents
    for row in rows:
        db_row = stored[row["id"]]
        count, first, last, _ = per_incident[row["id"]]
        assert db_row.alert_count == count == row["alert_count"]
        assert db_row.severity_rank == SEVERITY_RANK[Severity(db_row.severity)]
        assert max(SEVERITY_RANK[Severity(s)] for s in severities[row["id"]]) == db_row.severity_rank
        assert (first, last) == (db_row.first_alert_at, db_row.last_alert_at)
    counts = sorted(r["alert_count"] for r in rows)
    assert counts[0] >= 1 and counts[-1] > 20 * counts[len(counts) // 2]  # long-tailed
    open_share = sum(r["state"] in OPEN for r in rows) / len(rows)
    assert 0.10 <= open_share <= 0.20
    tiers = [r["tier"] for r in rows]
    assert 0.6 < tiers.count(1) / len(tiers) < 0.8 and 0.15 < tiers.count(2) / len(tiers) < 0.35


def test_queue_views_match_a_plain_filter(shared: Database) -> None:
    rows = bench.incident_rows(SPEC)
    views = [q.wanted for q in bench.QUERIES] + [
        IncidentFilter(offset=100, limit=20),
        IncidentFilter(states=("new",), sort="oldest", is_exercise=False),
        IncidentFilter(tier=2, severity="medium", sort="last_alert", offset=10),
        IncidentFilter(queue="tier1", assignee="analyst03", sort="newest"),
    ]
    with shared.session() as session:
        for wanted in views:
            ids, total = _expected(rows, wanted)
            assert [s.id for s in list_incidents(session, wanted)] == ids, wanted
            assert count_incidents(session, wanted) == total, wanted
    timings = bench.time_queries(shared, repeat=3, warmup=1)
    table = bench.report("SQLite", timings)
    for query in bench.QUERIES:
        assert query.name in table and len(timings.per_query[query.name]) == 3
    assert "| **all** |" in table


def test_application_keeps_working_on_generated_data(loaded: Database) -> None:
    rows = bench.incident_rows(SPEC)
    new = next(r for r in rows if r["state"] == "new" and r["tier"] == 1)
    with loaded.session() as session:
        acknowledge(session, Actor("analyst01", Role.TIER1), new["id"], new["version"])
    with loaded.session() as session:
        opened = receive_alerts(session, [alert("after-bench", hosts=("host-fresh",))]).opened
        assert opened == (SPEC.incidents + 1,)
        assert verify(session).ok


def test_keyset_cursor_and_capped_count_agree_with_offsets(shared: Database) -> None:
    rows = bench.incident_rows(SPEC)
    with shared.session() as session:
        for sort in ("severity", "newest", "oldest", "last_alert"):
            for base in (IncidentFilter(sort=sort, limit=37), IncidentFilter(sort=sort, tier=1, limit=25)):
                walked: list[int] = []
                after: int | None = None
                while True:
                    wanted = IncidentFilter(
                        states=base.states, tier=base.tier, sort=sort, limit=base.limit, after=after
                    )
                    ids = [s.id for s in list_incidents(session, wanted)]
                    if not ids:
                        break
                    walked.extend(ids)
                    after = ids[-1]
                everything = IncidentFilter(tier=base.tier, sort=sort, limit=1000)
                assert walked == _expected(rows, everything)[0], sort
        assert list_incidents(session, IncidentFilter(after=10**9)) == []
        total = count_incidents(session, IncidentFilter(states=("closed",)))
        assert total > 1000
        assert count_incidents(session, IncidentFilter(states=("closed",)), cap=1000) == 1000
        assert count_incidents(session, IncidentFilter(states=("closed",)), cap=10**6) == total
    with pytest.raises(InvalidInput):
        IncidentFilter(after=0)


def test_queue_indexes_of_the_models_match_the_migrations(database: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from watchfloor.cases.models import Base

    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        names = {i["name"] for i in inspect(conn).get_indexes("incidents")}
    index_changes = [
        d for d in diff if d[0] in {"add_index", "remove_index"} and d[1].table.name == "incidents"
    ]
    assert index_changes == []
    assert {
        "ix_incidents_state_severity",
        "ix_incidents_state_last_alert",
        "ix_incidents_assignee_queue",
    } <= names
