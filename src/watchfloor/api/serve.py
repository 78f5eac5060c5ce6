"""`watchfloor serve`: the API, the listeners, the spool and its consumer, in one process.

Start-up order makes acknowledgement safe: the spool is recovered (torn tails truncated) and the
consumer has replayed any chunk a crash interrupted before a single socket is opened. Every socket is
bound here, so a port in use is one clear error, and port 0 picks a free port (the printed addresses
are the real ones). On SIGTERM or SIGINT the listeners stop accepting, the HTTP servers finish their
requests, the consumer stores what is committed and checkpoints, and the spool is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from watchfloor.api.app import create_app
from watchfloor.config import CONFIG_FILE_NAME, Settings
from watchfloor.errors import ConfigError
from watchfloor.ingest import QuarantineWriter, default_registry
from watchfloor.ingest.listeners import channel_decoders, live_mappings
from watchfloor.ingest.listeners.hec import hec_app
from watchfloor.ingest.listeners.otlp import otlp_app
from watchfloor.ingest.listeners.syslog import SyslogListener
from watchfloor.ingest.live import LiveConsumer
from watchfloor.ingest.spool import Spool, SpoolLimits
from watchfloor.store import open_store

__all__ = ["serve"]

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` owns the signals for every server at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True, slots=True)
class _Http:
    name: str
    app: Any
    port: int
    tls: bool = False


def _listen(host: str, port: int, what: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        raise ConfigError(f"cannot listen for {what} on {host}:{port}: {exc.strerror or exc}") from exc


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None and settings.tls_key is None:
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise ConfigError("TLS needs both tls_cert and tls_key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS certificate {settings.tls_cert}: {exc}") from exc
    return context


async def _run(settings: Settings, spool: Spool, echo: Callable[[str], None]) -> None:
    tls = _tls_context(settings)
    https = [
        _Http("api", create_app(settings, spool), settings.api_port),
        _Http(
            "hec",
            hec_app(spool, settings.hec_tokens, lambda: spool.overloaded),
            settings.hec_port,
            tls is not None,
        ),
        _Http("otlp", otlp_app(spool, settings.otlp_tokens), settings.otlp_port),
    ]
    servers: list[_Server] = []
    tasks: list[asyncio.Task[None]] = []
    syslog = SyslogListener(spool)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        addresses: list[str] = []
        for http in https:
            sock = _listen(settings.host, http.port, http.name)
            config = uvicorn.Config(
                http.app,
                lifespan="off",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=10,
                ssl_certfile=str(settings.tls_cert) if http.tls else None,
                ssl_keyfile=str(settings.tls_key) if http.tls else None,
            )
            server = _Server(config)
            servers.append(server)
            tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
            host, port = sock.getsockname()[:2]
            addresses.append(f"{http.name} {'https' if http.tls else 'http'}://{host}:{port}")
        tls_port = settings.syslog_tls_port if tls is not None else None
        await syslog.start(settings.host, settings.syslog_port, tls_port, tls)
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                raise ConfigError("an HTTP server failed to start (see the log above)")
            await asyncio.sleep(0.01)
        for line in addresses + syslog.addresses:
            echo(f"listening: {line}")
        if not settings.hec_tokens:
            echo(
                "HEC refuses every request until a token is configured: add "
                f'hec_tokens = ["<a long random token>"] to {settings.data_dir / CONFIG_FILE_NAME}'
            )
        echo(f"watchfloor serve ready (data in {settings.data_dir}); SIGTERM or Ctrl+C stops")
        await stop.wait()
        echo("stopping: finishing requests, storing what is spooled")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await syslog.stop()
        for server in servers:
            server.should_exit = True
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def serve(settings: Settings, echo: Callable[[str], None]) -> None:
    """Run until SIGTERM or SIGINT; raises `ConfigError` if a port cannot be bound."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spool = Spool(settings.spool_dir, SpoolLimits.from_settings(settings))
    consumer = LiveConsumer(
        spool,
        open_store(settings.events_dir),
        channel_decoders(),
        live_mappings(default_registry().mappings()),
        QuarantineWriter(settings.quarantine_dir),
    )
    try:
        consumer.start()
        asyncio.run(_run(settings, spool, echo))
    finally:
        consumer.stop()
        spool.close()
        stats = consumer.stats
        echo(f"stopped: {stats.stored} events stored, {stats.quarantined} quarantined this run")
