"""The OTLP/HTTP logs listener: OpenTelemetry SDKs and Collectors export logs to Watchfloor directly.

`POST /v1/logs` takes an `ExportLogsServiceRequest` as binary protobuf (`application/x-protobuf`) or
in the OTLP JSON encoding (`application/json`: lowerCamelCase keys, trace and span ids in hex, 64-bit
integers as strings), optionally gzip-compressed, and answers an `ExportLogsServiceResponse` in the
same encoding. Records too large to keep are rejected through `partial_success`, which the spec tells
senders not to retry; a full spool answers 429 with `Retry-After`, which they do retry. Errors carry
a `google.rpc.Status` body, as the spec asks.

Each LogRecord becomes one `Envelope` whose body is a small JSON document with the record's resource,
scope, times, severity, body, attributes and trace context, named as OpenTelemetry names them, so
that `OTLP_DECODER` (`otlp_decode`) can later decode it without the protobuf classes.
"""

from __future__ import annotations

import base64
import hmac
import math
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from starlette.concurrency import run_in_threadpool

from watchfloor.errors import Overloaded, WatchfloorError
from watchfloor.events import Acknowledger, Envelope
from watchfloor.ingest.listeners.otlp_decode import OTLP_DECODER, OTLP_MAPPING, OtlpDecoder

__all__ = [
    "OTLP_DECODER",
    "OTLP_MAPPING",
    "OtlpDecoder",
    "OtlpError",
    "decode_export_request",
    "log_record_documents",
    "otlp_app",
    "otlp_router",
]

CHANNEL = "otlp"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: Largest request accepted, after decompression (the Collector's default limit is 20 MiB).
MAX_BODY_BYTES = 64 * 1024 * 1024
#: Largest single record kept; bigger ones are rejected through `partial_success`.
MAX_RECORD_BYTES = 1024 * 1024
# google.rpc.Code values used in Status bodies.
_INVALID_ARGUMENT, _PERMISSION_DENIED, _RESOURCE_EXHAUSTED, _UNAUTHENTICATED = 3, 7, 8, 16


class OtlpError(WatchfloorError):
    """A request the listener refuses, answered with `http_status` and a `google.rpc.Status` body."""

    def __init__(
        self, status: int, code: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.http_status = status
        self.code = code
        self.headers = dict(headers or {})


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _status(code: int, message: str, encoding: str) -> bytes:
    """A `google.rpc.Status`; written by hand (two fields) rather than depending on googleapis protos."""
    if encoding == JSON:
        return orjson.dumps({"code": code, "message": message})
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _encoding(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def _children(node: Any, camel: str, snake: str) -> list[Any]:
    """A repeated field of a JSON node under either key spelling; anything malformed is left to protobuf."""
    if not isinstance(node, dict):
        return []
    found = node.get(camel, node.get(snake))
    return found if isinstance(found, list) else []


def _hex_ids_to_base64(doc: Any) -> None:
    """OTLP JSON writes trace and span ids in hex; protobuf's JSON parser expects base64."""
    if not isinstance(doc, dict):
        raise OtlpError(400, _INVALID_ARGUMENT, "the request is not a JSON object")
    for resource_logs in _children(doc, "resourceLogs", "resource_logs"):
        for scope_logs in _children(resource_logs, "scopeLogs", "scope_logs"):
            for record in _children(scope_logs, "logRecords", "log_records"):
                for key in ("traceId", "spanId", "trace_id", "span_id"):
                    value = record.get(key) if isinstance(record, dict) else None
                    if isinstance(value, str) and value:
                        try:
                            record[key] = base64.b64encode(bytes.fromhex(value)).decode()
                        except ValueError:
                            raise OtlpError(400, _INVALID_ARGUMENT, f"{key} {value!r} is not hex") from None


def decode_export_request(payload: bytes, encoding: str) -> ExportLogsServiceRequest:
    """Parse a request body in either OTLP encoding; unknown JSON fields are ignored, as the spec asks."""
    message = ExportLogsServiceRequest()
    try:
        if encoding == PROTOBUF:
            message.ParseFromString(payload)
        else:
            doc = orjson.loads(payload) if payload.strip() else {}
            _hex_ids_to_base64(doc)
            json_format.ParseDict(doc, message, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise OtlpError(400, _INVALID_ARGUMENT, f"cannot parse the request: {exc}") from None
    return message


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def _attributes(items: Sequence[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items}


def _set(doc: dict[str, Any], key: str, value: Any) -> None:
    """Keep only what the sender set: OTLP's zero values mean 'absent'."""
    if value:
        doc[key] = value


def log_record_documents(request: ExportLogsServiceRequest) -> Iterator[dict[str, Any]]:
    """One JSON-ready document per LogRecord, with its resource and scope, in OpenTelemetry's names."""
    for resource_logs in request.resource_logs:
        resource: dict[str, Any] = {}
        _set(resource, "attributes", _attributes(resource_logs.resource.attributes))
        _set(resource, "dropped_attributes_count", resource_logs.resource.dropped_attributes_count)
        _set(resource, "schema_url", resource_logs.schema_url)
        for scope_logs in resource_logs.scope_logs:
            scope: dict[str, Any] = {}
            _set(scope, "name", scope_logs.scope.name)
            _set(scope, "version", scope_logs.scope.version)
            _set(scope, "attributes", _attributes(scope_logs.scope.attributes))
            _set(scope, "schema_url", scope_logs.schema_url)
            for record in scope_logs.log_records:
                doc: dict[str, Any] = {}
                _set(doc, "resource", resource)
                _set(doc, "scope", scope)
                _set(doc, "time_unix_nano", str(record.time_unix_nano) if record.time_unix_nano else "")
                observed = record.observed_time_unix_nano
                _set(doc, "observed_time_unix_nano", str(observed) if observed else "")
                _set(doc, "severity_number", int(record.severity_number))
                _set(doc, "severity_text", record.severity_text)
                if record.HasField("body"):
                    doc["body"] = _value(record.body)
                _set(doc, "attributes", _attributes(record.attributes))
                _set(doc, "dropped_attributes_count", record.dropped_attributes_count)
                _set(doc, "flags", record.flags)
                _set(doc, "trace_id", record.trace_id.hex())
                _set(doc, "span_id", record.span_id.hex())
                _set(doc, "event_name", record.event_name)
                yield doc


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # counted as it arrives: an oversized body is never held whole
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise OtlpError(413, _RESOURCE_EXHAUSTED, f"request larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding in {"gzip", "deflate"}:
        inflater = zlib.decompressobj(wbits=47 if encoding == "gzip" else 15)
        try:
            body = inflater.decompress(body, MAX_BODY_BYTES + 1)
        except zlib.error as exc:
            raise OtlpError(400, _INVALID_ARGUMENT, f"cannot decompress the body: {exc}") from None
        if inflater.unconsumed_tail:
            body += b"\0"  # past the limit: refused just below
    elif encoding not in {"", "identity"}:
        raise OtlpError(415, _INVALID_ARGUMENT, f"unsupported Content-Encoding {encoding!r}")
    if len(body) > MAX_BODY_BYTES:
        raise OtlpError(413, _RESOURCE_EXHAUSTED, f"request larger than {MAX_BODY_BYTES} bytes")
    return body


def _authoriser(tokens: Sequence[str]) -> Callable[[Request], Awaitable[None]]:
    accepted = [t.encode() for t in tokens if t]
    challenge = {"WWW-Authenticate": 'Bearer realm="watchfloor-otlp"'}

    async def authorise(request: Request) -> None:
        """401 without a usable bearer token (or with none configured), 403 for a wrong one."""
        if not accepted:
            raise OtlpError(401, _UNAUTHENTICATED, "no OTLP tokens are configured (otlp_tokens)", challenge)
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise OtlpError(401, _UNAUTHENTICATED, "missing 'Authorization: Bearer <token>'", challenge)
        given = token.strip().encode()
        if not any(hmac.compare_digest(given, expected) for expected in accepted):
            raise OtlpError(403, _PERMISSION_DENIED, "invalid OTLP token")

    return authorise


class _OtlpRoute(APIRoute):
    """Answers refusals with a Status in the request's own encoding, whatever app mounts the router."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            encoding = JSON if _encoding(request) == JSON else PROTOBUF
            try:
                return await handler(request)
            except OtlpError as exc:
                body = _status(exc.code, exc.message, encoding)
                return Response(body, exc.http_status, exc.headers, media_type=encoding)
            except Overloaded as exc:
                body = _status(_RESOURCE_EXHAUSTED, exc.message, encoding)
                headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
                return Response(body, 429, headers, media_type=encoding)

        return route


class _LogsService:
    """Turns one export request into envelopes, hands them to the spool, and builds the response."""

    def __init__(self, acknowledger: Acknowledger, max_record_bytes: int) -> None:
        self.acknowledger = acknowledger
        self.max_record_bytes = max_record_bytes

    async def export(self, request: Request) -> Response:
        encoding = _encoding(request)
        if encoding not in {PROTOBUF, JSON}:
            raise OtlpError(415, _INVALID_ARGUMENT, f"unsupported Content-Type {encoding!r}")
        message = decode_export_request(await _read_body(request), encoding)
        peer = request.client.host if request.client else ""
        envelopes: list[Envelope] = []
        rejected = 0
        for doc in log_record_documents(message):
            body = orjson.dumps(doc).decode()
            if len(body) > self.max_record_bytes:
                rejected += 1
                continue
            envelopes.append(Envelope(CHANNEL, body, {"peer": peer, "encoding": encoding}))
        if envelopes:
            await run_in_threadpool(self.acknowledger.submit, envelopes)
        response = ExportLogsServiceResponse()
        if rejected:
            response.partial_success.rejected_log_records = rejected
            response.partial_success.error_message = (
                f"{rejected} log records larger than {self.max_record_bytes} bytes were rejected"
            )
        if encoding == JSON:
            return Response(json_format.MessageToJson(response, indent=None), 200, media_type=JSON)
        return Response(response.SerializeToString(), 200, media_type=PROTOBUF)


def otlp_router(
    acknowledger: Acknowledger, tokens: Sequence[str], max_record_bytes: int = MAX_RECORD_BYTES
) -> APIRouter:
    """`POST /v1/logs`; `tokens` are `Settings.otlp_tokens` (with none, every request gets 401)."""
    service = _LogsService(acknowledger, max_record_bytes)
    router = APIRouter(
        route_class=_OtlpRoute,
        dependencies=[Depends(_authoriser(tokens))],
        tags=["otlp"],
        include_in_schema=False,
    )

    @router.post("/v1/logs")
    async def export_logs(request: Request) -> Response:
        return await service.export(request)

    return router


def otlp_app(
    acknowledger: Acknowledger, tokens: Sequence[str], max_record_bytes: int = MAX_RECORD_BYTES
) -> FastAPI:
    """The OTLP/HTTP receiver as an app of its own, for its own port (4318 by default)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(otlp_router(acknowledger, tokens, max_record_bytes))
    return app
