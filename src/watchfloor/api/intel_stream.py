"""Threat intel under `watchfloor serve`: streaming matching of stored batches and scheduled feed pulls.

Streaming matching runs off the ingestion path. The consumer's store offers each appended table to
`IntelStream.offer`, which only puts it on a bounded queue: acknowledgement never waits for intel.
When the queue is full the table is dropped from intel matching with a logged warning (the events
are stored; `watchfloor intel hunt` or `detect` retro-hunts them). A worker thread matches each table
against every live indicator in memory (`intel.match_batch`), records the matches as sightings and
deduplicated alerts (`cases.record_intel_matches`) and hands the new alerts to incident management
through the same hand-off as streaming detection.

The in-memory index is rebuilt when the intel store changed (a pull, a feed added over the API or
the CLI): the fingerprint is the DuckDB file's and its WAL's modification time and size, checked at
most every `refresh_s` seconds, plus a full rebuild every `max_age_s` so decay and expiry apply. The
worker's own sighting writes change the file too; those are adopted without a rebuild.

`PullScheduler` fetches every feed every `[intel] pull_interval` (default "1h", 0 disables); a failing
feed is logged and recorded on the feed, never fatal.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from watchfloor.cases import record_intel_matches
from watchfloor.config import CONFIG_FILE_NAME, Settings
from watchfloor.detect import Alert, AlertStore
from watchfloor.errors import ConfigError, Location
from watchfloor.intel import IndicatorIndex, intel_store, live_index, match_batch, pull

__all__ = ["IntelStream", "PullScheduler", "StreamStats", "pull_interval", "streaming_enabled"]

log = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_Fingerprint = tuple[int, int, int, int]


def _intel_table(settings: Settings) -> dict[str, object]:
    table = settings.extra.get("intel", {})
    return table if isinstance(table, dict) else {}


def _where(field: str, settings: Settings) -> Location:
    return Location(str(settings.data_dir / CONFIG_FILE_NAME), field=f"intel.{field}")


def pull_interval(settings: Settings) -> float:
    """`[intel] pull_interval` in seconds: "1h" by default, "30m", "90s", a number of seconds; 0 disables."""
    raw = _intel_table(settings).get("pull_interval", "1h")
    if isinstance(raw, bool):
        raise ConfigError("must be a duration such as 1h, 30m or 0", _where("pull_interval", settings))
    if isinstance(raw, int | float):
        seconds = float(raw)
    else:
        text = str(raw).strip().lower()
        unit = _UNITS.get(text[-1:])
        number = text[:-1] if unit else text
        try:
            seconds = float(number) * (unit or 1)
        except ValueError:
            raise ConfigError(
                f"{raw!r} is not a duration such as 1h, 30m or 0", _where("pull_interval", settings)
            ) from None
    if seconds < 0:
        raise ConfigError("must not be negative", _where("pull_interval", settings))
    return seconds


def streaming_enabled(settings: Settings) -> bool:
    """`[intel] streaming` (default true): match stored batches as they arrive."""
    value = _intel_table(settings).get("streaming", True)
    if not isinstance(value, bool):
        raise ConfigError("must be true or false", _where("streaming", settings))
    return value


def _stat(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return 0, 0
    return info.st_mtime_ns, info.st_size


@dataclass(slots=True)
class StreamStats:
    """What streaming intel matching did this run (printed at shutdown)."""

    batches: int = 0
    matches: int = 0
    alerts: int = 0
    dropped: int = 0
    rebuilds: int = 0
    errors: int = 0


class IntelStream:
    """A bounded queue of stored tables and the worker that matches them (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        handoff: Callable[[Sequence[Alert]], None],
        *,
        max_queue: int = 64,
        refresh_s: float = 2.0,
        max_age_s: float = 600.0,
    ) -> None:
        self.settings = settings
        self.handoff = handoff
        self.refresh_s = refresh_s
        self.max_age_s = max_age_s
        self.stats = StreamStats()
        self._store = intel_store(settings)
        self._alerts = AlertStore(settings.data_dir / "alerts")
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=max_queue)
        self._index: IndicatorIndex | None = None
        self._fingerprint: _Fingerprint = (0, 0, 0, 0)
        self._checked = 0.0
        self._built = 0.0
        self._last_warning = 0.0
        self._thread: threading.Thread | None = None

    # -- the ingestion side: never blocks ---------------------------------------------------------
    def offer(self, table: pa.Table) -> None:
        """Queue a stored table for matching; when the queue is full, drop it from intel with a warning."""
        if table.num_rows == 0:
            return
        try:
            self._queue.put_nowait(table)
        except queue.Full:
            self.stats.dropped += table.num_rows
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                log.warning(
                    "intel matching is behind: %d stored events so far skipped by streaming intel "
                    "(they are stored; `watchfloor intel hunt` retro-hunts them)",
                    self.stats.dropped,
                )

    # -- the worker ---------------------------------------------------------------------------------
    def _current(self) -> _Fingerprint:
        return (*_stat(self._store.path), *_stat(self._store.path.with_name(self._store.path.name + ".wal")))

    def index(self) -> IndicatorIndex:
        """The live indicators in memory, rebuilt when the store changed (checked every `refresh_s`)."""
        now = time.monotonic()
        if self._index is not None and now - self._checked < self.refresh_s:
            return self._index
        self._checked = now
        current = self._current()
        stale = now - self._built > self.max_age_s
        if self._index is None or current != self._fingerprint or stale:
            self._index = live_index(self.settings)
            self._fingerprint = self._current()
            self._built = now
            self.stats.rebuilds += 1
        return self._index

    def match(self, table: pa.Table) -> list[Alert]:
        """Match one table now, record sightings and alerts; returns the new alerts (handed off too)."""
        index = self.index()
        self.stats.batches += 1
        if len(index) == 0:
            return []
        matches = match_batch(index, table)
        if not matches:
            return []
        before = self._current()
        alerts = record_intel_matches(self.settings, matches, self._alerts)
        if before == self._fingerprint:
            self._fingerprint = self._current()  # our own sightings: the live set did not change
        self.stats.matches += len(matches)
        self.stats.alerts += len(alerts)
        if alerts:
            self.handoff(alerts)
        return alerts

    def _run(self) -> None:
        while True:
            table = self._queue.get()
            if table is None:
                return
            try:
                self.match(table)
            except Exception:  # one bad batch or a busy intel file must not stop matching
                self.stats.errors += 1
                log.exception("streaming intel matching failed for a batch of %d events", table.num_rows)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name="watchfloor-intel-stream", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Match what is queued, then stop (after the consumer stopped, so nothing more arrives)."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None


class PullScheduler:
    """Pulls every feed every `interval` seconds on a thread; errors are logged per feed.

    A feed never pulled, or last pulled longer than `interval` ago (the server was down), is due
    `settle_s` after start-up, so restarts never starve the schedule.
    """

    def __init__(self, settings: Settings, interval: float, settle_s: float = 5.0) -> None:
        self.settings = settings
        self.interval = interval
        self.settle_s = settle_s
        self.pulls = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pull_once(self) -> None:
        """Fetch every feed now; a feed's error is logged (and recorded on the feed), never raised."""
        if not intel_store(self.settings).exists():
            return
        try:
            results = pull(self.settings)
        except Exception:
            log.exception("scheduled intel pull failed")
            return
        self.pulls += 1
        for result in results:
            if result.error:
                log.warning("scheduled intel pull: feed %s failed: %s", result.feed, result.error)

    def _first_delay(self) -> float:
        """Seconds until the first pull: soon when a feed is overdue, else when the oldest one is due."""
        store = intel_store(self.settings)
        if not store.exists():
            return self.interval
        try:
            feeds = store.feeds()
        except Exception:  # the store is busy or broken: try again on the normal schedule
            log.exception("intel feeds could not be read for the pull schedule")
            return self.interval
        now = dt.datetime.now(dt.UTC)
        ages = [(now - f.last_pull).total_seconds() if f.last_pull else math.inf for f in feeds]
        if not ages:
            return self.interval
        return max(self.settle_s, self.interval - max(ages))

    def _run(self) -> None:
        delay = self._first_delay()
        while not self._stop.wait(delay):
            self.pull_once()
            delay = self.interval

    def start(self) -> None:
        """Start the schedule (overdue feeds are pulled `settle_s` after start-up)."""
        self._thread = threading.Thread(target=self._run, name="watchfloor-intel-pull", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the schedule; a pull in progress finishes first (up to `timeout`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
