"""API tokens: `watchfloor tokens create|list|revoke` as a user runs them, and what the store keeps.

The commands run through the `watchfloor` entry point in-process (a subprocess per command costs
seconds of imports) against SQLite and PostgreSQL; the token they print is then checked with
`authenticate`, the function the API calls for every request.
"""

# ruff: noqa: F811  (fixtures imported from test_cases_support are parameters of the tests)

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.test_cases_support import database, db_url, pg_schema_url, staff  # noqa: F401
from watchfloor.cases import Actor, Database, Forbidden, InvalidInput, NotAllowed, open_database
from watchfloor.cases.audit import entries
from watchfloor.cases.models import ApiToken
from watchfloor.cases.tokens import InvalidToken, authenticate, create_token, list_tokens, revoke_token
from watchfloor.cli import main


@dataclass(frozen=True, slots=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def test_tokens_cli_create_list_revoke(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "wf"
    monkeypatch.setenv("WATCHFLOOR_DB", db_url)
    monkeypatch.setenv("WATCHFLOOR_USER", "ada")

    def run(*args: str, ok: bool = True) -> Ran:
        """The `watchfloor` entry point in-process: same parsing, output and exit codes as the script."""
        try:
            main(["--data-dir", str(data_dir), *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        if ok:
            assert code == 0, err
        return Ran(code, out, err)

    run("users", "add", "ada", "--role", "admin")
    run("users", "add", "ann", "--role", "tier1")
    created = json.loads(
        run(
            "tokens",
            "create",
            "--user",
            "ann",
            "--scope",
            "read",
            "--scope",
            "write",
            "--name",
            "laptop",
            "--json",
        ).stdout
    )
    secret = created["token"]
    assert secret.startswith(f"wf_{created['id']}_") and len(secret) > 50
    assert (created["username"], created["role"], created["scopes"], created["name"]) == (
        "ann",
        "tier1",
        ["read", "write"],
        "laptop",
    )
    plain = run("tokens", "create", "--user", "ann", "--scope", "read", "--as", "ann")
    assert plain.stdout.strip().startswith("wf_") and "not shown again" in plain.stderr
    refused = run("tokens", "create", "--user", "ann", "--scope", "admin", "--as", "ann", ok=False)
    assert refused.returncode == 1 and "only an admin can grant the admin scope" in refused.stderr
    assert run("tokens", "create", "--user", "nobody", "--scope", "read", ok=False).returncode == 1
    assert run("tokens", "create", "--user", "ann", "--scope", "root", ok=False).returncode == 2

    listed = json.loads(run("tokens", "list", "--json").stdout)
    assert (listed[0]["id"], listed[0]["username"], listed[0]["active"]) == (created["id"], "ann", True)
    assert len(listed) == 2
    assert all("token" not in t and "secret_sha256" not in t for t in listed)
    assert secret not in run("tokens", "list").stdout

    database = open_database(db_url, data_dir)
    try:
        with database.session() as session:
            who = authenticate(session, secret)
            assert (who.actor.username, who.actor.role.value, who.token.scopes) == (
                "ann",
                "tier1",
                ("read", "write"),
            )
            stored = session.scalars(select(ApiToken).where(ApiToken.token_id == created["id"])).one()
            assert stored.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
        run("tokens", "revoke", created["id"], "--as", "ann")  # owners revoke their own
        again = run("tokens", "revoke", created["id"], ok=False)
        assert again.returncode == 1 and "already revoked by ann" in again.stderr
        with database.session() as session, pytest.raises(InvalidToken):
            authenticate(session, secret)
        with database.session() as session:
            log = [e for e in entries(session) if e.target_type == "token"]
    finally:
        database.close()
    assert [(e.action, e.actor) for e in log] == [
        ("token.created", "ada"),
        ("token.created", "ann"),
        ("token.revoked", "ann"),
    ]
    assert all(secret not in json.dumps(e.as_dict()) for e in log)
    after = json.loads(run("tokens", "list", "--json").stdout)[0]
    assert (after["active"], after["revoked_by"]) == (False, "ann")


def test_token_rules(database: Database, staff: dict[str, Actor]) -> None:
    with database.session() as session:
        own = create_token(session, staff["tier1"], "tier1", ["read"])
        with pytest.raises(Forbidden, match="cannot create tokens for tier2"):
            create_token(session, staff["tier1"], "tier2", ["read"])
        with pytest.raises(InvalidInput, match="at least one scope"):
            create_token(session, staff["admin"], "tier2", [])
        other = create_token(session, staff["admin"], "tier2", ["write", "read", "read"], "ci")
    assert other.token.scopes == ("read", "write")
    with database.session() as session:
        forged = own.secret[:-4] + ("AAAA" if not own.secret.endswith("AAAA") else "BBBB")
        for bad in (forged, "wf_ffffffffffff_x", "wf_", "", "Bearer " + own.secret):
            with pytest.raises(InvalidToken, match="invalid or revoked API token"):
                authenticate(session, bad)
        assert authenticate(session, own.secret).token.allows("read")
        assert not authenticate(session, own.secret).token.allows("write")
        with pytest.raises(Forbidden, match="cannot revoke tier2's token"):
            revoke_token(session, staff["tier1"], other.token.id)
    with database.session() as session:
        revoke_token(session, staff["admin"], other.token.id)
        with pytest.raises(NotAllowed):
            revoke_token(session, staff["admin"], other.token.id)
        assert [(t.username, t.active) for t in list_tokens(session)] == [("tier1", True), ("tier2", False)]
        assert [t.id for t in list_tokens(session, "tier2")] == [other.token.id]
