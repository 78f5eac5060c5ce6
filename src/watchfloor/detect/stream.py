"""Streaming detection: every part the store receives is evaluated once, correlations carry over.

`watchfloor serve` calls `notify` after each batch the spool's consumer stores; a thread of its own then
runs a cycle: list the store's parts it has not seen yet (`EventStore.parts`), run the active rules over
just those (`match_rules(parts=...)`), run correlations over the new base-rule matches plus a buffer of
earlier ones, store the alerts and hand them on. Batches that arrive while a cycle runs are coalesced
into the next one, so detection never holds up ingestion or acknowledgement, and a slow cycle only
makes the next one larger. An exception is logged and the cycle retried; the consumer never sees it.

Under `start`, alerts go to incident management on a thread of their own (intake costs milliseconds
per alert and must not hold up the next cycle); cycles that end while intake is busy are taken in
together, in order. The state file of a cycle is saved only after its alerts were taken in.

State survives a restart, SIGKILL included. After each cycle (after its intake, above) one JSON file
(`<data>/detect/stream_state.json`) is replaced atomically (temporary file, fsync, rename): the mark of
evaluated parts (the names seen since a floor write time; older names are forgotten once the newest
part is `margin` past them), the buffered base-rule matches (those within the largest correlation
timespan of the newest one) and, per correlation and group, the time its last episode keeps it quiet
until. A crash before the file is replaced replays the whole cycle: the same alerts come out and the
`AlertStore` (keyed by rule and event) and incident intake (keyed by alert uid) drop the copies; the
same holds for a crash while intake is still busy with cycles that already stored their alerts.

Correlation over a trimmed buffer gives the batch run's episodes for `gte`/`gt` conditions: a window
ending at a new match lies wholly in the buffer, and an older match can only see fewer events than it
did, so it cannot fire where the batch run did not (`lt`/`lte` conditions may fire at the edge of the
buffer; only hits whose window holds a new match are reported).

On the first start (no state file) the parts already stored count as evaluated: history is the batch
`watchfloor detect`'s job, streaming covers what arrives from then on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchfloor.detect.alerts import Alert, AlertStore, build_alerts, correlation_alerts
from watchfloor.detect.correlate_window import CorrelationHit, correlate_rule
from watchfloor.detect.engine import Match, match_rules
from watchfloor.detect.errors import RuleError
from watchfloor.detect.library import RuleLibrary, RuleSnapshot
from watchfloor.detect.loader import Rule
from watchfloor.errors import Location
from watchfloor.store import EventStore, StoredPart

__all__ = ["AlertSink", "StreamCycle", "StreamState", "StreamStats", "StreamingDetector"]

log = logging.getLogger(__name__)

STATE_VERSION = 1
#: How long after the newest part the names of older parts are still remembered (clock steps, slow renames).
MARGIN_NS = 300 * 10**9
#: Most parts evaluated in one cycle (a long backlog after downtime is worked off in several).
MAX_PARTS = 2_000
#: Cycles whose alerts may wait for incident intake before detection waits too (back-pressure).
HANDOFF_DEPTH = 8

Group = tuple[tuple[str, str | None], ...]
#: Where the alerts of a cycle go after they are stored (incident management, under `serve`).
AlertSink = Callable[[Sequence[Alert]], None]


@dataclass(slots=True)
class StreamState:
    """What streaming detection has done: parts evaluated, correlation windows, quiet groups."""

    floor_ns: int = 0
    seen: set[str] = field(default_factory=set)
    buffer: list[Match] = field(default_factory=list)
    quiet: dict[str, dict[Group, dt.datetime]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The document written to the state file."""
        return {
            "version": STATE_VERSION,
            "floor_ns": self.floor_ns,
            "seen": sorted(self.seen),
            "buffer": [_match_doc(m) for m in self.buffer],
            "quiet": {
                rule_id: [
                    [[list(pair) for pair in group], until.isoformat()] for group, until in groups.items()
                ]
                for rule_id, groups in sorted(self.quiet.items())
            },
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> StreamState:
        """Parse the state file's document; `KeyError`/`ValueError`/`TypeError` when malformed."""
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"unknown state version {doc.get('version')!r}")
        quiet = {
            str(rule_id): {
                tuple((str(k), None if v is None else str(v)) for k, v in group): dt.datetime.fromisoformat(
                    until
                )
                for group, until in groups
            }
            for rule_id, groups in doc["quiet"].items()
        }
        return cls(
            int(doc["floor_ns"]), {str(n) for n in doc["seen"]}, [_match(d) for d in doc["buffer"]], quiet
        )

    @classmethod
    def read(cls, path: Path) -> StreamState | None:
        """The state saved at `path`, None if there is none; a damaged file is a `RuleError`."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return cls.from_json(json.loads(text))
        except (json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
            raise RuleError(f"damaged streaming detection state: {exc}", Location(str(path))) from exc

    def write(self, path: Path) -> None:
        """Replace the file atomically: a crash leaves the old state or the new, never a torn one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        data = json.dumps(self.to_json(), separators=(",", ":")).encode("utf-8")
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _match_doc(match: Match) -> dict[str, Any]:
    return {
        "rule_id": match.rule_id,
        "event_uid": match.event_uid,
        "time": match.time.isoformat() if match.time else None,
        "host": match.host,
        "user": match.user,
        "src_ip": match.src_ip,
        "dst_ip": match.dst_ip,
        "source": match.source,
        "values": [list(pair) for pair in match.values],
    }


def _match(doc: dict[str, Any]) -> Match:
    return Match(
        str(doc["rule_id"]),
        str(doc["event_uid"]),
        dt.datetime.fromisoformat(doc["time"]) if doc["time"] else None,
        doc["host"],
        doc["user"],
        doc["src_ip"],
        doc["dst_ip"],
        str(doc["source"]),
        tuple((str(k), None if v is None else str(v)) for k, v in doc["values"]),
    )


@dataclass(frozen=True, slots=True)
class StreamCycle:
    """One cycle: the parts it evaluated, what matched, the alerts raised and which were new."""

    parts: int
    part_names: tuple[str, ...]
    matches: int
    alerts: list[Alert]
    new_alerts: list[Alert]
    seconds: float


@dataclass(slots=True)
class StreamStats:
    """Running totals, for the serve summary and tests."""

    cycles: int = 0
    parts: int = 0
    alerts: int = 0
    errors: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class _Handoff:
    """One cycle's alerts for incident intake, and the state to save once they are taken in."""

    alerts: list[Alert]
    state: StreamState


class StreamingDetector:
    """Evaluates newly stored parts on a background thread; see the module docstring."""

    def __init__(
        self,
        store: EventStore,
        library: RuleLibrary,
        alerts: AlertStore,
        state_path: Path,
        on_alerts: AlertSink | None = None,
        retry_seconds: float = 1.0,
        poll_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.library = library
        self.alerts = alerts
        self.state_path = state_path
        self.on_alerts = on_alerts
        self.retry_seconds = retry_seconds
        self.poll_seconds = poll_seconds
        self.stats = StreamStats()
        self.state: StreamState | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._handoffs: queue.Queue[_Handoff | None] = queue.Queue(maxsize=HANDOFF_DEPTH)
        self._intake_thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------------
    def initialize(self) -> StreamState:
        """Load the saved state, or on a first start mark every part already stored as evaluated."""
        if self.state is None:
            saved = StreamState.read(self.state_path)
            if saved is None:
                parts = self.store.parts()
                floor = max((p.written_ns for p in parts), default=0) - MARGIN_NS
                saved = StreamState(max(floor, 0), {p.name for p in parts if p.written_ns >= floor})
                saved.write(self.state_path)
            self.state = saved
        return self.state

    def start(self) -> None:
        """Initialize (if not yet) and evaluate in the background from now on.

        Alerts are handed to incident management on a second thread, so that intake (milliseconds per
        alert) never holds up the next cycle. The state file is saved by that thread, after the
        cycle's alerts are taken in: a crash in between replays the cycle from the saved state, and
        the stores drop the copies, so no alert misses incident management.
        """
        self.initialize()
        if self.on_alerts is not None:
            self._intake_thread = threading.Thread(target=self._intake, name="watchfloor-intake", daemon=True)
            self._intake_thread.start()
        self._thread = threading.Thread(target=self._run, name="watchfloor-detect", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """New data was stored: run a cycle soon (calls during a cycle coalesce into one more)."""
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Evaluate what is stored already (one last cycle) and stop."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._intake_thread is not None:  # then take in what the last cycles found
            self._handoffs.put(None)
            self._intake_thread.join(timeout)

    def _run(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            if not stopping:
                self._wake.wait(self.poll_seconds)  # the poll also finds parts other processes wrote
                self._wake.clear()
            try:
                while (cycle := self.run_once()) is not None and cycle.parts >= MAX_PARTS:
                    pass  # a backlog: keep going without waiting
            except Exception as exc:  # detection must never take the server down; retry the cycle
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                log.exception("streaming detection failed (retrying)")
                if not stopping:
                    self._stopping.wait(self.retry_seconds)
                    self._wake.set()
            if stopping:
                return

    def _intake(self) -> None:
        """Take in handed-off alerts in cycle order, saving each cycle's state after its alerts."""
        while True:
            items = [self._handoffs.get()]
            while True:  # what queued up meanwhile goes in one intake transaction
                try:
                    items.append(self._handoffs.get_nowait())
                except queue.Empty:
                    break
            handoffs = [item for item in items if item is not None]
            if handoffs and not self._take_in(handoffs):
                return  # stopping with intake failing: no later state may be saved before these
            if None in items:
                return

    def _take_in(self, handoffs: list[_Handoff]) -> bool:
        """Intake, then the state file; retried in order until it works or the detector stops."""
        alerts = [alert for handoff in handoffs for alert in handoff.alerts]
        while True:
            try:
                if alerts and self.on_alerts is not None:
                    self.on_alerts(alerts)  # after a replayed cycle, intake drops what it has
                handoffs[-1].state.write(self.state_path)
                return True
            except Exception as exc:  # the state file waits, so a restart replays these cycles
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                log.exception("incident intake of streaming alerts failed (retrying)")
                if self._stopping.is_set():
                    return False
                time.sleep(self.retry_seconds)

    # -- work ----------------------------------------------------------------------------------
    def rules(self) -> RuleSnapshot:
        """The library's rules for this cycle (re-parsed only when a rule file changed)."""
        return self.library.snapshot()

    def run_once(self) -> StreamCycle | None:
        """Evaluate the parts not evaluated yet; None when there were none."""
        state = self.initialize()
        started = time.perf_counter()
        listed = self.store.parts(state.floor_ns)
        pending = [p for p in listed if p.name not in state.seen]
        if not pending:
            return None
        batch = pending[:MAX_PARTS]
        snapshot = self.rules()
        rules = snapshot.loaded.rules
        names = [p.name for p in batch]
        matches: list[Match] = []
        if any(r.status == "active" for r in rules):
            matches, _ = match_rules(self.store, rules, parts=names)
        kept, _ = snapshot.suppressions.filter_matches(matches, self.store)
        hits, buffer, quiet = _correlate(kept, rules, state)
        hits, _ = snapshot.suppressions.filter_hits(hits)
        alerts = build_alerts(kept, rules) + correlation_alerts(hits, rules)
        fresh = self.alerts.add(alerts) if alerts else []
        advanced = _advanced(state, listed, batch, pending[MAX_PARTS:], buffer, quiet)
        if self._intake_thread is not None:
            self.state = advanced  # the next cycle goes on from here; the file follows intake
            self._handoffs.put(_Handoff(alerts, advanced))
        else:
            if alerts and self.on_alerts is not None:
                self.on_alerts(alerts)  # all of them: after a replayed cycle, intake drops what it has
            self.state = advanced
            self.state.write(self.state_path)
        self.stats.cycles += 1
        self.stats.parts += len(batch)
        self.stats.alerts += len(fresh)
        return StreamCycle(
            len(batch), tuple(names), len(matches), alerts, fresh, time.perf_counter() - started
        )


def _correlate(
    matches: Sequence[Match], rules: Sequence[Rule], state: StreamState
) -> tuple[list[CorrelationHit], list[Match], dict[str, dict[Group, dt.datetime]]]:
    """Hits whose window holds a new match; the buffer and quiet groups to keep for the next cycle."""
    specs = [(r.id, r.correlation) for r in rules if r.status == "active" and r.correlation is not None]
    if not specs:
        return [], [], {}
    bases = {base for _, spec in specs for base in spec.rules}
    new = [m for m in matches if m.rule_id in bases and m.time is not None]
    fresh = {(m.rule_id, m.event_uid) for m in new}
    pool = [m for m in state.buffer if (m.rule_id, m.event_uid) not in fresh and m.rule_id in bases] + new
    hits: list[CorrelationHit] = []
    quiet: dict[str, dict[Group, dt.datetime]] = {}
    for rule_id, spec in specs:
        groups = dict(state.quiet.get(rule_id, {}))
        span = dt.timedelta(seconds=spec.timespan)
        for hit in correlate_rule(rule_id, spec, pool, groups) if new else ():
            if any((m.rule_id, m.event_uid) in fresh for m in hit.matches):
                hits.append(hit)
                last = hit.matches[-1].time
                assert last is not None
                groups[hit.group] = max(groups.get(hit.group, last + span), last + span)
        quiet[rule_id] = groups
    widest = dt.timedelta(seconds=max(spec.timespan for _, spec in specs))
    horizon = _horizon(pool) - widest
    buffer = [m for m in pool if m.time is not None and m.time >= horizon]
    quiet = {r: {g: t for g, t in groups.items() if t >= horizon} for r, groups in quiet.items()}
    return hits, buffer, {r: groups for r, groups in quiet.items() if groups}


def _horizon(pool: Iterable[Match]) -> dt.datetime:
    """The newest event time buffered, never beyond now (a skewed sender's clock cannot empty the buffer)."""
    now = dt.datetime.now(dt.UTC)
    times = [m.time for m in pool if m.time is not None and m.time <= now]
    return max(times, default=now)


def _advanced(
    state: StreamState,
    listed: Sequence[StoredPart],
    done: Sequence[StoredPart],
    left: Sequence[StoredPart],
    buffer: list[Match],
    quiet: dict[str, dict[Group, dt.datetime]],
) -> StreamState:
    """The state after `done` were evaluated: the floor moves up, never past a part still pending."""
    newest = max((p.written_ns for p in listed), default=state.floor_ns)
    floor = max(state.floor_ns, newest - MARGIN_NS)
    if left:
        floor = min(floor, min(p.written_ns for p in left))
    floor = max(floor, state.floor_ns)
    seen = {p.name for p in done} | state.seen
    names = {p.name: p.written_ns for p in listed}
    return StreamState(floor, {n for n in seen if names.get(n, -1) >= floor}, buffer, quiet)
