"""Syslog over UDP, TCP and TLS (RFC 5426, 6587, 5425), and the decoder of the `syslog` channel.

UDP carries one message per datagram. A TCP or TLS connection is framed either by octet counting
(`<length> <message>`, RFC 6587 3.4.1, what rsyslog and RFC 5425 use) or by line feeds (3.4.2, what
most other senders do); which one is decided by the connection's first byte, a digit meaning octet
counting since a syslog message starts with `<`. Framing and the connection's protocol live in
`syslog_stream`.

Backpressure: a TCP connection stops reading while too much of what it read waits for the spool, or
while the spool refuses (`Overloaded`, retried after its delay), so the kernel's receive window fills
and the sender slows down. UDP cannot be slowed: datagrams wait in a bounded queue, and only past it
are they dropped, counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from watchfloor.errors import Overloaded
from watchfloor.events import Acknowledger, BatchBuilder, Envelope, EventBatch, Quarantined
from watchfloor.ingest.formats.syslog import SyslogFormat, route_line
from watchfloor.ingest.listeners.syslog_stream import (
    SyslogConnection,
    SyslogFramer,
    SyslogStats,
    message_text,
)
from watchfloor.schema import SourceMapping

__all__ = ["SYSLOG_DECODER", "SyslogDecoder", "SyslogFramer", "SyslogListener", "SyslogStats"]

log = logging.getLogger(__name__)
CHANNEL = "syslog"
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
        text = message_text(data)
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
        self._connections: set[SyslogConnection] = set()
        self._stopping = False

    async def start(self, host: str, port: int, tls_port: int | None, tls: ssl.SSLContext | None) -> None:
        """Bind TCP then UDP on `port` (0 picks a free one, shared by both), and TLS if configured."""
        loop = asyncio.get_running_loop()
        tcp = await loop.create_server(self._connection("tcp"), host, port)
        self._servers.append(tcp)
        bound = tcp.sockets[0].getsockname()
        self._udp_protocol = _Udp(self)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self._udp_protocol or _Udp(self), local_addr=(host, bound[1])
        )
        self._udp = transport
        self._spawn(self._udp_pump(self._udp_protocol))
        self.addresses += [f"syslog udp {bound[0]}:{bound[1]}", f"syslog tcp {bound[0]}:{bound[1]}"]
        if tls is not None and tls_port is not None:
            secure = await loop.create_server(self._connection("tls"), host, tls_port, ssl=tls)
            self._servers.append(secure)
            address = secure.sockets[0].getsockname()
            self.addresses.append(f"syslog tls {address[0]}:{address[1]}")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit(self, envelopes: list[Envelope], on_overload: Callable[[], None] | None = None) -> bool:
        """Hand envelopes to the spool, waiting out overload; False if shutting down first.

        `on_overload` is called each time the spool refuses, so a connection can stop reading meanwhile.
        """
        while True:
            try:
                await asyncio.to_thread(self.acknowledger.submit, envelopes)
                self.stats.received += len(envelopes)
                return True
            except Overloaded as exc:
                if self._stopping:
                    log.warning("syslog: %d messages not spooled at shutdown: %s", len(envelopes), exc)
                    return False
                if on_overload is not None:
                    on_overload()
                await asyncio.sleep(exc.retry_after)

    async def _udp_pump(self, protocol: _Udp) -> None:
        while not self._stopping or protocol.queue:
            await protocol.wake.wait()
            protocol.wake.clear()
            while protocol.queue:
                batch, protocol.queue = protocol.queue[:10_000], protocol.queue[10_000:]
                if not await self._submit(batch):
                    return

    def _connection(self, transport: str) -> Callable[[], SyslogConnection]:
        def accept() -> SyslogConnection:
            return SyslogConnection(
                CHANNEL, transport, self.stats, self._submit, self._spawn, self._connections
            )

        return accept

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, let readers hand over what they read, then close everything.

        Connections stop reading at once and spool what they hold; within `grace` seconds their
        tasks finish and TLS closing handshakes complete, then whatever is left is cancelled or aborted.
        """
        for server in self._servers:
            server.close()
        if self._udp is not None:
            self._udp.close()
        self._stopping = True
        if self._udp_protocol is not None:
            self._udp_protocol.wake.set()
        connections = list(self._connections)
        for connection in connections:
            connection.shutdown()
        waiting = set(self._tasks) | {asyncio.ensure_future(c.wait_closed()) for c in connections}
        if waiting:
            _, pending = await asyncio.wait(waiting, timeout=grace)
            for task in pending:
                task.cancel()
        for connection in list(self._connections):
            connection.abort()
