"""Shared set-up for the incident-management tests: one fresh database per test, SQLite and PostgreSQL.

PostgreSQL comes from `WATCHFLOOR_TEST_POSTGRES_URL` (`.ci/run` starts a server and sets it). Each test
gets its own schema on that server, so tests never see each other's incidents. Outside CI the
PostgreSQL variants are skipped with a reason when the variable is unset; in CI (`CI=true`) they fail.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from watchfloor.cases import Actor, Database, IncomingAlert, Role, add_user, open_database

PG_ENV = "WATCHFLOOR_TEST_POSTGRES_URL"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
BACKENDS = ["sqlite", "postgresql"]


def postgres_admin_url() -> str:
    url = os.environ.get(PG_ENV)
    if url:
        return url
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{PG_ENV} is not set: in CI the PostgreSQL variants must run (see .ci/run)")
    pytest.skip(f"{PG_ENV} is not set: no PostgreSQL server to test against (CI always sets it)")


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh schema on the test server; the schema is dropped afterwards."""
    import psycopg

    admin = postgres_admin_url()
    schema = f"wf_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_psycopg_url(admin), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(admin).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_psycopg_url(admin), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for a fresh, empty incident database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cases.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def database(db_url: str, tmp_path: Path) -> Iterator[Database]:
    db = open_database(db_url, tmp_path / "wf")
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def staff(database: Database) -> dict[str, Actor]:
    """One user per role, and their actors."""
    bootstrap = Actor("setup", Role.ADMIN)
    with database.session() as session:
        for role in Role:
            add_user(session, bootstrap, role.value.replace("_", "-"), role.value)
    return {role.value: Actor(role.value.replace("_", "-"), role) for role in Role}


def alert(
    uid: str,
    minutes: float = 0,
    *,
    rule: str = "r-mimikatz",
    title: str = "Mimikatz use",
    severity: str = "high",
    hosts: tuple[str, ...] = (),
    users: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    processes: tuple[str, ...] = (),
    techniques: tuple[str, ...] = ("T1003",),
    evidence: tuple[str, ...] = (),
    correlation_key: str | None = None,
    is_exercise: bool = False,
) -> IncomingAlert:
    return IncomingAlert(
        uid=uid,
        rule_id=rule,
        rule_title=title,
        severity=severity,
        event_time=T0 + dt.timedelta(minutes=minutes),
        techniques=techniques,
        tactics=("credential-access",),
        hosts=hosts,
        users=users,
        ips=ips,
        processes=processes,
        evidence_event_ids=evidence or (f"ev-{uid}",),
        source="windows",
        correlation_key=correlation_key,
        is_exercise=is_exercise,
    )


def test_database_urls_are_fresh_per_test(database: Database) -> None:
    from watchfloor.cases import list_incidents

    with database.session() as session:
        assert list_incidents(session) == []
