"""The canary beside `serve`, and the one way health alerts reach incident management.

`serve` runs a `CanaryScheduler` thread that ticks the installation's `CanaryMonitor` (see
`watchfloor.detect.canary_monitor`) a few times per wait: an injection wakes streaming detection,
whose hand-off passes the synthetic alerts to `CanaryMonitor.observe` instead of incident management;
the health alerts a tick raises (missed canaries, silent sources) are stored in
`<data>/canary/alerts.jsonl` and received into the `health` queue (`deliver_health`). Detection lives
below incident management, so this hand-off sits here, beside the other one in `serve`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from watchfloor.cases import Actor, Database, IntakeResult, from_detection, open_database, receive_alerts
from watchfloor.config import Settings
from watchfloor.detect import (
    HEALTH_QUEUE,
    Alert,
    AlertStore,
    CanaryMonitor,
    CanaryPolicy,
    RuleLibrary,
    StreamingDetector,
    TickOutcome,
)
from watchfloor.store import EventStore

__all__ = ["CanaryScheduler", "HealthHandoff", "canary_monitor", "canary_scheduler", "deliver_health"]

log = logging.getLogger(__name__)


def deliver_health(database: Database, alerts: Sequence[Alert]) -> IntakeResult:
    """Receive Watchfloor's health alerts into the `health` queue (the routing reason says why)."""
    incoming = [replace(a, queue=HEALTH_QUEUE) for a in from_detection(alerts)]
    with database.session() as session:
        return receive_alerts(session, incoming, actor=Actor.system("canary"))


class HealthHandoff:
    """Health alerts of the canary: stored apart, then received (the database opened on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.alerts = AlertStore(settings.data_dir / "canary")
        self.database: Database | None = None

    def __call__(self, alerts: Sequence[Alert]) -> None:
        """Store the alerts and receive them into the `health` queue."""
        self.alerts.add(alerts)
        if self.database is None:
            self.database = open_database(self.settings.db or None, self.settings.data_dir)
        deliver_health(self.database, alerts)

    def close(self) -> None:
        """Close the database if it was opened."""
        if self.database is not None:
            self.database.close()


def canary_monitor(settings: Settings, store: EventStore, synchronous: bool) -> CanaryMonitor:
    """The installation's canary over its rule library (`synchronous`: detect injected parts itself)."""
    library = RuleLibrary.from_settings(settings)
    return CanaryMonitor(
        store,
        library.snapshot,
        CanaryPolicy.from_settings(settings),
        settings.data_dir / "canary",
        synchronous,
    )


class CanaryScheduler:
    """Ticks the monitor on its own thread; a failing tick is logged and retried, never fatal."""

    def __init__(
        self,
        monitor: CanaryMonitor,
        deliver: Callable[[Sequence[Alert]], None],
        wake: Callable[[], None] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.monitor = monitor
        self.deliver = deliver
        self.wake = wake
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.period = min(5.0, max(0.1, monitor.policy.wait / 4))
        self.errors = 0
        #: Health alerts whose delivery failed: offered again on the next tick (the monitor raises
        #: each one only once, so none may be dropped).
        self.undelivered: list[Alert] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> TickOutcome:
        """One tick now: wake detection after an injection, hand on the health alerts."""
        outcome = self.monitor.tick(self.clock())
        if outcome.injected is not None and outcome.injected.parts and self.wake is not None:
            self.wake()
        for result in outcome.results:
            if not result.passed:
                log.warning("canary missed: %s (%s): %s", result.title, result.rule_id, result.reason)
        waiting = [*self.undelivered, *outcome.health]
        if waiting:
            self.undelivered = waiting
            self.deliver(waiting)
            self.undelivered = []
        return outcome

    def start(self) -> None:
        """Tick from now on, the first at once."""
        self._thread = threading.Thread(target=self._run, name="watchfloor-canary", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop ticking (a tick under way finishes)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception:  # the canary must never take the server down
                self.errors += 1
                log.exception("canary tick failed (retrying)")
            self._stopping.wait(self.period)


def canary_scheduler(
    settings: Settings, store: EventStore, detector: StreamingDetector | None
) -> tuple[CanaryScheduler, HealthHandoff] | None:
    """The scheduler `serve` runs, unless `[canary]` turns off both injection and silent sources."""
    monitor = canary_monitor(settings, store, synchronous=detector is None)
    if not monitor.policy.enabled and not monitor.policy.silent_sources:
        return None
    handoff = HealthHandoff(settings)
    wake = detector.notify if detector is not None else None
    return CanaryScheduler(monitor, handoff, wake), handoff
