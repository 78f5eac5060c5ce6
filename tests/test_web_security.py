"""Platform security: the authorization matrix over every route, CSRF, login throttling, session expiry.

The application is the one `watchfloor serve` runs (`create_app`) over a fresh SQLite database, on a
loopback port. Its clock is the console's (`app.state.console.config.clock`), moved by the tests.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from starlette.routing import Mount

from tests.in_thread_server import serve
from tests.test_cases_support import alert
from watchfloor.api import create_app
from watchfloor.cases import (
    Actor,
    Database,
    Role,
    acknowledge,
    add_task,
    add_user,
    close,
    escalate,
    receive_alerts,
)
from watchfloor.cases.audit import entries
from watchfloor.cases.models import User
from watchfloor.cases.passwords import bootstrap_admin, hash_password, set_password
from watchfloor.cases.sessions import login as open_session
from watchfloor.config import load_settings
from watchfloor.ingest import MemoryAcknowledger
from watchfloor.web import CSRF_HEADER, SESSION_COOKIE
from watchfloor.web.app import BrowserRoute
from watchfloor.web.security import CONSOLE_CSP

SYSTEM = Actor.system("test")
PASSWORD = "correct horse battery staple"
ROLES = [r.value for r in Role]
IDENTITIES = ["anonymous", "expired", *ROLES]
STAFF = [r for r in ROLES if r != "stakeholder"]
WORKERS = ["tier1", "tier2", "tier3", "admin"]  # may act on a tier 1 incident
SENIOR = ["tier2", "tier3", "admin"]  # ... on a tier 2 incident
TOP = ["tier3", "admin"]  # ... on a tier 3 incident
INTEL_WRITERS = ["tier2", "tier3", "detection_engineer", "admin"]
AUTHORS = ["detection_engineer", "admin"]
BUILTIN_PLAYBOOK = (
    Path(__file__).resolve().parents[1] / "src/watchfloor/respond/builtin/enrich-new-incidents.yml"
)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Console:
    app: FastAPI
    http: httpx.Client
    url: str
    database: Database
    clock: Clock
    counter: Iterator[int] = field(default_factory=itertools.count)

    def session_for(self, username: str, at: dt.datetime | None = None) -> tuple[str, str]:
        """A live session id and its CSRF token, opened straight in the database (as the login page does)."""
        from watchfloor.cases.sessions import csrf_token

        policy = self.app.state.console.config.policy
        with self.database.session() as session:
            issued = open_session(session, username, PASSWORD, "10.9.9.9", at or self.clock.now, policy)
        return issued.session_id, csrf_token(issued.session_id)

    def incident(self, tier: int = 1, state: str = "new") -> int:
        """A fresh incident at `tier`, moved to `state` by the system."""
        n = next(self.counter)
        with self.database.session() as session:
            result = receive_alerts(session, [alert(f"m{n}", n, hosts=(f"host-{n}",), evidence=(f"ev-{n}",))])
            incident = result.incident_of(f"m{n}")
            if tier > 1:
                escalate(session, SYSTEM, incident, None, tier, "moved for the test")
            if state in ("acknowledged", "closed"):
                acknowledge(session, SYSTEM, incident, None)
            if state == "closed":
                close(session, SYSTEM, incident, None, "true_positive", "manual")
        return incident

    def version(self, incident: int) -> int:
        from watchfloor.cases import show_incident

        with self.database.session() as session:
            return show_incident(session, incident).incident.version

    def task(self) -> int:
        incident = self.incident()
        with self.database.session() as session:
            return add_task(session, SYSTEM, incident, "check the host").id


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


@contextmanager
def _console(root: Path, *, staff: bool) -> Iterator[Console]:
    settings = load_settings(root, environ={})
    app = create_app(settings, MemoryAcknowledger())
    clock = Clock()
    app.state.console.config.clock = clock
    database: Database = app.state.cases_database
    if staff:
        with database.session() as session:
            for role in Role:
                add_user(session, SYSTEM, role.value, role.value)
            # one argon2 hash for all (hashing is deliberately slow; `set_password` is tested below)
            for user in session.scalars(select(User)):
                user.password_hash = _password_hash()
    try:
        with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
            yield Console(app, http, url, database, clock)
    finally:
        database.close()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    """A running console with one user per role, all with `PASSWORD`."""
    with _console(tmp_path / "wf", staff=True) as running:
        yield running


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Console]:
    """A running console of a fresh installation: no user at all."""
    with _console(tmp_path / "fresh", staff=False) as running:
        yield running


def _client(url: str, address: str) -> httpx.Client:
    """A client connecting from another loopback address: the throttling key's second half."""
    return httpx.Client(base_url=url, timeout=30, transport=httpx.HTTPTransport(local_address=address))


# ---------------------------------------------------------------------------------------------------
# The matrix: every route of the application, each identity, the expected status.


def public() -> dict[str, int]:
    return dict.fromkeys(IDENTITIES, 200)


def elastic() -> dict[str, int]:
    """The `_bulk` router checks its own `bulk_tokens` (none configured): a console session is no key."""
    return dict.fromkeys(IDENTITIES, 401)


def script_token() -> dict[str, int]:
    """Routes for scripts only (the configured `api_tokens`, none here): a console session is no key."""
    return dict.fromkeys(IDENTITIES, 401)


def page(allowed: list[str], ok: int = 200) -> dict[str, int]:
    return {"anonymous": 302, "expired": 302} | {r: ok if r in allowed else 403 for r in ROLES}


def api(allowed: list[str], ok: int = 200) -> dict[str, int]:
    return {"anonymous": 401, "expired": 401} | {r: ok if r in allowed else 403 for r in ROLES}


@dataclass
class Call:
    """How to exercise a route: the concrete request, built fresh for each identity."""

    expected: dict[str, int]
    build: Callable[[Console, str], dict[str, Any]] = lambda c, who: {}
    path: str | None = None  # concrete path (with ids) when the builder does not give one
    fresh_session: bool = False  # the request ends or changes the identity's session


def _on(at: int = 1, state: str = "new", **form: Any) -> Callable[[Console, str], dict[str, Any]]:
    def build(c: Console, who: str) -> dict[str, Any]:
        incident = c.incident(at, state)
        data = {"version": str(c.version(incident)), **form}
        return {"ids": {"incident_id": incident}, "data": data}

    return build


def _api_on(at: int = 1, state: str = "new", **body: Any) -> Callable[[Console, str], dict[str, Any]]:
    def build(c: Console, who: str) -> dict[str, Any]:
        incident = c.incident(at, state)
        headers = {"If-Match": f'"{incident}-{c.version(incident)}"'}
        return {"ids": {"incident_id": incident}, "json": body or None, "headers": headers}

    return build


def _password_change(c: Console, who: str) -> dict[str, Any]:
    """A throwaway user of the same role, so the shared one keeps its password."""
    if who in ("anonymous", "expired"):
        return {"data": {"current": PASSWORD, "new": "another long passphrase", "confirm": "x"}}
    name = f"{who}-pw-{next(c.counter)}"
    with c.database.session() as session:
        add_user(session, SYSTEM, name, who)
        set_password(session, SYSTEM, name, PASSWORD, must_change=False)
    new = "another long passphrase"
    return {"as": name, "data": {"current": PASSWORD, "new": new, "confirm": new}}


def _throwaway_user(c: Console, who: str) -> dict[str, Any]:
    name = f"reset-{next(c.counter)}"
    with c.database.session() as session:
        add_user(session, SYSTEM, name, "tier1")
    return {"ids": {"username": name}}


CURATORS = ["tier2", "tier3", "detection_engineer", "admin"]  # may add and pull threat-intel feeds
AUTHORS = ["detection_engineer", "admin"]  # may save and delete playbooks


def _feed(c: Console, who: str) -> dict[str, Any]:
    """A new feed over a local one-line list (pulling it later reads no network)."""
    import tempfile

    path = Path(tempfile.mkdtemp()) / "feed.txt"
    path.write_text("203.0.113.200\n", encoding="utf-8")
    return {"json": {"name": f"feed-{next(c.counter)}", "kind": "csv", "location": str(path)}}


def _playbook_doc(name: str) -> dict[str, Any]:
    """A playbook as JSON, which is YAML too."""
    return {
        "name": name,
        "version": 1,
        "trigger": {"on": "incident.created"},
        "steps": [{"id": "s", "set": {"comment": "x"}}],
    }


def _run(c: Console, who: str, waiting: bool = False) -> dict[str, Any]:
    """A dry run of a built-in on a fresh incident, pending or waiting for a tier 2 approval."""
    from watchfloor.respond import load_playbooks, queue_run

    incident = c.incident()
    playbook = load_playbooks(None).get("enrich-new-incidents")
    with c.database.session() as session:
        run = queue_run(session, playbook, incident, "manual", "test", dry_run=True)
        if waiting:
            run.state, run.waiting_step, run.approval_tier = "waiting_approval", "gather", 2
        run_id = run.id
    return {"ids": {"run_id": run_id}, "json": {"reason": "not needed"}}


def _new_playbook(c: Console, who: str) -> dict[str, Any]:
    name = f"pb-{next(c.counter)}"
    return {"ids": {"name": name}, "json": _playbook_doc(name)}


def _installed_playbook(c: Console, who: str) -> dict[str, Any]:
    """An installation playbook saved over the API by an administrator, to be deleted."""
    name = f"pb-{next(c.counter)}"
    sid, csrf = c.session_for("admin")
    c.http.cookies.clear()
    c.http.cookies.set(SESSION_COOKIE, sid)
    response = c.http.put(f"/api/v1/playbooks/{name}", json=_playbook_doc(name), headers={CSRF_HEADER: csrf})
    assert response.status_code == 201, response.text
    return {"ids": {"name": name}}


MATRIX: dict[str, Call] = {
    # FastAPI's own documentation routes: public, no data.
    "GET /openapi.json": Call(public()),
    "GET /docs": Call(public()),
    "GET /docs/oauth2-redirect": Call(public()),
    "GET /redoc": Call(public()),
    "GET /health": Call(public()),
    "GET /static": Call(public(), path="/static/console.css"),
    # Console: login and the pages.
    "GET / [browser]": Call(page(ROLES, 302) | {"anonymous": 302, "expired": 302}),
    "GET /login": Call({i: (200 if i in ("anonymous", "expired") else 303) for i in IDENTITIES}),
    "POST /login": Call(dict.fromkeys(IDENTITIES, 403)),  # no login-form token: refused for everyone
    "POST /logout": Call(page(ROLES, 303), fresh_session=True),
    "GET /password": Call(page(ROLES)),
    "POST /password": Call(page(ROLES, 303), _password_change),
    "GET /queues": Call(page(STAFF)),
    "GET /console/api/queue": Call(api(STAFF)),
    "GET /metrics": Call(page(ROLES)),
    "GET /overview": Call(page(ROLES)),
    "GET /incidents/{incident_id}": Call(page(STAFF), _on()),
    "POST /incidents/{incident_id}/ack": Call(page(SENIOR, 303) | {"tier1": 403}, _on(2)),
    "POST /incidents/{incident_id}/assign": Call(page(WORKERS, 303), _on(1)),
    "POST /incidents/{incident_id}/escalate": Call(page(WORKERS, 303), _on(1, tier="2", note="over to you")),
    "POST /incidents/{incident_id}/deescalate": Call(page(TOP, 303), _on(3, tier="1", note="runbook case")),
    "POST /incidents/{incident_id}/close": Call(
        page(WORKERS, 303), _on(1, "acknowledged", verdict="true_positive", remediation="manual")
    ),
    "POST /incidents/{incident_id}/comment": Call(page(STAFF, 303), _on(1, body="seen it")),
    "GET /hunt": Call(page(STAFF), lambda c, who: {"params": {"sql": "SELECT 1 AS one"}}),
    "POST /hunt/save": Call(
        page(STAFF, 303), lambda c, who: {"data": {"name": f"h-{next(c.counter)}", "sql": "SELECT 1 AS one"}}
    ),
    "POST /hunt/pin": Call(
        page(WORKERS, 303), lambda c, who: {"data": {"incident_id": str(c.incident()), "event_uid": "ev-pin"}}
    ),
    "GET /rules": Call(page(["tier2", "tier3", "detection_engineer", "admin"])),
    "GET /admin/users": Call(page(["admin"])),
    "POST /admin/users": Call(
        page(["admin"]), lambda c, who: {"data": {"username": f"new-{next(c.counter)}", "role": "tier1"}}
    ),
    "POST /admin/users/{username}/password": Call(page(["admin"]), _throwaway_user),
    # The REST API with a console session (and its CSRF header).
    "GET /api/v1/incidents": Call(api(ROLES)),
    "GET /api/v1/incidents/{incident_id}": Call(api(ROLES), _api_on()),
    "GET /api/v1/alerts": Call(api(ROLES), lambda c, who: {"params": {"incident": c.incident()}}),
    "GET /api/v1/audit/verify": Call(api(["admin"])),
    "GET /api/v1/metrics": Call(api(ROLES)),
    "GET /api/v1/metrics/fidelity": Call(api(ROLES)),
    "GET /api/v1/context": Call(api(ROLES)),
    "GET /api/v1/context/resolve": Call(api(ROLES), lambda c, who: {"params": {"value": "ws1"}}),
    "POST /api/v1/context/import": Call(
        api(SENIOR, 201),
        lambda c, who: {
            "json": {"kind": "assets", "csv": f"hostname,criticality\nhost-{next(c.counter)},high\n"}
        },
    ),
    "POST /api/v1/incidents/{incident_id}/ack": Call(api(SENIOR), _api_on(2)),
    "POST /api/v1/incidents/{incident_id}/investigate": Call(api(WORKERS), _api_on(1, "acknowledged")),
    "POST /api/v1/incidents/{incident_id}/contain": Call(api(WORKERS), _api_on(1, "acknowledged")),
    "POST /api/v1/incidents/{incident_id}/remediate": Call(
        api(WORKERS), _api_on(1, "acknowledged", remediation="manual")
    ),
    "POST /api/v1/incidents/{incident_id}/close": Call(
        api(WORKERS), _api_on(1, "acknowledged", verdict="true_positive", remediation="manual")
    ),
    "POST /api/v1/incidents/{incident_id}/reopen": Call(
        api(WORKERS), _api_on(1, "closed", reason="new evidence")
    ),
    "POST /api/v1/incidents/{incident_id}/assign": Call(api(WORKERS), _api_on(1, to="tier3")),
    "POST /api/v1/incidents/{incident_id}/escalate": Call(api(WORKERS), _api_on(1, to_tier=2, note="up")),
    "POST /api/v1/incidents/{incident_id}/deescalate": Call(api(TOP), _api_on(3, to_tier=1, note="down")),
    "POST /api/v1/incidents/{incident_id}/comments": Call(api(STAFF, 201), _api_on(1, body="a note")),
    "POST /api/v1/incidents/{incident_id}/tasks": Call(api(WORKERS, 201), _api_on(1, title="look")),
    "POST /api/v1/incidents/{incident_id}/observables": Call(
        api(WORKERS, 201), _api_on(1, kind="ip", value="203.0.113.9")
    ),
    "POST /api/v1/incidents/{incident_id}/timeline": Call(api(WORKERS, 201), _api_on(1, event_uid="ev-x")),
    "POST /api/v1/tasks/{task_id}/complete": Call(
        api(WORKERS), lambda c, who: {"ids": {"task_id": c.task()}}
    ),
    "POST /api/v1/hunt": Call(api(STAFF), lambda c, who: {"json": {"sql": "SELECT 1 AS one"}}),
    "GET /api/v1/intel/feeds": Call(api(STAFF)),
    "POST /api/v1/intel/feeds": Call(api(CURATORS, 201), _feed),
    "POST /api/v1/intel/pull": Call(api(CURATORS)),
    "GET /api/v1/intel/search": Call(api(STAFF), lambda c, who: {"params": {"value": "203.0.113.200"}}),
    "GET /api/v1/playbooks": Call(api(STAFF)),
    "GET /api/v1/playbooks/runs": Call(api(STAFF)),
    "GET /api/v1/playbooks/runs/{run_id}": Call(api(STAFF), _run),
    "POST /api/v1/playbooks/{name}/run": Call(
        api(WORKERS),
        lambda c, who: {
            "ids": {"name": "enrich-new-incidents"},
            "json": {"incident_id": c.incident(), "dry_run": True},
        },
    ),
    "POST /api/v1/playbooks/runs/{run_id}/approve": Call(
        api(SENIOR), lambda c, who: _run(c, who, waiting=True)
    ),
    "POST /api/v1/playbooks/runs/{run_id}/cancel": Call(api(WORKERS), _run),
    "PUT /api/v1/playbooks/{name}": Call(api(AUTHORS, 201), _new_playbook),
    "DELETE /api/v1/playbooks/{name}": Call(api(AUTHORS), _installed_playbook),
    # TAXII 2.1 for other tools: script tokens only.
    "GET /taxii2/": Call(script_token()),
    "GET /taxii2/intel/": Call(script_token()),
    "GET /taxii2/intel/collections/": Call(script_token()),
    "GET /taxii2/intel/collections/{collection_id}/": Call(
        script_token(), path="/taxii2/intel/collections/x/"
    ),
    "GET /taxii2/intel/collections/{collection_id}/objects/": Call(
        script_token(), path="/taxii2/intel/collections/x/objects/"
    ),
    # Elasticsearch `_bulk` and its probes: their own tokens.
    "GET /": Call(elastic()),
    "HEAD /": Call(elastic()),
    "POST /_bulk": Call(elastic()),
    "PUT /_bulk": Call(elastic()),
    "POST /{index}/_bulk": Call(elastic(), path="/logs/_bulk"),
    "PUT /{index}/_bulk": Call(elastic(), path="/logs/_bulk"),
    "GET /_license": Call(elastic()),
    "GET /_xpack": Call(elastic()),
    "GET /_cluster/health": Call(elastic()),
    "GET /_nodes/http": Call(elastic()),
    "PUT /{index}": Call(elastic(), path="/logs"),
    "HEAD /{index}": Call(elastic(), path="/logs"),
}


def _route_keys(app: FastAPI) -> list[str]:
    """Every (method, path) the application answers, routers included (a mount counts as one GET)."""
    keys = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, Mount):
            keys.append(f"GET {context.path}")
            continue
        methods = set(context.methods or ())
        assert methods, context
        if "GET" in methods:
            methods.discard("HEAD")
        suffix = " [browser]" if isinstance(context.original_route, BrowserRoute) else ""
        keys.extend(f"{method} {context.path}{suffix}" for method in sorted(methods))
    return keys


def test_every_route_is_in_the_matrix(console: Console) -> None:
    keys = _route_keys(console.app)
    missing = [k for k in keys if k not in MATRIX]
    assert not missing, f"routes missing from the authorization matrix: {missing}"
    assert not [k for k in MATRIX if k not in keys], "matrix rows for routes that no longer exist"


def test_authorization_matrix(console: Console) -> None:
    c = console
    sessions = {role: c.session_for(role) for role in ROLES}
    expired_at = c.clock.now - dt.timedelta(days=1)
    sessions["expired"] = c.session_for("tier1", at=expired_at)
    failures = []
    for key in _route_keys(c.app):
        call = MATRIX[key]
        method, template = key.split(" ")[:2]
        for who in IDENTITIES:
            spec = call.build(c, who)
            path = call.path or template
            for name, value in spec.get("ids", {}).items():
                path = path.replace("{" + name + "}", str(value))
            headers = dict(spec.get("headers", {}))
            headers["Accept"] = "text/html" if key.endswith("[browser]") else "application/json"
            cookies: dict[str, str] = {}
            if who != "anonymous":
                sid, csrf = sessions[who]
                if call.fresh_session and who != "expired":
                    sid, csrf = c.session_for(who)
                if "as" in spec:
                    sid, csrf = c.session_for(spec["as"])
                cookies[SESSION_COOKIE] = sid
                headers[CSRF_HEADER] = csrf
            c.http.cookies.clear()
            for name, value in cookies.items():
                c.http.cookies.set(name, value)
            response = c.http.request(
                method,
                path,
                headers=headers,
                params=spec.get("params"),
                json=spec.get("json"),
                data=spec.get("data"),
            )
            want = call.expected[who]
            if response.status_code != want:
                failures.append(f"{key} as {who}: {response.status_code} (want {want}) {response.text[:160]}")
            elif want == 302 and who in ("anonymous", "expired") and not key.startswith("GET / "):
                assert response.headers["location"].startswith("/login"), key
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------------------------------
# Login, CSRF, throttling, expiry, headers, audit.


def _login_form(http: httpx.Client) -> str:
    response = http.get("/login")
    assert response.status_code == 200
    token = re.search(r'name="login_token" value="([^"]+)"', response.text)
    assert token is not None
    return token.group(1)


def _login(http: httpx.Client, username: str, password: str) -> Any:
    token = _login_form(http)
    return http.post("/login", data={"username": username, "password": password, "login_token": token})


def _csrf(http: httpx.Client, path: str = "/password") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', http.get(path).text)
    assert found is not None
    return found.group(1)


def test_first_admin_logs_in_with_one_time_password_and_must_change_it(fresh: Console) -> None:
    console = fresh
    assert _login(console.http, "admin", "admin").status_code == 401  # no default credentials
    with console.database.session() as session:
        one_time = bootstrap_admin(session, "root")
    http = console.http
    response = _login(http, "root", one_time)
    assert response.status_code == 303 and response.headers["location"] == "/password"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    # every page sends the user back to change the password first
    assert http.get("/queues").headers["location"] == "/password"
    csrf = _csrf(http)
    new = "a much longer passphrase of mine"
    changed = http.post(
        "/password", data={"csrf_token": csrf, "current": one_time, "new": new, "confirm": new}
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/queues"
    assert http.get("/queues").status_code == 200
    http.cookies.clear()
    assert _login(http, "root", one_time).status_code == 401  # the one-time password is gone
    with console.database.session() as session:
        actions = [e.action for e in entries(session, target_type="user", target_id="root")]
    assert actions[:3] == ["user.created", "user.password_set", "auth.login"]
    assert "user.password_changed" in actions and actions[-1] == "auth.login_failed"


def test_state_change_without_csrf_token_is_refused_and_audited(console: Console) -> None:
    http = console.http
    assert _login(http, "tier1", PASSWORD).status_code == 303
    incident = console.incident()
    version = console.version(incident)
    refused = http.post(f"/incidents/{incident}/ack", data={"version": str(version)})
    assert refused.status_code == 403
    wrong = http.post(f"/incidents/{incident}/ack", data={"version": str(version), "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    assert console.version(incident) == version  # nothing changed
    # the REST API with the same cookie needs the header too; a bearer token would need none
    api = http.post(f"/api/v1/incidents/{incident}/ack", headers={"If-Match": f'"{incident}-{version}"'})
    assert api.status_code == 403 and "CSRF" in api.json()["detail"]
    csrf = _csrf(http, f"/incidents/{incident}")
    done = http.post(f"/incidents/{incident}/ack", data={"version": str(version), "csrf_token": csrf})
    assert done.status_code == 303
    assert console.version(incident) == version + 1
    with console.database.session() as session:
        denied = [e for e in entries(session, actions=("auth.denied",))]
    assert [d.target_id for d in denied] == [f"POST /incidents/{incident}/ack"] * 2 + [
        f"POST /api/v1/incidents/{incident}/ack"
    ]
    assert all(d.actor == "tier1" and d.after["status"] == 403 for d in denied)


def test_login_throttling_slows_the_attacker_address_only(console: Console) -> None:
    policy = console.app.state.console.config.policy
    attacker, owner = _client(console.url, "127.0.0.7"), _client(console.url, "127.0.0.10")
    with attacker, owner:
        for _ in range(policy.free_failures):
            assert _login(attacker, "tier2", "wrong guess!").status_code == 401
        assert _login(attacker, "tier2", "wrong guess!").status_code == 401  # starts the wait
        throttled = _login(attacker, "tier2", PASSWORD)  # even the right password waits
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
        assert "Invalid username or password" not in throttled.text
        # the real user, elsewhere, is not locked out
        assert _login(owner, "tier2", PASSWORD).status_code == 303
        # the wait doubles with each further failure once it has passed
        console.clock.advance(seconds=1)
        assert _login(attacker, "tier2", "still wrong!").status_code == 401
        assert int(_login(attacker, "tier2", PASSWORD).headers["Retry-After"]) == 2
        console.clock.advance(seconds=2)
        assert _login(attacker, "tier2", PASSWORD).status_code == 303  # success resets the pair
    with console.database.session() as session:
        failed = [e for e in entries(session, actions=("auth.login_failed",))]
        throttled_entries = [e for e in entries(session, actions=("auth.login_throttled",))]
    assert len(failed) == policy.free_failures + 2 and len(throttled_entries) == 2
    assert all("password" not in str(e.after).lower() for e in failed)


def test_sessions_end_after_idle_and_absolute_timeouts_and_at_logout(console: Console) -> None:
    policy = console.app.state.console.config.policy
    http = console.http
    assert _login(http, "tier3", PASSWORD).status_code == 303
    console.clock.advance(seconds=policy.idle.total_seconds() - 60)
    assert http.get("/queues").status_code == 200  # activity resets the idle clock
    console.clock.advance(seconds=policy.idle.total_seconds() - 60)
    assert http.get("/queues").status_code == 200
    console.clock.advance(seconds=policy.idle.total_seconds())
    expired = http.get("/queues")
    assert expired.status_code == 302 and expired.headers["location"].startswith("/login")
    assert http.get("/api/v1/incidents").status_code == 401

    http.cookies.clear()
    assert _login(http, "tier3", PASSWORD).status_code == 303
    steps = int(policy.absolute / (policy.idle / 2)) + 1
    statuses = []
    for _ in range(steps):  # never idle, still ends at the absolute limit
        console.clock.advance(seconds=policy.idle.total_seconds() / 2)
        statuses.append(http.get("/queues").status_code)
    assert statuses[0] == 200 and statuses[-1] == 302
    assert statuses.index(302) == int(policy.absolute / (policy.idle / 2)) - 1

    http.cookies.clear()
    assert _login(http, "tier3", PASSWORD).status_code == 303
    cookie = http.cookies.get(SESSION_COOKIE)
    assert http.post("/logout", data={"csrf_token": _csrf(http, "/queues")}).status_code == 303
    http.cookies.set(SESSION_COOKIE, cookie)  # a copied cookie is dead too
    assert http.get("/queues").status_code == 302
    with console.database.session() as session:
        reasons = [e.after.get("reason") for e in entries(session, actions=("auth.session_expired",))]
        logouts = list(entries(session, actions=("auth.logout",)))
    assert reasons == ["idle_timeout", "absolute_timeout"] and len(logouts) == 1


def test_security_headers_on_every_response(console: Console) -> None:
    http = console.http
    for path in ("/login", "/health", "/api/v1/incidents", "/static/console.css", "/queues"):
        response = http.get(path, headers={"Accept": "text/html"})
        assert response.headers["Content-Security-Policy"] == CONSOLE_CSP, path
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        if not path.startswith("/static/"):
            assert response.headers["Cache-Control"] == "no-store", path
    assert "'unsafe-inline'" not in CONSOLE_CSP and "http" not in CONSOLE_CSP
    assert "frame-ancestors 'none'" in CONSOLE_CSP
    # no inline script anywhere in the console's pages
    assert _login(http, "admin", PASSWORD).status_code == 303
    for path in ("/queues", "/metrics", "/overview", f"/incidents/{console.incident()}"):
        html = http.get(path).text
        assert re.findall(r"<script(?![^>]*\bsrc=)", html) == [], path
        assert " on" + "click=" not in html and "style=" not in html, path


def test_elasticsearch_clients_keep_the_cluster_info_on_get_root(console: Console) -> None:
    http = console.http
    browser = http.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 302 and browser.headers["location"] == "/login"
    client = http.get("/", headers={"Accept": "text/html", "x-elastic-client-meta": "es=8.19"})
    assert client.status_code == 401 and client.headers["content-type"].startswith("application/json")


def test_setup_and_set_password_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from watchfloor.cases import open_database
    from watchfloor.cases.passwords import check_password
    from watchfloor.cli import main

    data_dir = str(tmp_path / "cli")
    main(["--data-dir", data_dir, "setup", "--admin", "boss"])
    printed = capsys.readouterr().out
    found = re.search(r"one-time password: (\S+)", printed)
    assert found is not None and len(found.group(1)) >= 20
    with pytest.raises(SystemExit) as again:  # once only: no reset through setup
        main(["--data-dir", data_dir, "setup"])
    assert again.value.code != 0 and "already exists" in capsys.readouterr().err
    main(["--data-dir", data_dir, "users", "add", "ana", "--role", "tier1", "--as", "boss"])
    main(["--data-dir", data_dir, "users", "set-password", "ana", "--as", "boss"])
    ana_otp = re.search(r"one-time password for ana: (\S+)", capsys.readouterr().out)
    assert ana_otp is not None
    with pytest.raises(SystemExit) as refused:  # only an admin sets passwords
        main(["--data-dir", data_dir, "users", "set-password", "boss", "--as", "ana"])
    assert refused.value.code != 0
    database = open_database(None, Path(data_dir))
    with database.session() as session:
        users = {u.username: u for u in session.query(User)}
        assert users["boss"].must_change_password and users["ana"].must_change_password
        assert check_password(users["boss"].password_hash, found.group(1))
        assert check_password(users["ana"].password_hash, ana_otp.group(1))
        assert users["ana"].password_hash.startswith("$argon2id$")
        assert found.group(1) not in str([e.as_dict() for e in entries(session)])
    database.close()


def test_background_refresh_does_not_keep_a_session_alive(console: Console) -> None:
    idle = console.app.state.console.config.policy.idle.total_seconds()
    http = console.http
    assert _login(http, "tier1", PASSWORD).status_code == 303
    console.clock.advance(seconds=idle - 30)
    assert http.get("/console/api/queue").status_code == 200  # the queue page polling
    console.clock.advance(seconds=60)
    assert http.get("/console/api/queue").status_code == 401  # the person was away too long
    assert http.get("/queues").headers["location"].startswith("/login")


def test_changing_a_password_ends_the_other_sessions(console: Console) -> None:
    first, second = console.http, httpx.Client(base_url=console.url, timeout=30)
    with second:
        assert _login(first, "tier2", PASSWORD).status_code == 303
        assert _login(second, "tier2", PASSWORD).status_code == 303
        new = "tier two rotated passphrase"
        form = {"csrf_token": _csrf(first), "current": PASSWORD, "new": new, "confirm": new}
        assert first.post("/password", data=form).status_code == 303
        assert first.get("/queues").status_code == 200  # the session that changed it goes on
        assert second.get("/queues").status_code == 302  # the other one is over


def test_admin_creates_a_user_whose_one_time_password_works_once(console: Console) -> None:
    http = console.http
    assert _login(http, "admin", PASSWORD).status_code == 303
    csrf = _csrf(http, "/admin/users")
    created = http.post("/admin/users", data={"csrf_token": csrf, "username": "nia", "role": "tier2"})
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    one_time = re.search(r"One-time password for <b>nia</b>: <code>([^<]+)</code>", created.text)
    assert one_time is not None
    with httpx.Client(base_url=console.url, timeout=30) as nia:
        landed = _login(nia, "nia", one_time.group(1))
        assert landed.headers["location"] == "/password"
        reset = http.post("/admin/users/nia/password", data={"csrf_token": csrf})
        assert reset.status_code == 200 and "One-time password for <b>nia</b>" in reset.text
        assert nia.get("/password").status_code == 302  # the reset ended nia's session
        assert _login(nia, "nia", one_time.group(1)).status_code == 401
