"""The Elasticsearch `_bulk` listener: shippers that speak Elasticsearch send to Watchfloor unchanged.

Beats, Logstash, Fluent Bit, Vector and the official clients' bulk helpers all write NDJSON to
`/_bulk`: an action line (`{"index": {"_index": ..., "_id": ...}}`) then the document. This router
answers them the way Elasticsearch 8 does, closely enough that their retry and error handling works:
one result per item in Elasticsearch's shape, `X-Elastic-Product: Elasticsearch` on every response
(the official client refuses servers without it), Elasticsearch's error bodies, and whole-request
`429` with `Retry-After` when the spool is full, which the bulk helpers retry.

The event store is append-only, so only `index` and `create` store anything; `update` and `delete`
items are answered one by one with a 400 `illegal_argument_exception` while the rest of the request
succeeds. A document that is not a JSON object gets a per-item 400 `mapper_parsing_exception`. A
malformed action line fails the whole request with 400, as in Elasticsearch, because the rest of the
body can no longer be paired up.

Documents are acknowledged only after the `Acknowledger` (the durable spool) has written them; the
spool's sequence numbers become the items' `_seq_no`. They are parsed later by `BULK_DECODER`
(`bulk_decode`): Beats documents of known kinds into their formats' sources, the others into `bulk`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import re
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from watchfloor.errors import Overloaded, WatchfloorError
from watchfloor.events import Acknowledger, Envelope
from watchfloor.ingest.listeners.bulk_decode import BULK_DECODER, BULK_MAPPING, BulkDecoder

__all__ = [
    "BULK_DECODER",
    "BULK_MAPPING",
    "BulkAction",
    "BulkDecoder",
    "BulkError",
    "bulk_app",
    "bulk_router",
    "parse_bulk",
]

CHANNEL = "bulk"
#: The Elasticsearch version announced to clients; 8.x clients accept any 8.x server.
ES_VERSION = "8.15.0"
#: Elasticsearch's default `http.max_content_length`; also the cap after gzip decompression.
MAX_BODY_BYTES = 100 * 1024 * 1024
CLUSTER_NAME = "watchfloor"
_CLUSTER_UUID = "d2F0Y2hmbG9vci1fYnVsaw"
_NODE_ID = "d2F0Y2hmbG9vcg"
_STORING = frozenset({"index", "create"})
_KNOWN = _STORING | {"update", "delete"}
_BAD_INDEX = re.compile(r'[\\/*?"<>| ,#:A-Z]')
_AUTH_HEADERS = {"WWW-Authenticate": 'Basic realm="security", charset="UTF-8", ApiKey, Bearer'}


class BulkError(WatchfloorError):
    """A request-level failure, answered in Elasticsearch's error shape with `http_status`."""

    def __init__(self, status: int, kind: str, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.http_status = status
        self.kind = kind
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """`{"error": {"root_cause": [...], "type", "reason"}, "status"}` as Elasticsearch writes it."""
        cause = {"type": self.kind, "reason": self.message}
        return {"error": {"root_cause": [cause], **cause}, "status": self.http_status}


@dataclass(frozen=True, slots=True)
class BulkAction:
    """One item of a `_bulk` body: its action, target, and the document text or the item's error."""

    action: str
    index: str | None
    id: str | None
    document: str | None = None
    error: tuple[int, str, str] | None = None  # (status, type, reason)


def _index_problem(name: str) -> str | None:
    if not name:
        return "index is missing"
    if name in {".", ".."} or name[0] in "-_+" or _BAD_INDEX.search(name) or len(name.encode()) > 255:
        return (
            f"Invalid index name [{name}], must be lowercase, without [\\, /, *, ?, \", <, >, |, ' ', ',', "
            "#, :] and must not start with [_, -, +]"
        )
    return None


def _action_line(line: bytes, number: int) -> tuple[str, Mapping[str, Any]]:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BulkError(
            400, "x_content_parse_exception", f"[{number}] malformed action line: {exc}"
        ) from None
    if not isinstance(doc, dict) or len(doc) != 1:
        raise BulkError(
            400,
            "illegal_argument_exception",
            f"Malformed action/metadata line [{number}], expected one action",
        )
    action, meta = next(iter(doc.items()))
    if action not in _KNOWN or not isinstance(meta, dict):
        raise BulkError(
            400,
            "illegal_argument_exception",
            f"Malformed action/metadata line [{number}], expected one of [create, delete, index, update] "
            f"but found [{action}]",
        )
    return action, meta


def _document_error(line: bytes) -> tuple[int, str, str] | None:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return 400, "mapper_parsing_exception", f"failed to parse: {exc}"
    if not isinstance(doc, dict):
        return 400, "mapper_parsing_exception", "failed to parse: the document is not a JSON object"
    if "_id" in doc or "_index" in doc:
        field_name = "_id" if "_id" in doc else "_index"
        return (
            400,
            "mapper_parsing_exception",
            f"Field [{field_name}] is a metadata field and cannot be added inside a document.",
        )
    return None


def parse_bulk(payload: bytes, default_index: str | None = None) -> list[BulkAction]:
    """Pair action lines with their documents; per-item problems become item errors, not exceptions.

    Raises `BulkError` only when the body cannot be read as `_bulk` at all (a malformed action line).
    """
    lines = [line for line in payload.split(b"\n") if line.strip()]
    items: list[BulkAction] = []
    position = 0
    while position < len(lines):
        action, meta = _action_line(lines[position], position + 1)
        position += 1
        index = meta.get("_index") or default_index
        doc_id = meta.get("_id")
        index = None if index is None else str(index)
        doc_id = None if doc_id is None else str(doc_id)
        document: bytes | None = None
        if action != "delete":
            if position >= len(lines):
                raise BulkError(400, "illegal_argument_exception", f"The {action} action has no document")
            document = lines[position]
            position += 1
        error: tuple[int, str, str] | None = None
        if action not in _STORING:
            reason = f"[{action}] is not supported: Watchfloor's event store is append-only"
            error = (400, "illegal_argument_exception", reason)
        elif not index:
            error = (400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
        elif (problem := _index_problem(index)) is not None:
            error = (400, "invalid_index_name_exception", problem)
        elif document is not None:
            error = _document_error(document)
        text = document.decode("utf-8", "replace").strip() if document is not None and error is None else None
        items.append(BulkAction(action, index, doc_id, text, error))
    return items


def _item_result(item: BulkAction, doc_id: str, seq_no: int | None) -> dict[str, Any]:
    if item.error is not None:
        status, kind, reason = item.error
        result: dict[str, Any] = {"_index": item.index, "_id": item.id, "status": status}
        result["error"] = {"type": kind, "reason": reason, "index": item.index}
        return {item.action: result}
    return {
        item.action: {
            "_index": item.index,
            "_id": doc_id,
            "_version": 1,
            "result": "created",
            "_shards": {"total": 1, "successful": 1, "failed": 0},
            "_seq_no": seq_no,
            "_primary_term": 1,
            "status": 201,
        }
    }


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # counted as it arrives: an oversized body is never held whole
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BulkError(
                413, "content_too_long_exception", f"request body is larger than {MAX_BODY_BYTES}"
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding in {"gzip", "deflate"}:
        inflater = zlib.decompressobj(wbits=47 if encoding == "gzip" else 15)
        try:
            body = inflater.decompress(body, MAX_BODY_BYTES + 1)
        except zlib.error as exc:
            raise BulkError(400, "parse_exception", f"cannot decompress the body: {exc}") from None
        if len(body) > MAX_BODY_BYTES or inflater.unconsumed_tail:
            raise BulkError(413, "content_too_long_exception", "request body is too large once inflated")
    elif encoding not in {"", "identity"}:
        raise BulkError(400, "illegal_argument_exception", f"unsupported Content-Encoding [{encoding}]")
    return body


def _presented_secrets(header: str) -> list[str]:
    """Every string in an Authorization header that may be the token, per scheme."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    if scheme == "bearer":
        return [value]
    if scheme not in {"apikey", "basic"}:
        return []
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = None
    if scheme == "basic":
        return [decoded.partition(":")[2]] if decoded is not None and ":" in decoded else []
    # An API key is sent either as issued (the token itself) or as base64("id:key").
    found = [value]
    if decoded is not None:
        found += [decoded, decoded.partition(":")[2]] if ":" in decoded else [decoded]
    return found


def _unauthenticated(reason: str) -> BulkError:
    return BulkError(401, "security_exception", reason, _AUTH_HEADERS)


def _authoriser(tokens: Sequence[str]) -> Callable[[Request], Awaitable[None]]:
    accepted = [t.encode() for t in tokens if t]

    async def authorise(request: Request) -> None:
        """Every route requires a configured token, as Elasticsearch with security on does."""
        header = request.headers.get("authorization")
        if not accepted:
            raise _unauthenticated("the _bulk listener has no tokens configured (bulk_tokens)")
        if not header:
            raise _unauthenticated(
                f"missing authentication credentials for REST request [{request.url.path}]"
            )
        for candidate in _presented_secrets(header):
            given = candidate.encode()
            if any(hmac.compare_digest(given, token) for token in accepted):
                return
        raise _unauthenticated(f"unable to authenticate with provided credentials for [{request.url.path}]")

    return authorise


class _ElasticRoute(APIRoute):
    """Routes that always answer like Elasticsearch, whatever app they are mounted in.

    Errors are turned into Elasticsearch's shape here rather than by app-wide exception handlers, so
    that the router behaves the same on the main API port as in its own app.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except BulkError as exc:
                response = _json(exc.body(), exc.http_status, exc.headers)
            except Overloaded as exc:
                error = BulkError(429, "es_rejected_execution_exception", exc.message)
                seconds = str(max(1, math.ceil(exc.retry_after)))
                response = _json(error.body(), 429, {"Retry-After": seconds})
            response.headers["X-Elastic-Product"] = "Elasticsearch"
            return response

        return route


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, dict(headers or {}), media_type="application/json")


# What `GET /`, `/_license` and `/_xpack` say: a single-node basic-licence 8.x cluster.
_VERSION: dict[str, Any] = {
    "number": ES_VERSION,
    "build_flavor": "default",
    "build_type": "docker",
    "build_hash": "watchfloor",
    "build_date": "2024-08-05T10:05:34.233336849Z",
    "build_snapshot": False,
    "lucene_version": "9.11.1",
    "minimum_wire_compatibility_version": "7.17.0",
    "minimum_index_compatibility_version": "7.0.0",
}
_INFO = {
    "name": "watchfloor",
    "cluster_name": CLUSTER_NAME,
    "cluster_uuid": _CLUSTER_UUID,
    "version": _VERSION,
    "tagline": "You Know, for Search",
}
_LICENSE: dict[str, Any] = {
    "status": "active",
    "uid": "00000000-0000-0000-0000-000000000000",
    "type": "basic",
    "issue_date": "2024-01-01T00:00:00.000Z",
    "issue_date_in_millis": 1704067200000,
    "max_nodes": 1000,
    "issued_to": CLUSTER_NAME,
    "issuer": "elasticsearch",
    "start_date_in_millis": -1,
}
_SHARDS = ("active_primary_shards", "active_shards")
_NONE = ("relocating_shards", "initializing_shards", "unassigned_shards", "delayed_unassigned_shards")
_HEALTH: dict[str, Any] = {"cluster_name": CLUSTER_NAME, "status": "green", "timed_out": False}
_HEALTH |= dict.fromkeys(("number_of_nodes", "number_of_data_nodes", *_SHARDS), 1)
_HEALTH |= dict.fromkeys((*_NONE, "number_of_pending_tasks", "number_of_in_flight_fetch"), 0)
_HEALTH |= {"task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0}


class _BulkService:
    """Turns one `_bulk` body into envelopes, hands them to the spool, and builds the response."""

    def __init__(self, acknowledger: Acknowledger) -> None:
        self.acknowledger = acknowledger

    async def bulk(self, request: Request, index: str | None) -> Response:
        started = time.monotonic()
        items = parse_bulk(await _read_body(request), index)
        peer = request.client.host if request.client else ""
        ids: list[str] = []
        envelopes: list[Envelope] = []
        for item in items:
            doc_id = item.id or secrets.token_urlsafe(15)
            ids.append(doc_id)
            if item.error is None and item.document is not None:
                meta = {"index": item.index or "", "id": doc_id, "action": item.action, "peer": peer}
                envelopes.append(Envelope(CHANNEL, item.document, meta))
        last = await run_in_threadpool(self.acknowledger.submit, envelopes) if envelopes else 0
        seq_no = last - len(envelopes) + 1
        results: list[dict[str, Any]] = []
        for item, doc_id in zip(items, ids, strict=True):
            results.append(_item_result(item, doc_id, seq_no if item.error is None else None))
            seq_no += item.error is None
        took = int((time.monotonic() - started) * 1000)
        errors = any(item.error is not None for item in items)
        return _json({"errors": errors, "took": took, "items": results})


def bulk_router(acknowledger: Acknowledger, tokens: Sequence[str], prefix: str = "") -> APIRouter:
    """The `_bulk` endpoints and the probes clients make first, for mounting on the API port.

    `tokens` are `Settings.bulk_tokens`; with none, every request is refused with 401. `prefix` lets
    the router live under a path (`/es`) when `/` is taken: Elasticsearch clients accept a node URL with
    a path prefix.
    """
    service = _BulkService(acknowledger)
    router = APIRouter(
        prefix=prefix,
        route_class=_ElasticRoute,
        dependencies=[Depends(_authoriser(tokens))],
        tags=["elasticsearch"],
        include_in_schema=False,
    )

    @router.api_route("/_bulk", methods=["POST", "PUT"])
    async def bulk(request: Request) -> Response:
        return await service.bulk(request, None)

    @router.api_route("/{index}/_bulk", methods=["POST", "PUT"])
    async def index_bulk(request: Request, index: str) -> Response:
        problem = _index_problem(index)
        if problem is not None:
            raise BulkError(400, "invalid_index_name_exception", problem)
        return await service.bulk(request, index)

    @router.get("/")
    async def root() -> Response:
        return _json(_INFO)

    @router.head("/")
    async def root_head() -> Response:
        return Response(status_code=200)

    @router.get("/_license")
    async def license_info() -> Response:
        return _json({"license": _LICENSE})

    @router.get("/_xpack")
    async def xpack() -> Response:
        build = {"hash": "watchfloor", "date": _VERSION["build_date"]}
        license_ = {k: _LICENSE[k] for k in ("uid", "type", "status")} | {"mode": "basic"}
        return _json({"build": build, "license": license_, "features": {}, "tagline": "You know, for X"})

    @router.get("/_cluster/health")
    async def health() -> Response:
        return _json(_HEALTH)

    @router.get("/_nodes/http")
    async def nodes_http(request: Request) -> Response:
        address = request.url.netloc
        node: dict[str, Any] = {"name": "watchfloor", "version": ES_VERSION, "roles": ["data", "ingest"]}
        node["http"] = {"bound_address": [address], "publish_address": address}
        counts = {"total": 1, "successful": 1, "failed": 0}
        return _json({"_nodes": counts, "cluster_name": CLUSTER_NAME, "nodes": {_NODE_ID: node}})

    @router.api_route("/{index}", methods=["PUT", "HEAD"])
    async def index_probe(request: Request, index: str) -> Response:
        """Shippers create or check their index before writing: every valid name exists here."""
        problem = _index_problem(index)
        if problem is not None:
            raise BulkError(400, "invalid_index_name_exception", problem)
        if request.method == "HEAD":
            return Response(status_code=200)
        return _json({"acknowledged": True, "shards_acknowledged": True, "index": index})

    return router


def bulk_app(acknowledger: Acknowledger, tokens: Sequence[str]) -> FastAPI:
    """The router alone in an app: for tests and for serving `_bulk` on a port of its own."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(bulk_router(acknowledger, tokens))
    return app
