"""Syslog over one TCP or TLS connection: framing (RFC 6587) and the connection's `asyncio.Protocol`.

Why a protocol rather than a `StreamReader` loop: when a peer closes abruptly (a TLS client without
`close_notify`, a reset), asyncio puts an exception on the `StreamReader`, and `read()` raises that
exception before returning bytes already in its buffer. Those messages were acknowledged by TCP and
would be lost. Here every byte the transport delivers goes straight into the framer, and
`connection_lost` flushes what is left, so whatever reached the process is handed to the spool.

Backpressure: complete messages wait in a per-connection list that one task hands to the spool in
order. Past `HIGH_WATER` bytes waiting, or while the spool refuses (`Overloaded`), the transport stops
reading, so the kernel's receive window fills and the sender slows down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

from watchfloor.events import Envelope

__all__ = ["HIGH_WATER", "MAX_MESSAGE", "SyslogConnection", "SyslogFramer", "SyslogStats", "message_text"]

log = logging.getLogger(__name__)
MAX_MESSAGE = 256 * 1024
#: Bytes of complete messages a connection may hold, not yet spooled, before it stops reading.
HIGH_WATER = 512 * 1024

#: `SyslogListener._submit`: hands envelopes to the spool, calling the callback while it is overloaded.
Submit = Callable[[list[Envelope], Callable[[], None] | None], Awaitable[bool]]
Spawn = Callable[[Coroutine[Any, Any, None]], None]


def message_text(data: bytes) -> str:
    """One message's bytes as text: invalid UTF-8 replaced, trailing line ends and NULs removed."""
    return data.decode("utf-8", errors="replace").rstrip("\r\n\0")


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
                message = message_text(bytes(buffer[: self.max_message]))
                del buffer[: self.max_message]
                return [message]
            return []
        lines = bytes(buffer[:end]).split(b"\n")
        del buffer[: end + 1]
        return [message_text(line) for line in lines if line.strip(b"\r\0 ")]

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
            messages.append(message_text(bytes(buffer[space + 1 : end])))
            position = end
        del buffer[:position]
        return [m for m in messages if m.strip()]

    def finish(self) -> list[str]:
        """At end of stream: a last LF-framed line without its line feed is still a message."""
        rest = bytes(self._buffer).strip(b"\r\n\0 ")
        self._buffer.clear()
        if rest and not self.octet_counting:
            return [message_text(rest)]
        if rest:
            log.warning("syslog: connection closed inside an octet-counted frame (%d bytes)", len(rest))
        return []


@dataclass(slots=True)
class SyslogStats:
    """Counters that make any loss visible."""

    received: int = 0
    udp_dropped: int = 0
    framing_errors: int = 0
    connections: int = 0


class SyslogConnection(asyncio.Protocol):
    """One TCP or TLS syslog connection: frames what arrives and hands it to the spool, in order.

    `live` is the listener's set of connections whose transport is still open, so that `stop` can
    shut them down; `spawn` starts (and tracks) the task that feeds the spool.
    """

    def __init__(
        self, channel: str, transport_name: str, stats: SyslogStats, submit: Submit, spawn: Spawn,
        live: set[SyslogConnection],
    ) -> None:  # fmt: skip
        self.channel = channel
        self.stats = stats
        self.meta = {"peer": "", "transport": transport_name}
        self.framer = SyslogFramer()
        self._submit = submit
        self._spawn = spawn
        self._live = live
        self._transport: asyncio.Transport | None = None
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._ended = False  # no more data is taken: EOF, connection lost, framing error or shutdown
        self._paused = False
        self._overloaded = False

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the connection and start the task that hands its messages to the spool."""
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("", 0)
        self.meta["peer"] = f"{peer[0]}:{peer[1]}"
        self.stats.connections += 1
        self._live.add(self)
        self._spawn(self._pump())

    def data_received(self, data: bytes) -> None:
        """Frame at once: bytes the transport delivered are never left in a buffer that can be dropped."""
        if self._ended:
            return
        try:
            messages = self.framer.feed(data)
        except ValueError as exc:
            self.stats.framing_errors += 1
            log.warning(
                "syslog %s from %s: %s; closing the connection",
                self.meta["transport"],
                self.meta["peer"],
                exc,
            )
            self._end(flush=False)
            if self._transport is not None:
                self._transport.close()
            return
        self._queue(messages)

    def eof_received(self) -> bool:
        """The peer finished sending; returning False lets the transport close (`connection_lost` follows)."""
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Flush the framer whatever the cause: what arrived before an abrupt close is still spooled."""
        if exc is not None:
            log.info("syslog %s from %s: %s", self.meta["transport"], self.meta["peer"], exc)
        self._end(flush=True)
        self._live.discard(self)
        self._lost.set()

    # -- used by the listener

    def shutdown(self) -> None:
        """Server stopping: read no more, hand over what was read, and close the connection."""
        self._end(flush=True)
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection at once (after the grace period of a shutdown)."""
        self._end(flush=False)
        if self._transport is not None:
            self._transport.abort()

    async def wait_closed(self) -> None:
        """Return once the transport is gone (for TLS, after the closing handshake)."""
        await self._lost.wait()

    # -- internals

    def _queue(self, messages: list[str]) -> None:
        if messages:
            self._pending += messages
            self._pending_bytes += sum(len(m) for m in messages)
            self._wake.set()
        self._throttle()

    def _end(self, flush: bool) -> None:
        if self._ended:
            return
        self._ended = True
        if flush:
            self._queue(self.framer.finish())
        self._wake.set()

    def _throttle(self) -> None:
        """Pause reading while too much waits or the spool refuses; resume once it drains."""
        if self._transport is None or self._ended:
            return
        pause = self._overloaded or self._pending_bytes >= HIGH_WATER
        if pause and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        elif not pause and self._paused:
            self._paused = False
            self._transport.resume_reading()

    def _on_overload(self) -> None:
        self._overloaded = True
        self._throttle()

    async def _pump(self) -> None:
        """Hand pending messages to the spool in order until the connection ends and nothing is left."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._pending:
                    messages, self._pending, self._pending_bytes = self._pending, [], 0
                    self._throttle()
                    envelopes = [Envelope(self.channel, m, self.meta) for m in messages]
                    if not await self._submit(envelopes, self._on_overload):
                        self._pending.clear()
                        self.abort()
                        return
                    self._overloaded = False
                    self._throttle()
                if self._ended:
                    return
        except asyncio.CancelledError:
            self.abort()
            raise
        except Exception:
            log.exception("syslog %s from %s: cannot spool", self.meta["transport"], self.meta["peer"])
            self.abort()
