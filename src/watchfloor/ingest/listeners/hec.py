"""The Splunk HTTP Event Collector listener (port 8088): what Splunk forwarders and loggers send to.

Answers as Splunk does, codes and texts included, so that clients' retry logic works unchanged:
`/services/collector/event` (one or many concatenated event objects), `/services/collector/raw` (one
event per line), `/services/collector/health`, and indexer acknowledgement on `/services/collector/ack`.

A request is all-or-nothing: it is validated completely before anything is spooled, so an error answer
(with `invalid-event-number` for a bad event) means nothing was kept and the client may resend it whole.
A success answer is sent only once the spool has fsynced the events, so an `ackId` is true as soon as it
is issued; the tracker keeps a bounded number of them per channel and channels. A full spool is
answered 503 "Server is busy" (code 9) with `Retry-After`, never 500 and never a silent drop.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import zlib
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from watchfloor.errors import Overloaded
from watchfloor.events import Acknowledger, Envelope
from watchfloor.ingest.listeners.hec_decode import CHANNEL, METADATA

__all__ = ["AckTracker", "HecError", "hec_app", "parse_events"]

MAX_BODY_BYTES = 64 * 1024 * 1024
_GUID = re.compile(r"^[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}$")
_INDEX = re.compile(r"^[a-z0-9_][a-z0-9_\-]{0,79}$")
_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"


class HecError(Exception):
    """An answer other than success: Splunk's HTTP status, code and text."""

    def __init__(self, status: int, code: int, text: str, event: int | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.code = code
        self.text = text
        self.event = event

    def response(self, headers: dict[str, str] | None = None) -> Response:
        """The error as Splunk writes it."""
        body: dict[str, Any] = {"text": self.text, "code": self.code}
        if self.event is not None:
            body["invalid-event-number"] = self.event
        return _json(body, self.status, headers)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _bad_format(event: int) -> HecError:
    return HecError(400, 6, "Invalid data format", event)


def _check_event(doc: Any, number: int) -> None:
    if not isinstance(doc, dict):
        raise _bad_format(number)
    if "event" not in doc:
        raise HecError(400, 12, "Event field is required", number)
    event = doc["event"]
    if event is None or (isinstance(event, str) and not event.strip()):
        raise HecError(400, 13, "Event field cannot be blank", number)
    index = doc.get("index")
    if index is not None and not (isinstance(index, str) and _INDEX.match(index)):
        raise HecError(400, 7, "Incorrect index", number)
    fields = doc.get("fields")
    if fields is not None and not isinstance(fields, dict):
        raise HecError(400, 15, "Error in handling indexed fields", number)
    for key in METADATA:
        value = doc.get(key)
        if key != "index" and value is not None and not isinstance(value, str | int | float):
            raise _bad_format(number)


def parse_events(text: str) -> list[str]:
    """The texts of concatenated HEC event objects, validated; `HecError` names the first bad one."""
    events: list[str] = []
    position = text.find("{")
    end_text = len(text.rstrip(_WHITESPACE))
    if not text.strip():
        raise HecError(400, 5, "No data")
    if position < 0 or text[:position].strip(_WHITESPACE):
        raise _bad_format(0)
    while position < end_text:
        number = len(events)
        try:
            doc, end = _DECODER.raw_decode(text, position)
        except ValueError:
            raise _bad_format(number) from None
        _check_event(doc, number)
        events.append(text[position:end])
        position = end
        while position < end_text and text[position] in _WHITESPACE:
            position += 1
    return events


class AckTracker:
    """Acknowledgement ids per data channel, bounded in channels and in ids kept per channel.

    An id is answered true once (then forgotten, as Splunk does); ids are issued only after the spool
    has fsynced, so there is no pending state to keep.
    """

    def __init__(self, max_channels: int = 10_000, max_ids: int = 100_000) -> None:
        self.max_channels = max_channels
        self.max_ids = max_ids
        self._channels: OrderedDict[str, tuple[list[int], set[int], deque[int]]] = OrderedDict()

    def _channel(self, channel: str) -> tuple[list[int], set[int], deque[int]]:
        state = self._channels.get(channel)
        if state is None:
            state = self._channels[channel] = ([0], set(), deque())
            while len(self._channels) > self.max_channels:
                self._channels.popitem(last=False)
        else:
            self._channels.move_to_end(channel)
        return state

    def issue(self, channel: str) -> int:
        """A new id, already acknowledged."""
        counter, acked, order = self._channel(channel)
        ack_id = counter[0]
        counter[0] += 1
        acked.add(ack_id)
        order.append(ack_id)
        while len(order) > self.max_ids:
            acked.discard(order.popleft())
        return ack_id

    def query(self, channel: str, ids: Sequence[int]) -> dict[str, bool]:
        """`{"<id>": true|false}`; a true id is forgotten once answered."""
        _, acked, _ = self._channel(channel)
        answer: dict[str, bool] = {}
        for ack_id in ids:
            answer[str(ack_id)] = ack_id in acked
            acked.discard(ack_id)
        return answer


@dataclass(slots=True)
class _Service:
    acknowledger: Acknowledger
    tokens: tuple[bytes, ...]
    acks: AckTracker
    health: Any

    def authorise(self, request: Request) -> None:
        header = request.headers.get("authorization")
        if header is None:
            raise HecError(401, 2, "Token is required")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "splunk" or not token.strip():
            raise HecError(401, 3, "Invalid authorization")
        given = token.strip().encode()
        if not any(hmac.compare_digest(given, known) for known in self.tokens):
            raise HecError(403, 4, "Invalid token")

    @staticmethod
    def channel(request: Request, required: bool) -> str | None:
        channel = request.headers.get("x-splunk-request-channel") or request.query_params.get("channel")
        if channel is None:
            if required:
                raise HecError(400, 10, "Data channel is missing")
            return None
        if not _GUID.match(channel.strip()):
            raise HecError(400, 11, "Invalid data channel")
        return channel.strip().lower()

    async def spool(self, envelopes: list[Envelope], channel: str | None) -> Response:
        await run_in_threadpool(self.acknowledger.submit, envelopes)
        body: dict[str, Any] = {"text": "Success", "code": 0}
        if channel is not None:
            body["ackId"] = self.acks.issue(channel)
        return _json(body)


async def _body(request: Request) -> str:
    data = await request.body()
    if len(data) > MAX_BODY_BYTES:
        raise HecError(413, 6, "Invalid data format")
    if request.headers.get("content-encoding", "").lower() == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            data = inflater.decompress(data, MAX_BODY_BYTES + 1)
        except zlib.error:
            raise HecError(400, 6, "Invalid data format") from None
        if len(data) > MAX_BODY_BYTES:
            raise HecError(413, 6, "Invalid data format")
    return data.decode("utf-8", errors="replace")


def _peer(request: Request) -> str:
    return request.client.host if request.client else ""


def hec_app(acknowledger: Acknowledger, tokens: Sequence[str], health: Any = None) -> Starlette:
    """The HEC endpoints. With no `tokens`, every data request is refused (403, code 4).

    `health` is a zero-argument callable telling whether the spool is full (HEC health code 18).
    """
    service = _Service(acknowledger, tuple(t.encode() for t in tokens if t), AckTracker(), health)

    async def guarded(request: Request, handler: Any) -> Response:
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except HecError as exc:
            return exc.response()
        except Overloaded as exc:
            retry = str(max(1, math.ceil(exc.retry_after)))
            return HecError(503, 9, "Server is busy").response({"Retry-After": retry})

    async def event(request: Request) -> Response:
        service.authorise(request)
        channel = service.channel(request, required=False)
        texts = parse_events(await _body(request))
        meta = {"peer": _peer(request), "endpoint": "event"}
        return await service.spool([Envelope(CHANNEL, t, meta) for t in texts], channel)

    async def raw(request: Request) -> Response:
        service.authorise(request)
        channel = service.channel(request, required=True)
        text = await _body(request)
        lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
        if not lines:
            raise HecError(400, 5, "No data")
        index = request.query_params.get("index")
        if index is not None and not _INDEX.match(index):
            raise HecError(400, 7, "Incorrect index")
        meta = {"peer": _peer(request), "endpoint": "raw"}
        meta.update({k: request.query_params[k] for k in METADATA if request.query_params.get(k)})
        return await service.spool([Envelope(CHANNEL, line, meta) for line in lines], channel)

    async def ack(request: Request) -> Response:
        service.authorise(request)
        channel = service.channel(request, required=True)
        assert channel is not None
        try:
            doc = orjson.loads(await _body(request))
        except orjson.JSONDecodeError:
            raise HecError(400, 6, "Invalid data format") from None
        ids = doc.get("acks") if isinstance(doc, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise HecError(400, 6, "Invalid data format")
        return _json({"acks": service.acks.query(channel, ids)})

    async def health_check(request: Request) -> Response:
        if service.health is not None and service.health():
            return _json({"text": "HEC is unhealthy, queues are full", "code": 18}, 503)
        return _json({"text": "HEC is healthy", "code": 17})

    def route(path: str, handler: Any, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await guarded(request, handler)

        return Route(path, endpoint, methods=methods)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _json({"text": "The requested URL was not found on this server.", "code": 404}, 404)

    routes = [
        route("/services/collector", event, ["POST"]),
        route("/services/collector/event", event, ["POST"]),
        route("/services/collector/event/1.0", event, ["POST"]),
        route("/services/collector/raw", raw, ["POST"]),
        route("/services/collector/raw/1.0", raw, ["POST"]),
        route("/services/collector/ack", ack, ["POST"]),
        route("/services/collector/health", health_check, ["GET"]),
        route("/services/collector/health/1.0", health_check, ["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found})
