"""The `_bulk` listener end to end: the real Elasticsearch and OpenSearch clients write, the store reads."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from elasticsearch import Elasticsearch
from elasticsearch import helpers as es_helpers
from opensearchpy import OpenSearch
from opensearchpy import helpers as os_helpers

from tests.in_thread_server import RefusingAcknowledger, serve
from watchfloor.events import Envelope, EventBatch
from watchfloor.ingest import MemoryAcknowledger
from watchfloor.ingest.listeners.bulk import BULK_DECODER, BULK_MAPPING, bulk_app, parse_bulk
from watchfloor.schema import MappingRegistry, add_core
from watchfloor.store import DuckDBEventStore

pytestmark = pytest.mark.network

TOKEN = "s3cret-bulk-token"


def _docs(n: int, index: str = "logs-test") -> Iterator[dict[str, object]]:
    for i in range(n):
        yield {
            "_index": index,
            "_id": f"doc-{i}",
            "_source": {
                "@timestamp": f"2024-06-01T10:{i // 60 % 60:02d}:{i % 60:02d}.123Z",
                "host": {"name": f"web-{i % 4}"},
                "user": {"name": f"alice{i % 3}"},
                "source": {"ip": "10.0.0.7", "port": 50000 + i},
                "event": {"action": "user-login", "outcome": "success"},
                "log": {"level": "warning" if i % 10 == 0 else "info"},
                "message": f"login number {i}",
                "seq": i,
            },
        }


def _store(envelopes: Sequence[Envelope], root: Path) -> DuckDBEventStore:
    registry = MappingRegistry()
    registry.register(BULK_MAPPING)
    store = DuckDBEventStore(root / "events")
    for item in BULK_DECODER.decode(envelopes, "spool-0001"):
        assert isinstance(item, EventBatch), item
        store.append(add_core(item, registry, origin="spool-0001"))
    return store


def test_elasticsearch_client_bulk_helper_stores_every_document(tmp_path: Path) -> None:
    acknowledger = MemoryAcknowledger()
    with serve(bulk_app(acknowledger, [TOKEN])) as url:
        client = Elasticsearch(url, api_key=("key-id", TOKEN), request_timeout=30)
        info = client.info()
        assert info["version"]["number"].startswith("8.")
        assert info["tagline"] == "You Know, for Search"
        ok, errors = es_helpers.bulk(client, _docs(1000), chunk_size=300)
        client.close()
    assert (ok, errors) == (1000, [])
    assert len(acknowledger.envelopes) == 1000
    assert {e.channel for e in acknowledger.envelopes} == {"bulk"}
    assert acknowledger.envelopes[5].meta["index"] == "logs-test"
    assert acknowledger.envelopes[5].meta["id"] == "doc-5"

    store = _store(acknowledger.envelopes, tmp_path)
    assert store.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 1000}]
    row = store.query(
        'SELECT "_index", "_id", "host.name", seq, time, device_hostname, actor_user_name, '
        "src_endpoint_port, activity_name, status, severity_id FROM events e JOIN bulk b "
        "ON e.metadata_uid = b.ocsf.metadata_uid WHERE seq = '61'"
    ).to_pylist()[0]
    assert row["_index"] == "logs-test" and row["_id"] == "doc-61" and row["host.name"] == "web-1"
    assert row["time"].isoformat() == "2024-06-01T10:01:01.123000+00:00"
    assert row["device_hostname"] == "web-1" and row["actor_user_name"] == "alice1"
    assert row["src_endpoint_port"] == 50061 and row["activity_name"] == "user-login"
    assert row["status"] == "success" and row["severity_id"] == 1
    warnings = store.query("SELECT count(*) AS n FROM events WHERE severity_id = 3").to_pylist()
    assert warnings == [{"n": 100}]


def test_opensearch_client_bulk_helper_stores_every_document(tmp_path: Path) -> None:
    acknowledger = MemoryAcknowledger()
    with serve(bulk_app(acknowledger, [TOKEN])) as url:
        host, port = url.removeprefix("http://").split(":")
        client = OpenSearch(hosts=[{"host": host, "port": int(port)}], http_auth=("shipper", TOKEN))
        ok, errors = os_helpers.bulk(client, _docs(1000, index="os-logs"), chunk_size=250)
        client.close()
    assert (ok, errors) == (1000, [])
    store = _store(acknowledger.envelopes, tmp_path)
    rows = store.query('SELECT "_index", count(*) AS n FROM bulk GROUP BY 1').to_pylist()
    assert rows == [{"_index": "os-logs", "n": 1000}]


def test_every_response_names_the_product_and_auth_failures_use_elastic_shape() -> None:
    acknowledger = MemoryAcknowledger()
    body = b'{"index":{"_index":"a"}}\n{"x":1}\n'
    with serve(bulk_app(acknowledger, [TOKEN])) as url:
        missing = httpx.post(f"{url}/_bulk", content=body)
        wrong = httpx.post(f"{url}/_bulk", content=body, headers={"Authorization": "Bearer nope"})
        basic = base64.b64encode(f"elastic:{TOKEN}".encode()).decode()
        good = httpx.post(f"{url}/_bulk", content=body, headers={"Authorization": f"Basic {basic}"})
        bearer = httpx.get(f"{url}/_cluster/health", headers={"Authorization": f"Bearer {TOKEN}"})
        raw_key = httpx.head(f"{url}/", headers={"Authorization": f"ApiKey {TOKEN}"})
        probe = httpx.put(f"{url}/my-index", headers={"Authorization": f"Bearer {TOKEN}"})
        bad_index = httpx.put(f"{url}/Bad*Index", headers={"Authorization": f"Bearer {TOKEN}"})
    with serve(bulk_app(MemoryAcknowledger(), [])) as url:
        unconfigured = httpx.post(f"{url}/_bulk", content=body, headers={"Authorization": "Bearer x"})
    for response in (missing, wrong, unconfigured):
        assert response.status_code == 401
        assert response.headers["X-Elastic-Product"] == "Elasticsearch"
        assert "WWW-Authenticate" in response.headers
        error = response.json()
        assert error["status"] == 401 and error["error"]["type"] == "security_exception"
        assert error["error"]["root_cause"][0]["type"] == "security_exception"
    assert "missing authentication credentials" in missing.json()["error"]["reason"]
    assert "no tokens configured" in unconfigured.json()["error"]["reason"]
    assert good.status_code == 200 and good.json()["items"][0]["index"]["status"] == 201
    assert bearer.json()["status"] == "green"
    assert raw_key.status_code == 200 and raw_key.headers["X-Elastic-Product"] == "Elasticsearch"
    assert probe.json() == {"acknowledged": True, "shards_acknowledged": True, "index": "my-index"}
    assert bad_index.status_code == 400
    assert bad_index.json()["error"]["type"] == "invalid_index_name_exception"
    assert len(acknowledger.envelopes) == 1


def test_bad_items_fail_alone_and_the_rest_are_stored(tmp_path: Path) -> None:
    acknowledger = MemoryAcknowledger()
    lines = [
        '{"index":{"_id":"1"}}',
        '{"@timestamp":"2024-06-01T00:00:00Z","msg":"first"}',
        '{"create":{"_index":"other"}}',
        '{"msg": "broken", ',
        '{"delete":{"_id":"1"}}',
        '{"update":{"_id":"1"}}',
        '{"doc":{"msg":"changed"}}',
        '{"index":{}}',
        '["not", "an", "object"]',
        '{"create":{"_index":"_hidden"}}',
        '{"msg":"bad index"}',
        '{"index":{"_index":"other"}}',
        '{"msg":"last","_id":"inside"}',
        '{"index":{"_index":"other"}}',
        '{"msg":"third", "nested": {"a": [1, 2]}}',
    ]
    payload = ("\n".join(lines) + "\n").encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    with serve(bulk_app(acknowledger, [TOKEN])) as url:
        response = httpx.post(f"{url}/logs-a/_bulk", content=payload, headers=headers)
        broken = httpx.post(f"{url}/_bulk", content=b'{"index":\n{"a":1}\n', headers=headers)
        unknown = httpx.post(f"{url}/_bulk", content=b'{"upsert":{}}\n{"a":1}\n', headers=headers)
        no_index = httpx.post(f"{url}/_bulk", content=b'{"index":{}}\n{"a":1}\n', headers=headers)
    assert response.status_code == 200
    result = response.json()
    assert result["errors"] is True
    statuses = [
        (op, item["status"], item.get("error", {}).get("type"))
        for i in result["items"]
        for op, item in i.items()
    ]
    assert statuses == [
        ("index", 201, None),
        ("create", 400, "mapper_parsing_exception"),
        ("delete", 400, "illegal_argument_exception"),
        ("update", 400, "illegal_argument_exception"),
        ("index", 400, "mapper_parsing_exception"),
        ("create", 400, "invalid_index_name_exception"),
        ("index", 400, "mapper_parsing_exception"),
        ("index", 201, None),
    ]
    first, last = result["items"][0]["index"], result["items"][-1]["index"]
    assert (first["_index"], first["_id"], first["result"]) == ("logs-a", "1", "created")
    assert last["_index"] == "other" and len(last["_id"]) == 20
    assert last["_seq_no"] == first["_seq_no"] + 1
    assert "append-only" in result["items"][2]["delete"]["error"]["reason"]
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "x_content_parse_exception"
    assert unknown.status_code == 400 and unknown.json()["error"]["type"] == "illegal_argument_exception"
    assert broken.headers["X-Elastic-Product"] == "Elasticsearch"
    assert no_index.json()["items"][0]["index"]["error"]["type"] == "action_request_validation_exception"

    assert len(acknowledger.envelopes) == 2
    store = _store(acknowledger.envelopes, tmp_path)
    rows = store.query('SELECT "_index", "_id", msg, "nested.a" FROM bulk ORDER BY msg').to_pylist()
    assert rows == [
        {"_index": "logs-a", "_id": "1", "msg": "first", "nested.a": None},
        {"_index": "other", "_id": last["_id"], "msg": "third", "nested.a": "[1,2]"},
    ]


def test_overload_answers_429_and_the_bulk_helper_retries_until_stored(tmp_path: Path) -> None:
    acknowledger = RefusingAcknowledger(refusals=3)
    with serve(bulk_app(acknowledger, [TOKEN])) as url:
        raw = httpx.post(
            f"{url}/_bulk",
            content=b'{"index":{"_index":"a"}}\n{"x":1}\n',
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        client = Elasticsearch(url, api_key=TOKEN, max_retries=0, retry_on_status=())
        ok, errors = es_helpers.bulk(client, _docs(200), chunk_size=100, max_retries=5, initial_backoff=0.05)
        client.close()
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "1"
    assert raw.json()["error"]["type"] == "es_rejected_execution_exception"
    assert (ok, errors) == (200, [])
    assert acknowledger.calls == 2 + 3 and len(acknowledger.envelopes) == 200
    store = _store(acknowledger.envelopes, tmp_path)
    assert store.query('SELECT count(DISTINCT "_id") AS n FROM bulk').to_pylist() == [{"n": 200}]


def test_capacity_limit_refuses_whole_requests_without_partial_writes() -> None:
    acknowledger = MemoryAcknowledger(capacity=150)
    with serve(bulk_app(acknowledger, [TOKEN])) as url:
        client = Elasticsearch(url, api_key=TOKEN, max_retries=0, retry_on_status=())
        ok, _ = es_helpers.bulk(client, _docs(100), chunk_size=100)
        with pytest.raises(Exception, match="429"):
            es_helpers.bulk(client, _docs(100), chunk_size=100)
        client.close()
    assert ok == 100 and len(acknowledger.envelopes) == 100


def test_probe_endpoints_answer_like_elasticsearch() -> None:
    with serve(bulk_app(MemoryAcknowledger(), [TOKEN])) as url:
        client = Elasticsearch(url, api_key=TOKEN)
        assert client.ping()
        assert client.license.get()["license"]["status"] == "active"
        assert client.xpack.info()["license"]["type"] == "basic"
        assert client.cluster.health()["status"] == "green"
        nodes = client.nodes.info(metric="http")["nodes"]
        assert [n["http"]["publish_address"] for n in nodes.values()] == [url.removeprefix("http://")]
        assert client.indices.exists(index="logs-x")
        assert client.indices.create(index="logs-x")["acknowledged"] is True
        client.close()


def test_gzip_bodies_are_inflated() -> None:
    import gzip

    acknowledger = MemoryAcknowledger()
    body = gzip.compress(b'{"index":{"_index":"z"}}\n{"k":"v"}\n')
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Encoding": "gzip"}
    with serve(bulk_app(acknowledger, [TOKEN])) as url:
        response = httpx.put(f"{url}/_bulk", content=body, headers=headers)
    assert response.json()["errors"] is False
    assert acknowledger.envelopes[0].body == '{"k":"v"}'


def test_parse_bulk_pairs_actions_with_documents() -> None:
    items = parse_bulk(b'{"index":{"_index":"a","_id":7}}\n{"k":1}\n{"delete":{"_index":"a","_id":"7"}}\n')
    assert [(i.action, i.index, i.id, i.document) for i in items] == [
        ("index", "a", "7", '{"k":1}'),
        ("delete", "a", "7", None),
    ]
