"""Hunting over the API: same answers as the CLI, read-only, and never without a token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import corpus
from tests.live_server import start_server, write_config
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

TOKEN = "hunt-test-token"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hunt") / "wf"
    write_config(root, f'api_tokens = ["{TOKEN}"]\n')
    sample = sorted(corpus("evtx-attack-samples").rglob("*.evtx"))[:5]
    ingest_paths(sample, DuckDBEventStore(root / "events"), root / "quarantine")
    return root


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[httpx.Client]:
    server = start_server(data_dir)
    with httpx.Client(base_url=server.url("api"), timeout=30) as http:
        yield http
    server.stop()


def test_hunt_matches_the_store(client: httpx.Client, data_dir: Path) -> None:
    expected = DuckDBEventStore(data_dir / "events").query("SELECT count(*) AS n FROM events")
    response = client.post(
        "/api/v1/hunt",
        json={"sql": "SELECT count(*) AS n FROM events"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200
    assert response.json() == {"columns": ["n"], "rows": expected.to_pylist(), "truncated": False}
    assert expected.to_pylist()[0]["n"] > 0


def test_hunt_limit_and_truncation(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/hunt",
        json={"sql": "SELECT metadata_uid FROM events", "limit": 3},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    body = response.json()
    assert (len(body["rows"]), body["truncated"]) == (3, True)


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 403), ({"Authorization": f"Basic {TOKEN}"}, 401)],
)
def test_hunt_needs_a_valid_token(client: httpx.Client, headers: dict[str, str], status: int) -> None:
    response = client.post("/api/v1/hunt", json={"sql": "SELECT 1"}, headers=headers)
    assert response.status_code == status


def test_hunt_refuses_writes_with_the_store_reason(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/hunt", json={"sql": "DELETE FROM events"}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "only SELECT queries are allowed here (got DELETE)"}


def test_openapi_documents_hunt(client: httpx.Client) -> None:
    assert "/api/v1/hunt" in client.get("/openapi.json").json()["paths"]
