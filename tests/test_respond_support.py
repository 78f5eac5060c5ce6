"""Shared set-up for the response-automation tests: a database with staff, playbooks from text, runners.

Tests that use `db` import `db_url` and `pg_schema_url` too, so they run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.test_cases_support import alert
from watchfloor.cases import Actor, Database, Role, add_user, open_database, receive_alerts
from watchfloor.respond import (
    ActionSpec,
    Connector,
    Environment,
    Playbook,
    PlaybookSet,
    RecordingConnector,
    Runner,
    parse_playbook,
    queue_run,
)


@pytest.fixture
def db(db_url: str, tmp_path: Path) -> Iterator[Database]:
    """A fresh incident database on each backend (PostgreSQL when the test server is configured)."""
    database = open_database(db_url, tmp_path / "wf")
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def people(db: Database) -> dict[str, Actor]:
    bootstrap = Actor("setup", Role.ADMIN)
    with db.session() as session:
        for role in Role:
            add_user(session, bootstrap, role.value.replace("_", "-"), role.value)
    return {role.value: Actor(role.value.replace("_", "-"), role) for role in Role}


def playbook(text: str) -> Playbook:
    return parse_playbook(text, "test.yml")


def edr(**kw: object) -> RecordingConnector:
    specs = {
        "isolate_host": ActionSpec("isolate_host", destructive=True, idempotent=True),
        "lookup": ActionSpec("lookup"),
        "run_script": ActionSpec("run_script", idempotent=False),
    }
    return RecordingConnector("edr", specs, **kw)  # type: ignore[arg-type]


def open_incident(db: Database, uid: str = "a1", **kw: object) -> int:
    with db.session() as session:
        result = receive_alerts(session, [alert(uid, **kw)])  # type: ignore[arg-type]
    return result.opened[0]


def start(
    db: Database,
    book: Playbook,
    incident_id: int,
    connectors: Mapping[str, Connector] | None = None,
    dry_run: bool = False,
) -> tuple[Runner, int]:
    runner = Runner(
        db, PlaybookSet({book.name: book}), Environment(dict(connectors or {})), sleep=lambda _s: None
    )
    with db.session() as session:
        run_id = queue_run(session, book, incident_id, "manual", "test", dry_run).id
    return runner, run_id
