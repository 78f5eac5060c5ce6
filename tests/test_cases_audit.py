"""The audit log: hash chain verifies, tampering and deletion are caught, the database refuses edits."""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.test_cases_support import alert, database, db_url, pg_schema_url, staff  # noqa: F401
from watchfloor.cases import Database, acknowledge, receive_alerts, verify
from watchfloor.cases.audit import GENESIS_HASH, canonical_json, entries, entry_hash


def _some_history(database: Database, staff) -> int:
    with database.session() as session:
        result = receive_alerts(session, [alert("a1", 0, hosts=("h",)), alert("a2", 1, hosts=("h",))])
    with database.session() as session:
        acknowledge(session, staff["tier1"], result.opened[0], None)
    return result.opened[0]


def _allow_tampering(database: Database) -> None:
    """What an attacker with database rights would do first: switch the append-only triggers off."""
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))


def test_chain_verifies_and_links(database: Database, staff) -> None:
    _some_history(database, staff)
    with database.session() as session:
        result = verify(session)
        log = list(entries(session))
    # 6 user.created (one per role), opened, attached, attached, acknowledged
    assert result.ok and result.entries == len(log) == 10
    assert log[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(log))
    assert result.last_hash == log[-1].hash
    assert len({e.request_id for e in log if e.actor == "system:intake"}) == 1  # one intake call, one id


def test_hash_is_sha256_of_canonical_entry() -> None:
    import datetime as dt
    import hashlib

    at = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    fields = {
        "seq": 1, "at": at, "actor": "a", "action": "x", "target_type": "incident", "target_id": "1",
        "before": "{}", "after": canonical_json({"b": 1, "a": "é"}), "request_id": "r",
        "prev_hash": GENESIS_HASH,
    }  # fmt: skip
    body = (
        '{"action":"x","actor":"a","after":"{\\"a\\":\\"é\\",\\"b\\":1}","at":"2026-01-02T03:04:05.000006Z",'
        '"before":"{}","prev_hash":"' + GENESIS_HASH + '","request_id":"r","seq":1,"target_id":"1",'
        '"target_type":"incident"}'
    )
    assert entry_hash(**fields) == hashlib.sha256(body.encode()).hexdigest()


def test_database_refuses_update_and_delete(database: Database, staff) -> None:
    _some_history(database, staff)
    for statement in (
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 10",
    ):
        with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as conn:
            conn.execute(text(statement))
    with database.session() as session:
        assert verify(session).ok


def test_modified_row_is_named(database: Database, staff) -> None:
    incident_id = _some_history(database, staff)
    _allow_tampering(database)
    with database.engine.begin() as conn:
        seq = conn.execute(
            text("SELECT seq FROM audit_log WHERE action = 'incident.acknowledged'")
        ).scalar_one()
        conn.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = :seq"), {"seq": seq})
    with database.session() as session:
        result = verify(session)
    assert not result.ok and result.broken_seq == seq == 10 and result.entries == 9
    assert result.reason == f"entry 10 (incident.acknowledged on incident {incident_id}) was altered"


def test_rehashed_row_breaks_the_link(database: Database, staff) -> None:
    """Recomputing the altered entry's own hash is not enough: the next entry no longer links to it."""
    _some_history(database, staff)
    _allow_tampering(database)
    with database.session() as session:
        target = next(e for e in entries(session) if e.seq == 9)
    forged = entry_hash(
        seq=9, at=target.at, actor="mallory", action=target.action, target_type=target.target_type,
        target_id=target.target_id, before=canonical_json(target.before), after=canonical_json(target.after),
        request_id=target.request_id, prev_hash=target.prev_hash,
    )  # fmt: skip
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory', hash = :h WHERE seq = 9"), {"h": forged})
    with database.session() as session:
        result = verify(session)
    assert (result.ok, result.broken_seq) == (False, 10)
    assert "does not link to entry 9" in result.reason


def test_deleted_rows_are_detected(database: Database, staff) -> None:
    _some_history(database, staff)
    _allow_tampering(database)
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    with database.session() as session:
        middle = verify(session)
    assert (middle.ok, middle.broken_seq, middle.reason) == (False, 5, "entry 5 is missing")
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 5"))
    with database.session() as session:
        tail = verify(session)
    assert not tail.ok and tail.broken_seq == 5 and "entries were removed" in tail.reason


def test_failed_change_leaves_no_audit_entry(database: Database, staff) -> None:
    incident_id = _some_history(database, staff)
    with database.session() as session:
        before = verify(session).entries
    with pytest.raises(Exception, match="acknowledged"), database.session() as session:
        acknowledge(session, staff["tier1"], incident_id, None)
    with database.session() as session:
        after = verify(session)
    assert after.ok and after.entries == before
