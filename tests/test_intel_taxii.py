"""TAXII 2.1 end to end: medallion (the OASIS reference server) on loopback, polled with `added_after`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchfloor.intel import FeedInfo, IntelStore, credentials_for, pull_feed

pytestmark = pytest.mark.network

COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
USER, PASSWORD = "reader", "a-test-secret-not-logged"


def _indicator(n: int, pattern: str) -> dict[str, object]:
    stamp = f"2026-05-0{n}T00:00:00.000Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": stamp,
        "modified": stamp,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": stamp,
        "confidence": 70,
    }


@pytest.fixture(scope="module")
def taxii(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    medallion = pytest.importorskip("medallion")
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, medallion.application_instance, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    data = {
        "/discovery": {"title": "test", "default": f"{base}/api1/", "api_roots": [f"{base}/api1/"]},
        "api1": {
            "information": {
                "title": "api1",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 10_000_000,
            },
            "status": [],
            "collections": [
                {
                    "id": COLLECTION,
                    "title": "indicators",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    seed = tmp_path_factory.mktemp("taxii") / "data.json"
    seed.write_text(json.dumps(data), encoding="utf-8")
    config = {
        "users": {USER: PASSWORD},
        "taxii": {"max_page_size": 2},  # small pages: the client must follow `next`
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(seed),
        },
    }
    for part in ("users", "taxii", "backend"):
        medallion.set_config(medallion.application_instance, part, config)
    medallion.register_blueprints(medallion.application_instance)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{base}/api1/"
    finally:
        server.shutdown()


def _publish(api_root: str, objects: list[dict[str, object]]) -> None:
    from taxii2client.v21 import Collection

    collection = Collection(f"{api_root}collections/{COLLECTION}/", user=USER, password=PASSWORD)
    bundle = {"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000099", "objects": objects}
    status = collection.add_objects(json.dumps(bundle))
    assert status.success_count == len(objects)


def test_taxii_pull_then_incremental_pull(
    taxii: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    _publish(
        taxii,
        [
            _indicator(1, "[ipv4-addr:value = '198.51.100.7']"),
            _indicator(
                2, "[domain-name:value = 'c2.example.net'] OR [url:value = 'http://c2.example.net/a']"
            ),
            _indicator(3, "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '5.6.7.8']"),
        ],
    )
    store = IntelStore(tmp_path / "intel")
    store.add_feed(FeedInfo(name="ref", kind="taxii", location=taxii, collection=COLLECTION))
    creds = credentials_for(
        {"intel": {"credentials": {"ref": {"username": USER, "password": PASSWORD}}}}, "ref"
    )
    assert creds is not None and PASSWORD not in repr(creds)

    first = pull_feed(store, store.feed("ref"), creds)
    assert first.error is None, first.error
    assert first.stored == 3 and len(first.parsed.unsupported) == 1
    assert "FOLLOWEDBY" in first.parsed.unsupported[0].reason
    feed = store.feed("ref")
    assert feed.cursor and feed.indicators == 3

    time.sleep(0.05)  # the server stamps date_added per request
    _publish(taxii, [_indicator(4, "[file:hashes.'SHA-256' = '" + "ab" * 32 + "']")])
    second = pull_feed(store, store.feed("ref"), creds)
    assert second.error is None
    assert [i.value for i in second.parsed.indicators] == ["ab" * 32]  # only what was added since
    assert store.feed("ref").indicators == 4

    wrong = pull_feed(store, store.feed("ref"), None)  # no credentials: the server refuses
    assert wrong.error and "401" in wrong.error
    assert store.feed("ref").last_error == wrong.error
    assert PASSWORD not in capfd.readouterr().err


def test_taxii_feed_through_the_cli(taxii: str, tmp_path: Path) -> None:
    from watchfloor.cli.app import cli

    data = tmp_path / "wf"
    data.mkdir()
    (data / "watchfloor.toml").write_text(
        f'[intel.credentials.ref]\nusername = "{USER}"\npassword = "{PASSWORD}"\n', encoding="utf-8"
    )
    runner = CliRunner()
    args = ["--data-dir", str(data), "intel"]
    added = runner.invoke(
        cli, [*args, "add-feed", "--name", "ref", "--kind", "taxii", "--collection", COLLECTION, taxii]
    )
    assert added.exit_code == 0, added.output
    pulled = runner.invoke(cli, [*args, "pull", "--json"])
    assert pulled.exit_code == 0, pulled.output
    assert json.loads(pulled.stdout)[0]["indicators"] >= 3
    assert PASSWORD not in pulled.output + pulled.stderr
    listed = json.loads(runner.invoke(cli, [*args, "list", "--json"]).stdout)
    assert listed[0]["name"] == "ref" and listed[0]["last_error"] is None
    found = json.loads(runner.invoke(cli, [*args, "search", "C2.example.net", "--json"]).stdout)
    assert [(r["type"], r["feed"]) for r in found] == [("domain", "ref")]
