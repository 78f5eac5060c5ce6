"""Syslog over UDP, TCP and TLS (RFC 5426, 6587, 5425), and the decoder of the `syslog` channel.

UDP carries one message per datagram. A TCP or TLS connection is framed either by octet counting
(`<length> <message>`, RFC 6587 3.4.1, what rsyslog and RFC 5425 use) or by line feeds (3.4.2, what
most other senders do); which one is decided by the connection's first byte, a digit meaning octet
counting since a syslog message starts with `<`.

Backpressure: a TCP connection is not read further until what was read has been handed to the spool,
and while the spool refuses (`Overloaded`) the handler waits and retries, so the kernel's receive window
fills and the sender slows down. UDP cannot be slowed: datagrams wait in a bounded queue, and only past
it are they dropped, counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from watchfloor.errors import Overloaded
from watchfloor.events import Acknowledger, BatchBuilder, Envelope, EventBatch, Quarantined
from watchfloor.ingest.formats.syslog import SyslogFormat, route_line
from watchfloor.schema import SourceMapping

__all__ = ["SYSLOG_DECODER", "SyslogDecoder", "SyslogFramer", "SyslogListener", "SyslogStats"]

log = logging.getLogger(__name__)
CHANNEL = "syslog"
MAX_MESSAGE = 256 * 1024
_READ_SIZE = 256 * 1024
_UDP_QUEUE = 200_000


@dataclass(frozen=True, slots=True)
class SyslogDecoder:
    """`ChannelDecoder` of `syslog`: RFC 3164/5424 to `syslog`; CEF, LEEF (and others) to their source."""

    channel: str = CHANNEL
    mappings: tuple[SourceMapping, ...] = SyslogFormat.mappings
    batch_size: int = 50_000

    def decode(self, envelopes: Sequence[Envelope], origin: str) -> Iterator[EventBatch | Quarantined]:
        """Route each message like a line of a syslog file, adding the peer and transport."""
        builders: dict[str, BatchBuilder] = {}
        for position, envelope in enumerate(envelopes):
            try:
                source, fields = route_line(envelope.body)
            except ValueError as exc:
                yield Quarantined(origin, position, str(exc), envelope.body, CHANNEL)
                continue
            record = dict(fields)
            record["peer"] = envelope.meta.get("peer")
            record["transport"] = envelope.meta.get("transport")
            builder = builders.get(source)
            if builder is None:
                builder = builders[source] = BatchBuilder(source, CHANNEL, origin)
            builder.add(record, envelope.body, position)
            if len(builder) >= self.batch_size:
                yield builder.build()
        for builder in builders.values():
            if len(builder):
                yield builder.build()


SYSLOG_DECODER = SyslogDecoder()


class SyslogFramer:
    """Splits one TCP stream into messages: octet counting or LF framing, decided by the first byte."""

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self.max_message = max_message
        self.octet_counting: bool | None = None
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[str]:
        """Complete messages in what has arrived so far; ValueError if the framing is broken."""
        buffer = self._buffer
        buffer += data
        if self.octet_counting is None:
            start = buffer.lstrip(b"\r\n")
            if not start:
                return []
            self.octet_counting = start[:1].isdigit()
        return self._octets() if self.octet_counting else self._lines()

    def _lines(self) -> list[str]:
        buffer = self._buffer
        end = buffer.rfind(b"\n")
        if end < 0:
            if len(buffer) > self.max_message:  # an endless line: cut it into messages of the maximum size
                message = _text(bytes(buffer[: self.max_message]))
                del buffer[: self.max_message]
                return [message]
            return []
        lines = bytes(buffer[:end]).split(b"\n")
        del buffer[: end + 1]
        return [_text(line) for line in lines if line.strip(b"\r\0 ")]

    def _octets(self) -> list[str]:
        buffer = self._buffer
        messages: list[str] = []
        position = 0
        size = len(buffer)
        while position < size:
            while position < size and buffer[position] in b"\r\n ":
                position += 1
            space = buffer.find(b" ", position, position + 12)
            if space < 0:
                if size - position >= 12 or not bytes(buffer[position:size]).isdigit():
                    raise ValueError("broken octet-counted frame (expected '<length> <message>')")
                break
            digits = bytes(buffer[position:space])
            if not digits.isdigit():
                raise ValueError(f"broken octet-counted frame: length {digits[:12]!r}")
            length = int(digits)
            if length > self.max_message:
                raise ValueError(f"octet-counted frame of {length} bytes exceeds {self.max_message}")
            end = space + 1 + length
            if end > size:
                break
            messages.append(_text(bytes(buffer[space + 1 : end])))
            position = end
        del buffer[:position]
        return [m for m in messages if m.strip()]

    def finish(self) -> list[str]:
        """At end of stream: a last LF-framed line without its line feed is still a message."""
        rest = bytes(self._buffer).strip(b"\r\n\0 ")
        self._buffer.clear()
        if rest and not self.octet_counting:
            return [_text(rest)]
        if rest:
            log.warning("syslog: connection closed inside an octet-counted frame (%d bytes)", len(rest))
        return []


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").rstrip("\r\n\0")


@dataclass(slots=True)
class SyslogStats:
    """Counters that make any loss visible."""

    received: int = 0
    udp_dropped: int = 0
    framing_errors: int = 0
    connections: int = 0


class _Udp(asyncio.DatagramProtocol):
    """Queues datagrams for `SyslogListener._udp_pump`; the queue is bounded (UDP cannot wait)."""

    def __init__(self, listener: SyslogListener) -> None:
        self.listener = listener
        self.queue: list[Envelope] = []
        self.wake = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        stats = self.listener.stats
        if len(self.queue) >= _UDP_QUEUE:
            stats.udp_dropped += 1
            if stats.udp_dropped % 10_000 == 1:
                log.warning("syslog UDP: spool unavailable, %d datagrams dropped so far", stats.udp_dropped)
            return
        text = _text(data)
        if text.strip():
            meta = {"peer": f"{addr[0]}:{addr[1]}", "transport": "udp"}
            self.queue.append(Envelope(CHANNEL, text, meta))
            self.wake.set()


class SyslogListener:
    """The syslog servers of one `serve`: UDP and TCP on one port, TLS on another."""

    def __init__(self, acknowledger: Acknowledger) -> None:
        self.acknowledger = acknowledger
        self.stats = SyslogStats()
        self.addresses: list[str] = []
        self._servers: list[asyncio.Server] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_protocol: _Udp | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping = False

    async def start(self, host: str, port: int, tls_port: int | None, tls: ssl.SSLContext | None) -> None:
        """Bind TCP then UDP on `port` (0 picks a free one, shared by both), and TLS if configured."""
        tcp = await asyncio.start_server(self._connection("tcp"), host, port, limit=_READ_SIZE)
        self._servers.append(tcp)
        bound = tcp.sockets[0].getsockname()
        loop = asyncio.get_running_loop()
        self._udp_protocol = _Udp(self)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self._udp_protocol or _Udp(self), local_addr=(host, bound[1])
        )
        self._udp = transport
        self._spawn(self._udp_pump(self._udp_protocol))
        self.addresses += [f"syslog udp {bound[0]}:{bound[1]}", f"syslog tcp {bound[0]}:{bound[1]}"]
        if tls is not None and tls_port is not None:
            secure = await asyncio.start_server(self._connection("tls"), host, tls_port, ssl=tls)
            self._servers.append(secure)
            address = secure.sockets[0].getsockname()
            self.addresses.append(f"syslog tls {address[0]}:{address[1]}")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit(self, envelopes: list[Envelope]) -> bool:
        """Hand envelopes to the spool, waiting out overload; False if shutting down first."""
        while True:
            try:
                await asyncio.to_thread(self.acknowledger.submit, envelopes)
                self.stats.received += len(envelopes)
                return True
            except Overloaded as exc:
                if self._stopping:
                    log.warning("syslog: %d messages not spooled at shutdown: %s", len(envelopes), exc)
                    return False
                await asyncio.sleep(exc.retry_after)

    async def _udp_pump(self, protocol: _Udp) -> None:
        while not self._stopping or protocol.queue:
            await protocol.wake.wait()
            protocol.wake.clear()
            while protocol.queue:
                batch, protocol.queue = protocol.queue[:10_000], protocol.queue[10_000:]
                if not await self._submit(batch):
                    return

    def _connection(
        self, transport: str
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername") or ("", 0)
            meta = {"peer": f"{peer[0]}:{peer[1]}", "transport": transport}
            framer = SyslogFramer()
            self.stats.connections += 1
            self._writers.add(writer)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)  # type: ignore[arg-type]
            try:
                while True:
                    data = await reader.read(_READ_SIZE)
                    messages = framer.feed(data) if data else framer.finish()
                    if messages and not await self._submit([Envelope(CHANNEL, m, meta) for m in messages]):
                        break
                    if not data:
                        break
            except ValueError as exc:
                self.stats.framing_errors += 1
                log.warning("syslog %s from %s: %s; closing the connection", transport, meta["peer"], exc)
            except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
                log.info("syslog %s from %s: %s", transport, meta["peer"], exc)
            finally:
                if task is not None:
                    self._tasks.discard(task)  # type: ignore[arg-type]
                self._writers.discard(writer)
                writer.close()
                with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
                    await writer.wait_closed()

        return handle

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, let readers hand over what they read, then close everything."""
        for server in self._servers:
            server.close()
        if self._udp is not None:
            self._udp.close()
        self._stopping = True
        if self._udp_protocol is not None:
            self._udp_protocol.wake.set()
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
