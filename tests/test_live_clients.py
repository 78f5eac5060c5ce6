"""Real clients against a real `watchfloor serve`: Elasticsearch and OpenSearch bulk helpers on the API
port, and the OpenTelemetry SDK's OTLP/HTTP exporter on the OTLP port; every event becomes queryable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch
from elasticsearch import helpers as es_helpers
from opensearchpy import OpenSearch
from opensearchpy import helpers as os_helpers
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from tests.live_server import LiveServer, start_server, wait_for, write_config

TOKEN = "bulk-and-otlp-test-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("live") / "wf"
    write_config(data_dir, f'bulk_tokens = ["{TOKEN}"]\notlp_tokens = ["{TOKEN}"]\n')
    live = start_server(data_dir)
    yield live
    live.stop()


def _count(server: LiveServer, sql: str) -> int:
    rows = server.query(sql)
    return int(rows[0]["n"]) if rows else 0


def test_elasticsearch_bulk_helper(server: LiveServer) -> None:
    client = Elasticsearch(server.url("api"), api_key=TOKEN, request_timeout=30)
    docs = (
        {"_index": "logs-app", "_source": {"@timestamp": "2026-01-02T03:04:05Z", "n": i, "who": "es"}}
        for i in range(1000)
    )
    ok, errors = es_helpers.bulk(client, docs, chunk_size=250)
    assert (ok, errors) == (1000, [])
    sql = "SELECT count(*) AS n FROM bulk WHERE who = 'es'"
    assert wait_for(lambda: _count(server, sql) == 1000, timeout=30)


def test_opensearch_bulk_helper(server: LiveServer) -> None:
    host, port = server.address("api")
    client = OpenSearch(hosts=[{"host": host, "port": port}], http_auth=("watchfloor", TOKEN), timeout=30)
    docs = ({"_index": "os-app", "_source": {"n": i, "who": "os"}} for i in range(1000))
    ok, errors = os_helpers.bulk(client, docs, chunk_size=250)
    assert (ok, errors) == (1000, [])
    sql = "SELECT count(*) AS n FROM bulk WHERE who = 'os'"
    assert wait_for(lambda: _count(server, sql) == 1000, timeout=30)


def test_opentelemetry_sdk_exporter(server: LiveServer) -> None:
    exporter = OTLPLogExporter(
        endpoint=server.url("otlp") + "/v1/logs", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout", "host.name": "app-7"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = provider.get_logger("test")
    for i in range(1000):
        logger.emit(body=f"order {i} paid", attributes={"order.id": i})
    provider.force_flush()
    provider.shutdown()
    sql = "SELECT count(*) AS n FROM events WHERE metadata_log_name = 'otlp' AND device_hostname = 'app-7'"
    assert wait_for(lambda: _count(server, sql) == 1000, timeout=30)
