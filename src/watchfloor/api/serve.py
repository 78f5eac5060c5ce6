"""`watchfloor serve`: the API, the listeners, the spool and its consumer, in one process.

(One helper process: the consumer decodes spooled events in a worker process, so that decoding does
not compete for the interpreter with the listeners and detection; `watchfloor.ingest.chunk_decoding`.)

Start-up order makes acknowledgement safe: the spool is recovered (torn tails truncated) and the
consumer has replayed any chunk a crash interrupted before a single socket is opened. Every socket is
bound here, so a port in use is one clear error, and port 0 picks a free port (the printed addresses
are the real ones). On SIGTERM or SIGINT the listeners stop accepting, the HTTP servers finish their
requests, the consumer stores what is committed and checkpoints, and the spool is closed.

Streaming detection (`streaming_detection = false` in watchfloor.toml turns it off) runs on its own
thread: the consumer's store tells it after each append, it evaluates the new parts with the
installation's rules and hands its alerts to incident management here (detect may not import cases).
It is stopped after the consumer, so what was stored on the way down is evaluated too.

The canary (`[canary]`, see `watchfloor.api.canary`) ticks on a thread of its own: its synthetic
alerts come back through the same hand-off, which passes them to the canary instead of the queues.

Threat intel (`watchfloor.api.intel_stream`): each appended table is also offered to the streaming
intel matcher (`[intel] streaming = false` turns it off), whose alerts take the same hand-off to
incidents, and feeds are pulled every `[intel] pull_interval` (default 1h, 0 disables).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import uvicorn

from watchfloor.api.app import create_app
from watchfloor.api.automation import MajorReminders, recover_playbooks
from watchfloor.api.canary import canary_scheduler
from watchfloor.api.intel_stream import IntelStream, PullScheduler, pull_interval, streaming_enabled
from watchfloor.cases import Database, from_detection, open_database, receive_alerts
from watchfloor.config import CONFIG_FILE_NAME, Settings
from watchfloor.detect import Alert, AlertStore, RuleLibrary, StreamingDetector, is_synthetic
from watchfloor.errors import ConfigError, Location
from watchfloor.ingest import QuarantineWriter
from watchfloor.ingest.chunk_decoding import WorkerProcessDecoder
from watchfloor.ingest.listeners import live_decoders
from watchfloor.ingest.listeners.hec import hec_app
from watchfloor.ingest.listeners.otlp import otlp_app
from watchfloor.ingest.listeners.syslog import SyslogListener
from watchfloor.ingest.live import LiveConsumer
from watchfloor.ingest.spool import Spool, SpoolLimits
from watchfloor.respond import playbooks_dir
from watchfloor.respond.handoff import Automation
from watchfloor.store import EventStore, open_store

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


class _NotifyingStore:
    """The event store as the consumer sees it: each append also wakes streaming detection and intel.

    Listeners get the appended table and must return at once (they queue work for their own threads).
    """

    def __init__(self, store: EventStore, listeners: Sequence[Callable[[pa.Table], None]]) -> None:
        self.store = store
        self.listeners = tuple(listeners)

    def append(self, table: pa.Table) -> int:
        stored = self.store.append(table)
        for listener in self.listeners:
            listener(table)
        return stored

    def query(self, sql: str, limit: int | None = None) -> pa.Table:
        return self.store.query(sql, limit)


class _IncidentHandoff:
    """Alerts of streaming detection into incident management (the database is opened on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.database: Database | None = None
        self.automation = Automation.for_settings(settings)
        self._playbooks_seen = self._playbooks_stamp()
        #: Where canary (synthetic) alerts go instead: they never reach the analyst queues.
        self.observe: Callable[[Sequence[Alert]], None] | None = None

    def __call__(self, alerts: Sequence[Alert]) -> None:
        synthetic = [a for a in alerts if is_synthetic(a)]
        if synthetic and self.observe is not None:
            self.observe(synthetic)
        alerts = [a for a in alerts if not is_synthetic(a)]
        if not alerts:
            return
        if self.database is None:
            self.database = open_database(self.settings.db or None, self.settings.data_dir)
        stamp = self._playbooks_stamp()
        if stamp != self._playbooks_seen:  # saved or deleted over the API: applies to the next alerts
            self.automation, self._playbooks_seen = Automation.for_settings(self.settings), stamp
        with self.database.session() as session:
            queued = self.automation.queue(session, receive_alerts(session, from_detection(alerts)))
        self.automation.run(self.database, queued)  # after the commit, as `watchfloor detect` does

    def _playbooks_stamp(self) -> int:
        try:
            return playbooks_dir(self.settings.data_dir).stat().st_mtime_ns
        except OSError:
            return 0

    def close(self) -> None:
        if self.database is not None:
            self.database.close()


def _streaming_detector(
    settings: Settings, store: EventStore
) -> tuple[StreamingDetector, _IncidentHandoff] | None:
    """The detector `serve` runs, unless `streaming_detection = false` (it idles while no rule is active)."""
    enabled = settings.extra.get("streaming_detection", True)
    if not isinstance(enabled, bool):
        raise ConfigError(
            "must be true or false",
            Location(str(settings.data_dir / CONFIG_FILE_NAME), field="streaming_detection"),
        )
    if not enabled:
        return None
    handoff = _IncidentHandoff(settings)
    detector = StreamingDetector(
        store,
        RuleLibrary.from_settings(settings),
        AlertStore(settings.data_dir / "alerts"),
        settings.data_dir / "detect" / "stream_state.json",
        handoff,
    )
    return detector, handoff


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
    store = open_store(settings.events_dir)
    streaming = _streaming_detector(settings, store)
    listeners: list[Callable[[pa.Table], None]] = []
    if streaming is not None:
        streaming[0].initialize()  # before recovery stores anything: what recovery stores is evaluated
        detector = streaming[0]
        listeners.append(lambda _table: detector.notify())
    intel_handoffs: list[_IncidentHandoff] = []  # made on the first intel alert: start-up stays quick

    def intel_handoff(alerts: Sequence[Alert]) -> None:
        if not intel_handoffs:
            intel_handoffs.append(_IncidentHandoff(settings))
        intel_handoffs[0](alerts)

    intel = IntelStream(settings, intel_handoff) if streaming_enabled(settings) else None
    if intel is not None:
        listeners.append(intel.offer)
    interval = pull_interval(settings)
    pulls = PullScheduler(settings, interval) if interval > 0 else None
    sink: EventStore | _NotifyingStore = _NotifyingStore(store, listeners) if listeners else store
    spool = Spool(settings.spool_dir, SpoolLimits.from_settings(settings))
    consumer = LiveConsumer(
        spool,
        sink,
        # Decoding off the listeners' and detection's interpreter (its scratch files are cache).
        WorkerProcessDecoder(live_decoders, settings.data_dir / "cache" / "decoding"),
        QuarantineWriter(settings.quarantine_dir),
    )
    canary = canary_scheduler(settings, store, streaming[0] if streaming is not None else None)
    if canary is not None and streaming is not None:
        streaming[1].observe = canary[0].monitor.observe
    recovery = recover_playbooks(settings, echo)
    reminders = MajorReminders(settings)  # overdue major-incident updates, every `reminder_interval`
    reminders.start()
    try:
        if intel is not None:
            intel.start()
        consumer.start()
        if streaming is not None:
            streaming[0].start()
        if pulls is not None:
            pulls.start()
        if canary is not None:
            canary[0].start()
        asyncio.run(_run(settings, spool, echo))
    finally:
        if canary is not None:
            canary[0].stop()
            canary[1].close()
        if pulls is not None:
            pulls.stop()
        consumer.stop()
        spool.close()
        reminders.stop()
        recovery.join(timeout=10)  # runs left pending are settled at the next start
        stats = consumer.stats
        echo(f"stopped: {stats.stored} events stored, {stats.quarantined} quarantined this run")
        if streaming is not None:
            streaming[0].stop()
            streaming[1].close()
            found = streaming[0].stats
            echo(f"detection: {found.alerts} new alerts from {found.parts} stored parts this run")
        if intel is not None:
            intel.stop()
            matched = intel.stats
            dropped = f", {matched.dropped} events skipped (queue full)" if matched.dropped else ""
            echo(
                f"intel: {matched.alerts} new alerts from {matched.batches} stored batches this run{dropped}"
            )
        for handoff in intel_handoffs:
            handoff.close()
