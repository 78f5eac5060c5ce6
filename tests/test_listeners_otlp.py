"""The OTLP/HTTP logs listener end to end: the OpenTelemetry SDK and plain HTTP write, the store reads."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import httpx
import orjson
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from tests.in_thread_server import RefusingAcknowledger, serve
from watchfloor.events import Envelope, EventBatch
from watchfloor.ingest import MemoryAcknowledger
from watchfloor.ingest.listeners.otlp import OTLP_DECODER, OTLP_MAPPING, decode_export_request, otlp_app
from watchfloor.schema import MappingRegistry, add_core
from watchfloor.store import DuckDBEventStore

pytestmark = pytest.mark.network

TOKEN = "otlp-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def _store(envelopes: Sequence[Envelope], root: Path) -> DuckDBEventStore:
    registry = MappingRegistry()
    registry.register(OTLP_MAPPING)
    store = DuckDBEventStore(root / "events")
    for item in OTLP_DECODER.decode(envelopes, "spool-0001"):
        assert isinstance(item, EventBatch), item
        store.append(add_core(item, registry, origin="spool-0001"))
    return store


def _send_with_sdk(url: str, count: int, compression: Compression = Compression.NoCompression) -> None:
    exporter = OTLPLogExporter(endpoint=f"{url}/v1/logs", headers=AUTH, compression=compression, timeout=10)
    resource = Resource.create(
        {"service.name": "checkout", "host.name": "app-01", "deployment.environment": "prod"}
    )
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=256))
    logger = provider.get_logger("payments.audit", "2.1.0")
    severities = [
        (SeverityNumber.INFO, "INFO"),
        (SeverityNumber.WARN, "WARN"),
        (SeverityNumber.ERROR, "ERROR"),
        (SeverityNumber.FATAL, "FATAL"),
    ]
    for i in range(count):
        number, text = severities[i % 4]
        logger.emit(
            timestamp=1_717_236_000_000_000_000 + i * 1_000_000_000,
            severity_number=number,
            severity_text=text,
            body=f"payment {i} processed",
            attributes={"enduser.id": f"user{i % 7}", "order.id": i, "amount": 12.5, "retry": i % 2 == 0},
        )
    assert provider.force_flush(20_000)
    provider.shutdown()


def test_sdk_exporter_records_are_all_stored_with_attributes(tmp_path: Path) -> None:
    acknowledger = MemoryAcknowledger()
    with serve(otlp_app(acknowledger, [TOKEN])) as url:
        _send_with_sdk(url, 1000)
    assert len(acknowledger.envelopes) == 1000
    assert {e.channel for e in acknowledger.envelopes} == {"otlp"}

    store = _store(acknowledger.envelopes, tmp_path)
    assert store.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 1000}]
    row = store.query(
        'SELECT "resource.attributes.service.name" AS service, "scope.name" AS scope, "scope.version" AS v, '
        '"attributes.enduser.id" AS enduser, "attributes.order.id" AS order_id, '
        '"attributes.amount" AS amount, "attributes.retry" AS retry, body, severity_number, severity_text, '
        "time_unix_nano "
        "FROM otlp WHERE \"attributes.order.id\" = '42'"
    ).to_pylist()
    assert row == [
        {
            "service": "checkout",
            "scope": "payments.audit",
            "v": "2.1.0",
            "enduser": "user0",
            "order_id": "42",
            "amount": "12.5",
            "retry": "true",
            "body": "payment 42 processed",
            "severity_number": "17",
            "severity_text": "ERROR",
            "time_unix_nano": "1717236042000000000",
        }
    ]
    core = store.query(
        "SELECT time, severity_id, severity, device_hostname, actor_user_name, metadata_product_name "
        "FROM events WHERE raw_data LIKE '%payment 43 processed%'"
    ).to_pylist()[0]
    assert core["time"].isoformat() == "2024-06-01T10:00:43+00:00"
    assert (core["severity_id"], core["severity"]) == (6, "Fatal")
    assert core["device_hostname"] == "app-01" and core["actor_user_name"] == "user1"
    assert core["metadata_product_name"] == "OpenTelemetry"
    by_severity = store.query(
        "SELECT severity_id, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert by_severity == [
        {"severity_id": 1, "n": 250},
        {"severity_id": 3, "n": 250},
        {"severity_id": 4, "n": 250},
        {"severity_id": 6, "n": 250},
    ]


def test_sdk_exporter_with_gzip_and_retry_after_overload(tmp_path: Path) -> None:
    acknowledger = RefusingAcknowledger(refusals=1)
    with serve(otlp_app(acknowledger, [TOKEN])) as url:
        _send_with_sdk(url, 50, Compression.Gzip)
    assert acknowledger.calls == 2
    assert len(acknowledger.envelopes) == 50
    store = _store(acknowledger.envelopes, tmp_path)
    assert store.query("SELECT count(DISTINCT body) AS n FROM otlp").to_pylist() == [{"n": 50}]


def _json_request() -> dict[str, object]:
    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "sshd-shipper"}},
                        {"key": "host.name", "value": {"stringValue": "bastion-2"}},
                        {"key": "process.pid", "value": {"intValue": "812"}},
                    ]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "auth", "version": "1"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1717236000123456789",
                                "observedTimeUnixNano": "1717236001000000000",
                                "severityNumber": 13,
                                "severityText": "Warning",
                                "body": {"stringValue": "Failed password for root"},
                                "attributes": [
                                    {"key": "enduser.id", "value": {"stringValue": "root"}},
                                    {"key": "client.address", "value": {"stringValue": "203.0.113.9"}},
                                    {"key": "client.port", "value": {"intValue": "52144"}},
                                    {"key": "ok", "value": {"boolValue": False}},
                                    {
                                        "key": "tags",
                                        "value": {
                                            "arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 2}]}
                                        },
                                    },
                                    {
                                        "key": "http",
                                        "value": {
                                            "kvlistValue": {
                                                "values": [{"key": "method", "value": {"stringValue": "GET"}}]
                                            }
                                        },
                                    },
                                ],
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                                "flags": 1,
                                "someFutureField": {"ignored": True},
                            },
                            {
                                "observedTimeUnixNano": "1717236002000000000",
                                "severityText": "error",
                                "body": {
                                    "kvlistValue": {"values": [{"key": "msg", "value": {"stringValue": "x"}}]}
                                },
                            },
                        ],
                    }
                ],
            }
        ]
    }


def test_otlp_json_over_plain_http(tmp_path: Path) -> None:
    acknowledger = MemoryAcknowledger()
    headers = {**AUTH, "Content-Type": "application/json"}
    with serve(otlp_app(acknowledger, [TOKEN])) as url:
        response = httpx.post(f"{url}/v1/logs", content=orjson.dumps(_json_request()), headers=headers)
        gzipped = httpx.post(
            f"{url}/v1/logs",
            content=gzip.compress(orjson.dumps(_json_request())),
            headers={**headers, "Content-Encoding": "gzip"},
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    assert gzipped.status_code == 200 and len(acknowledger.envelopes) == 4

    store = _store(acknowledger.envelopes[:2], tmp_path)
    rows = store.query(
        'SELECT "trace_id", "span_id", flags, "attributes.ok" AS ok, "attributes.tags" AS tags, '
        '"attributes.http.method" AS method, "resource.attributes.process.pid" AS pid, '
        '"body.msg" AS body_msg, body, severity_number FROM otlp ORDER BY ocsf.time'
    ).to_pylist()
    assert rows[0] == {
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "flags": "1",
        "ok": "false",
        "tags": '["a",2]',
        "method": "GET",
        "pid": "812",
        "body_msg": None,
        "body": "Failed password for root",
        "severity_number": "13",
    }
    assert rows[1]["body_msg"] == "x" and rows[1]["trace_id"] is None
    core = store.query(
        "SELECT time, severity_id, actor_user_name, src_endpoint_ip, src_endpoint_port, device_hostname, "
        "process_pid FROM events ORDER BY time"
    ).to_pylist()
    assert core[0]["time"].isoformat() == "2024-06-01T10:00:00.123457+00:00"
    assert core[0]["severity_id"] == 3 and core[0]["actor_user_name"] == "root"
    assert (core[0]["src_endpoint_ip"], core[0]["src_endpoint_port"]) == ("203.0.113.9", 52144)
    assert core[0]["device_hostname"] == "bastion-2" and core[0]["process_pid"] == 812
    # No event time: the observed time is used; no severity number: the text is.
    assert core[1]["time"].isoformat() == "2024-06-01T10:00:02+00:00" and core[1]["severity_id"] == 4


def test_auth_failures_and_bad_requests_answer_a_status_in_the_request_encoding() -> None:
    body = ExportLogsServiceRequest().SerializeToString()
    proto = {"Content-Type": "application/x-protobuf"}
    with serve(otlp_app(MemoryAcknowledger(), [TOKEN])) as url:
        missing = httpx.post(f"{url}/v1/logs", content=body, headers=proto)
        wrong = httpx.post(f"{url}/v1/logs", content=body, headers={**proto, "Authorization": "Bearer no"})
        wrong_json = httpx.post(
            f"{url}/v1/logs",
            content=b"{}",
            headers={"Content-Type": "application/json", "Authorization": "Bearer no"},
        )
        garbage = httpx.post(f"{url}/v1/logs", content=b"\xff\xff\xff", headers={**proto, **AUTH})
        bad_hex = orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]})
        bad_json = httpx.post(
            f"{url}/v1/logs", content=bad_hex, headers={"Content-Type": "application/json", **AUTH}
        )
        text = httpx.post(f"{url}/v1/logs", content=b"hi", headers={"Content-Type": "text/plain", **AUTH})
        empty = httpx.post(f"{url}/v1/logs", content=body, headers={**proto, **AUTH})
    with serve(otlp_app(MemoryAcknowledger(), [])) as url:
        unconfigured = httpx.post(f"{url}/v1/logs", content=body, headers={**proto, **AUTH})
    assert missing.status_code == 401 and "WWW-Authenticate" in missing.headers
    assert missing.headers["content-type"] == "application/x-protobuf"
    assert b"Bearer" in missing.content and missing.content[:2] == b"\x08\x10"  # Status{code: 16, ...}
    assert wrong.status_code == 403 and wrong.content[:2] == b"\x08\x07"
    assert wrong_json.status_code == 403 and wrong_json.json() == {"code": 7, "message": "invalid OTLP token"}
    assert unconfigured.status_code == 401 and b"no OTLP tokens" in unconfigured.content
    assert garbage.status_code == 400 and garbage.content[:2] == b"\x08\x03"
    assert bad_json.status_code == 400 and "not hex" in bad_json.json()["message"]
    assert text.status_code == 415
    assert empty.status_code == 200 and ExportLogsServiceResponse.FromString(empty.content).ByteSize() == 0


def test_overload_answers_429_with_retry_after_in_both_encodings() -> None:
    acknowledger = MemoryAcknowledger(capacity=1)
    payload = orjson.dumps(_json_request())
    with serve(otlp_app(acknowledger, [TOKEN])) as url:
        refused = httpx.post(
            f"{url}/v1/logs", content=payload, headers={**AUTH, "Content-Type": "application/json"}
        )
        request = decode_export_request(payload, "application/json")
        refused_proto = httpx.post(
            f"{url}/v1/logs",
            content=request.SerializeToString(),
            headers={**AUTH, "Content-Type": "application/x-protobuf"},
        )
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.json() == {"code": 8, "message": "memory acknowledger full"}
    assert refused_proto.status_code == 429 and refused_proto.headers["Retry-After"] == "1"
    assert acknowledger.envelopes == []


def test_oversized_records_are_rejected_through_partial_success() -> None:
    acknowledger = MemoryAcknowledger()
    request = decode_export_request(orjson.dumps(_json_request()), "application/json")
    records = request.resource_logs[0].scope_logs[0].log_records
    records[1].body.string_value = "x" * 5000
    with serve(otlp_app(acknowledger, [TOKEN], max_record_bytes=4000)) as url:
        response = httpx.post(
            f"{url}/v1/logs",
            content=request.SerializeToString(),
            headers={**AUTH, "Content-Type": "application/x-protobuf"},
        )
        as_json = httpx.post(
            f"{url}/v1/logs",
            content=orjson.dumps(
                {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "y" * 5000}}]}]}]}
            ),
            headers={**AUTH, "Content-Type": "application/json"},
        )
    assert response.status_code == 200
    partial = ExportLogsServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_log_records == 1 and "larger than 4000 bytes" in partial.error_message
    assert as_json.json()["partialSuccess"]["rejectedLogRecords"] == "1"
    assert len(acknowledger.envelopes) == 1
