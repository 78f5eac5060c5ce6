"""The canary's schedule and memory: when to inject, when to judge, and which sources went quiet.

`CanaryMonitor.tick(now)` is the whole schedule, driven by whoever owns a clock (`serve`'s canary thread,
or a test with a controlled one):

1. when the interval has passed since the last run, inject every target rule's positive samples
   (`canary.inject`); with no streaming detection to evaluate them, detect over just those parts now;
2. a pending run is judged once every target's alert was observed (`observe`, fed by the hand-off of
   streaming detection) or its wait (`timeout`, else the interval) is over. A rule whose alert did
   not appear gets a health alert `watchfloor:canary:<rule id>` the first time it fails (once per
   failure streak); a rule that passes again is recorded as recovered and closes nothing;
3. every source with an expected interval (configured under `[sources.NAME]`, else learned: the
   median gap between its deliveries over the history window, times `silence_factor`, at least
   `min_silence`; deliveries are its stored parts, those less than a minute apart counted as one,
   and three gaps are needed to learn) that has stored nothing for longer raises
   `watchfloor:silent-source:<name>` once per silence; its next part is recorded as a recovery.
   The canary's own parts never count as a source's traffic.

State lives in `<data>/canary/state.json`, replaced atomically after every tick that changed it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import statistics
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from watchfloor.detect.alerts import Alert
from watchfloor.detect.canary import (
    CANARY_RULE_PREFIX,
    SILENT_RULE_PREFIX,
    CanaryPolicy,
    CanaryResult,
    Injection,
    detect_injected,
    fired_targets,
    health_alert,
    inject,
    is_synthetic,
    judge,
)
from watchfloor.detect.errors import RuleError
from watchfloor.detect.library import RuleSnapshot
from watchfloor.errors import Location
from watchfloor.store import EventStore, StoredPart

__all__ = [
    "CanaryMonitor",
    "CanaryState",
    "RuleHealth",
    "SourceExpectation",
    "SourceHealth",
    "TickOutcome",
    "source_expectations",
]

STATE_VERSION = 1
#: Parts of one source written less than this apart are one delivery (a file import writes many).
DELIVERY_GAP_NS = 60 * 10**9
#: Gaps between deliveries needed before an interval is learned.
MIN_GAPS = 3
#: Most transitions kept in the state's log.
LOG_LIMIT = 500


@dataclass(slots=True)
class RuleHealth:
    """One rule's canary record."""

    title: str = ""
    last_success: str | None = None
    last_failure: str | None = None
    failing: bool = False
    consecutive_failures: int = 0
    reason: str = ""
    last_recovery: str | None = None


@dataclass(slots=True)
class SourceHealth:
    """One source's silence record: its expected interval (seconds), last part and silences."""

    expected: float | None = None
    learned: bool = True
    last_part: str | None = None
    silent_since: str | None = None
    silences: int = 0
    last_recovery: str | None = None


@dataclass(slots=True)
class CanaryState:
    """Everything the canary remembers between ticks and restarts."""

    last_run: str | None = None
    last_run_at: str | None = None
    last_results: list[dict[str, Any]] = field(default_factory=list)
    pending: Injection | None = None
    fired: set[int] = field(default_factory=set)
    rules: dict[str, RuleHealth] = field(default_factory=dict)
    sources: dict[str, SourceHealth] = field(default_factory=dict)
    canary_parts: set[str] = field(default_factory=set)
    last_source_check: str | None = None
    log: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The state file's document."""
        return {
            "version": STATE_VERSION,
            "last_run": self.last_run,
            "last_run_at": self.last_run_at,
            "last_results": self.last_results,
            "pending": self.pending.to_json() if self.pending else None,
            "fired": sorted(self.fired),
            "rules": {k: asdict(v) for k, v in sorted(self.rules.items())},
            "sources": {k: asdict(v) for k, v in sorted(self.sources.items())},
            "canary_parts": sorted(self.canary_parts),
            "last_source_check": self.last_source_check,
            "log": self.log[-LOG_LIMIT:],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CanaryState:
        """Parse the state file's document; `KeyError`/`ValueError`/`TypeError` when malformed."""
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"unknown canary state version {doc.get('version')!r}")
        return cls(
            doc["last_run"],
            doc["last_run_at"],
            list(doc["last_results"]),
            Injection.from_json(doc["pending"]) if doc["pending"] else None,
            {int(i) for i in doc["fired"]},
            {str(k): RuleHealth(**v) for k, v in doc["rules"].items()},
            {str(k): SourceHealth(**v) for k, v in doc["sources"].items()},
            {str(p) for p in doc["canary_parts"]},
            doc["last_source_check"],
            list(doc["log"]),
        )

    @classmethod
    def read(cls, path: Path) -> CanaryState:
        """The saved state (a fresh one when there is none); a damaged file is a `RuleError`."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        try:
            return cls.from_json(json.loads(text))
        except (json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
            raise RuleError(f"damaged canary state: {exc}", Location(str(path))) from exc

    def write(self, path: Path, unless: str | None = None) -> str:
        """Replace the file atomically (temporary file, fsync, rename); returns the text written.

        Nothing is written when the text equals `unless` (the last text written): most ticks change
        nothing, and the file is then left alone.
        """
        text = json.dumps(self.to_json(), indent=1)
        if text == unless:
            return text
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        return text

    def note(self, when: dt.datetime, what: str, subject: str, detail: str = "") -> None:
        """Append one transition to the log."""
        self.log.append({"time": _iso(when), "event": what, "subject": subject, "detail": detail})
        del self.log[:-LOG_LIMIT]


@dataclass(frozen=True, slots=True)
class SourceExpectation:
    """How long a source may be quiet (None: unknown), whether learned, and its newest real part."""

    source: str
    expected: float | None
    learned: bool
    last_ns: int


@dataclass(frozen=True, slots=True)
class TickOutcome:
    """What one tick did: the injection it made, the run it judged, the health alerts it raised."""

    injected: Injection | None = None
    results: tuple[CanaryResult, ...] = ()
    health: tuple[Alert, ...] = ()
    recoveries: tuple[str, ...] = ()


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat()


def _ns(when: dt.datetime) -> int:
    return int(when.timestamp() * 10**9)


def source_expectations(
    parts: Iterable[StoredPart], canary: set[str], policy: CanaryPolicy, now: dt.datetime
) -> list[SourceExpectation]:
    """Every source's expected interval (configured, else learned from its deliveries) and last part."""
    since = _ns(now) - int(policy.history * 10**9)
    by_source: dict[str, list[int]] = {}
    for part in parts:
        if part.name not in canary:
            by_source.setdefault(part.source, []).append(part.written_ns)
    out = []
    for source, times in sorted(by_source.items()):
        times.sort()
        if source in policy.expected:
            out.append(SourceExpectation(source, policy.expected[source], False, times[-1]))
            continue
        starts: list[int] = []
        for written in (t for t in times if t >= since):
            if not starts or written - starts[-1] > DELIVERY_GAP_NS:
                starts.append(written)
        gaps = [(b - a) / 10**9 for a, b in itertools.pairwise(starts)]
        expected = None
        if len(gaps) >= MIN_GAPS:
            expected = max(policy.min_silence, policy.silence_factor * statistics.median(gaps))
        out.append(SourceExpectation(source, expected, True, times[-1]))
    return out


class CanaryMonitor:
    """The canary of one installation; `tick` and `observe` may be called from different threads."""

    def __init__(
        self,
        store: EventStore,
        rules: Callable[[], RuleSnapshot],
        policy: CanaryPolicy,
        root: Path,
        synchronous: bool = False,
    ) -> None:
        self.store = store
        self.rules = rules
        self.policy = policy
        self.root = root
        self.state_path = root / "state.json"
        self.synchronous = synchronous
        self.state = CanaryState.read(self.state_path)
        self._saved: str | None = None
        self._lock = threading.RLock()

    # -- observing -----------------------------------------------------------------------------
    def observe(self, alerts: Iterable[Alert]) -> None:
        """Synthetic alerts as detection raised them: the pending run's targets they prove alive."""
        with self._lock:
            pending = self.state.pending
            if pending is not None:
                self.state.fired |= fired_targets(pending, (a for a in alerts if is_synthetic(a)))

    # -- the schedule --------------------------------------------------------------------------
    def due(self, now: dt.datetime) -> bool:
        """Whether a new injection is due (none pending, and the interval passed since the last)."""
        if not self.policy.enabled or self.state.pending is not None:
            return False
        last = self.state.last_run_at
        return last is None or (now - dt.datetime.fromisoformat(last)).total_seconds() >= self.policy.interval

    def tick(self, now: dt.datetime) -> TickOutcome:
        """One step of the schedule at `now` (see the module docstring); the state is saved."""
        with self._lock:
            injected = self.inject_now(now) if self.due(now) else None
            results: list[CanaryResult] = []
            health: list[Alert] = []
            recoveries: list[str] = []
            pending = self.state.pending
            if pending is not None:
                waited = (now - pending.started).total_seconds()
                every = {t.index for t in pending.targets} <= self.state.fired
                if every or waited >= self.policy.wait:
                    results = judge(pending, self.state.fired, self.policy.wait)
                    found, back = self._record(pending, results, now)
                    health += found
                    recoveries += back
            if self.policy.silent_sources and self._sources_due(now):
                found, back = self.check_sources(now)
                health += found
                recoveries += back
            self._saved = self.state.write(self.state_path, self._saved)
            return TickOutcome(injected, tuple(results), tuple(health), tuple(recoveries))

    def inject_now(self, now: dt.datetime) -> Injection:
        """Inject every target's samples now; the run is pending until judged (synchronous: detected)."""
        with self._lock:
            snapshot = self.rules()
            injection = inject(self.store, snapshot.loaded.rules, self.root / "scratch", now)
            self.state.last_run, self.state.last_run_at = injection.run_id, _iso(now)
            self.state.canary_parts |= set(injection.parts)
            if injection.targets:
                self.state.pending, self.state.fired = injection, set()
                if self.synchronous:
                    self.observe(detect_injected(self.store, snapshot, injection.parts))
            return injection

    def run_once(self, now: dt.datetime) -> tuple[Injection, list[CanaryResult], list[Alert]]:
        """Inject, detect over the injected parts and judge at once (`watchfloor canary run`)."""
        with self._lock:
            synchronous, self.synchronous = self.synchronous, True
            try:
                injection = self.inject_now(now)
            finally:
                self.synchronous = synchronous
            results: list[CanaryResult] = []
            health: list[Alert] = []
            if self.state.pending is not None:
                results = judge(self.state.pending, self.state.fired, 0)
                health, _ = self._record(self.state.pending, results, now)
            self._saved = self.state.write(self.state_path, self._saved)
            return injection, results, health

    # -- judging -------------------------------------------------------------------------------
    def _record(
        self, injection: Injection, results: Sequence[CanaryResult], now: dt.datetime
    ) -> tuple[list[Alert], list[str]]:
        """Update each rule's record; a health alert for each rule that starts failing."""
        health: list[Alert] = []
        recoveries: list[str] = []
        for result in results:
            record = self.state.rules.setdefault(result.rule_id, RuleHealth())
            record.title = result.title
            if result.passed:
                if record.failing:
                    record.last_recovery = _iso(now)
                    recoveries.append(result.rule_id)
                    self.state.note(now, "canary.recovered", result.rule_id)
                record.failing, record.consecutive_failures, record.reason = False, 0, ""
                record.last_success = _iso(now)
                continue
            record.last_failure, record.reason = _iso(now), result.reason
            record.consecutive_failures += 1
            if not record.failing:
                record.failing = True
                rule_id = CANARY_RULE_PREFIX + result.rule_id
                health.append(health_alert(rule_id, f"Canary missed: {result.title}", injection.run_id, now))
                self.state.note(now, "canary.failed", result.rule_id, result.reason)
        self.state.last_results = [r.as_dict() for r in results]
        self.state.pending, self.state.fired = None, set()
        return health, recoveries

    # -- silent sources ------------------------------------------------------------------------
    def _sources_due(self, now: dt.datetime) -> bool:
        last = self.state.last_source_check
        every = min(60.0, self.policy.interval)
        return last is None or (now - dt.datetime.fromisoformat(last)).total_seconds() >= every

    def check_sources(self, now: dt.datetime) -> tuple[list[Alert], list[str]]:
        """Raise one alert per new silence, record each recovery; the canary's own parts ignored."""
        with self._lock:
            self.state.last_source_check = _iso(now)
            self._merge_saved_parts()
            parts = self.store.parts()
            self.state.canary_parts &= {p.name for p in parts}
            health: list[Alert] = []
            recoveries: list[str] = []
            for found in source_expectations(parts, self.state.canary_parts, self.policy, now):
                record = self.state.sources.setdefault(found.source, SourceHealth())
                last = dt.datetime.fromtimestamp(found.last_ns / 10**9, dt.UTC)
                record.expected, record.learned, record.last_part = found.expected, found.learned, _iso(last)
                quiet = found.expected is not None and (now - last).total_seconds() > found.expected
                if quiet and record.silent_since is None:
                    record.silent_since, record.silences = _iso(now), record.silences + 1
                    rule_id = SILENT_RULE_PREFIX + found.source
                    title = f"Source silent: {found.source}"
                    health.append(health_alert(rule_id, title, str(found.last_ns), now))
                    self.state.note(now, "source.silent", found.source, f"nothing since {_iso(last)}")
                elif not quiet and record.silent_since is not None:
                    record.silent_since, record.last_recovery = None, _iso(now)
                    recoveries.append(found.source)
                    self.state.note(now, "source.recovered", found.source, f"part at {_iso(last)}")
            return health, recoveries

    def _merge_saved_parts(self) -> None:
        """Canary parts another process (`watchfloor canary run`) recorded meanwhile."""
        try:
            saved = CanaryState.read(self.state_path)
        except RuleError:
            return
        self.state.canary_parts |= saved.canary_parts
