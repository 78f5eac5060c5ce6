"""Canaries: each rule's positive samples, injected into the real store as synthetic events, must alert.

A rule that silently stops firing (an edit that no longer matches, a logsource mapped to the wrong view,
a parser change upstream) looks exactly like a quiet network. The canary tells the two apart: on a
schedule it writes every active rule's positive samples (`watchfloor: samples: positive:`, see
`samples`) through the normal ingest path for the sample's format into the installation's store, and
checks that the rule's alert appears.

Synthetic events are marked twice, so every layer can recognise them without a lookup:
- the producer column `watchfloor_canary` holds the run id (hunts over a source view:
  `WHERE watchfloor_canary IS NULL` keeps real events only);
- the event uid (`metadata_uid`) starts with `canary-<run>-<target>-` (the `events` view:
  `WHERE metadata_uid NOT LIKE 'canary-%'`), and an alert's evidence carries it, so `is_synthetic`
  knows a canary alert by its event uids alone. Hand-offs to incident management drop those alerts:
  they never reach the analyst queues or the metrics.

This module holds the pure parts: configuration, marking, injection, detection over just the injected
parts, judging and the health alerts. `canary_monitor` adds the schedule and the persisted state.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import tempfile
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from watchfloor.config import CONFIG_FILE_NAME, Settings
from watchfloor.detect.alerts import Alert, alert_uid, build_alerts, correlation_alerts
from watchfloor.detect.correlate_window import correlate
from watchfloor.detect.engine import match_rules
from watchfloor.detect.errors import RuleError
from watchfloor.detect.library import RuleSnapshot
from watchfloor.detect.loader import Rule
from watchfloor.detect.samples import Sample, inline_samples, write_sample_events
from watchfloor.errors import ConfigError, Location
from watchfloor.ingest import ingest_paths
from watchfloor.schema import CORE_COLUMN
from watchfloor.store import EventStore

__all__ = [
    "CANARY_FIELD",
    "CANARY_RULE_PREFIX",
    "HEALTH_QUEUE",
    "HEALTH_SOURCE",
    "SILENT_RULE_PREFIX",
    "UID_PREFIX",
    "CanaryPolicy",
    "CanaryResult",
    "CanaryTarget",
    "Injection",
    "canary_targets",
    "detect_injected",
    "fired_targets",
    "health_alert",
    "inject",
    "is_synthetic",
    "judge",
    "new_run_id",
    "parse_canary_uid",
]

#: The producer column every synthetic event carries: the canary run's id.
CANARY_FIELD = "watchfloor_canary"
#: How every synthetic event uid starts (then `<run>-<target>-<original uid>`).
UID_PREFIX = "canary-"
#: Rule ids of Watchfloor's own health alerts.
CANARY_RULE_PREFIX = "watchfloor:canary:"
SILENT_RULE_PREFIX = "watchfloor:silent-source:"
#: The queue health alerts are routed to, and the source they name.
HEALTH_QUEUE = "health"
HEALTH_SOURCE = "watchfloor"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TARGET_FOLDER = re.compile(r"[/\\]t(\d{5})[/\\]")


def _seconds(value: Any, where: Location) -> float:
    """`"15m"`, `"1h"`, `"2d"`, `"1s"` or a number of seconds."""
    if isinstance(value, bool):
        raise ConfigError("expected a duration like 15m", where)
    found = _DURATION.match(str(value))
    if found is None or float(found.group(1)) <= 0:
        raise ConfigError(f"invalid duration {value!r} (like 15m, 1h, 2d)", where)
    return float(found.group(1)) * _UNIT_SECONDS[found.group(2)]


@dataclass(frozen=True, slots=True)
class CanaryPolicy:
    """`[canary]` and `[sources.NAME]` of watchfloor.toml; every duration in seconds.

    `timeout` is how long after an injection the check waits for the alerts (the interval when
    unset); `silence_factor` times a source's median gap between deliveries over `history` (at least
    `min_silence`) is how long it may be quiet when `expected` names no interval for it.
    """

    enabled: bool = True
    interval: float = 900.0
    timeout: float | None = None
    silent_sources: bool = True
    history: float = 7 * 86400.0
    silence_factor: float = 4.0
    min_silence: float = 900.0
    expected: Mapping[str, float] = field(default_factory=dict)

    @property
    def wait(self) -> float:
        """Seconds from an injection to its check."""
        return min(self.timeout, self.interval) if self.timeout is not None else self.interval

    @classmethod
    def from_settings(cls, settings: Settings) -> CanaryPolicy:
        """Read the policy; a malformed value is a `ConfigError` naming the field."""
        file = str(settings.data_dir / CONFIG_FILE_NAME)
        section = settings.extra.get("canary", {})
        if not isinstance(section, Mapping):
            raise ConfigError("[canary] must be a table", Location(file, field="canary"))
        values: dict[str, Any] = {}
        for name in ("enabled", "silent_sources"):
            if name in section:
                if not isinstance(section[name], bool):
                    raise ConfigError("must be true or false", Location(file, field=f"canary.{name}"))
                values[name] = section[name]
        for name in ("interval", "timeout", "history", "min_silence"):
            if name in section:
                values[name] = _seconds(section[name], Location(file, field=f"canary.{name}"))
        if "silence_factor" in section:
            factor = section["silence_factor"]
            if isinstance(factor, bool) or not isinstance(factor, int | float) or factor <= 0:
                raise ConfigError("must be a positive number", Location(file, field="canary.silence_factor"))
            values["silence_factor"] = float(factor)
        sources = settings.extra.get("sources", {})
        if not isinstance(sources, Mapping):
            raise ConfigError("[sources] must be a table", Location(file, field="sources"))
        expected = {
            str(name): _seconds(spec["expected_interval"], Location(file, field=f"sources.{name}"))
            for name, spec in sources.items()
            if isinstance(spec, Mapping) and "expected_interval" in spec
        }
        return cls(**values, expected=expected)


@dataclass(frozen=True, slots=True)
class CanaryTarget:
    """One rule the canary checks: its position in the run (part of every event uid) and samples."""

    index: int
    rule_id: str
    title: str
    samples: int


@dataclass(frozen=True, slots=True)
class Injection:
    """One canary run's injection: what was written where, and what failed before detection."""

    run_id: str
    started: dt.datetime
    targets: tuple[CanaryTarget, ...]
    failures: Mapping[str, str] = field(default_factory=dict)
    parts: tuple[str, ...] = ()
    events: int = 0

    def to_json(self) -> dict[str, Any]:
        """The form kept in the canary state file while the run is pending."""
        return {
            "run_id": self.run_id,
            "started": self.started.isoformat(),
            "targets": [[t.index, t.rule_id, t.title, t.samples] for t in self.targets],
            "failures": dict(self.failures),
            "parts": list(self.parts),
            "events": self.events,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Injection:
        """Parse `to_json`'s form; `KeyError`/`ValueError`/`TypeError` when malformed."""
        return cls(
            str(doc["run_id"]),
            dt.datetime.fromisoformat(doc["started"]),
            tuple(CanaryTarget(int(i), str(r), str(t), int(n)) for i, r, t, n in doc["targets"]),
            {str(k): str(v) for k, v in doc["failures"].items()},
            tuple(str(p) for p in doc["parts"]),
            int(doc["events"]),
        )


@dataclass(frozen=True, slots=True)
class CanaryResult:
    """Whether one rule's canary alert appeared, and why not."""

    rule_id: str
    title: str
    passed: bool
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The `canary run --json` shape."""
        return {"id": self.rule_id, "title": self.title, "passed": self.passed, "reason": self.reason}


def new_run_id(now: dt.datetime) -> str:
    """A run id that sorts by time and holds no `-` (event uids are split on it)."""
    return f"{now.astimezone(dt.UTC):%Y%m%dt%H%M%S}x{secrets.token_hex(3)}"


def parse_canary_uid(uid: str) -> tuple[str, int] | None:
    """(run id, target index) of a synthetic event uid; None for a real event."""
    if not uid.startswith(UID_PREFIX):
        return None
    parts = uid[len(UID_PREFIX) :].split("-", 2)
    if len(parts) < 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def is_synthetic(alert: Alert) -> bool:
    """Whether any event of the alert was injected by a canary: such alerts stay out of incidents."""
    return any(uid.startswith(UID_PREFIX) for uid in alert.event_uids)


def canary_targets(rules: Sequence[Rule]) -> list[tuple[Rule, list[Sample]]]:
    """Rules the canary checks, with their positive samples.

    Disabled rules are skipped, and so are base rules whose own alerts a correlation silences
    (`generate: false`): there is no alert of theirs to wait for. A rule that cannot run
    (unsupported) but carries samples is kept: its canary fails, which is the point.
    """
    out: list[tuple[Rule, list[Sample]]] = []
    for rule in rules:
        if rule.status == "disabled" or not rule.generate:
            continue
        try:
            positives = [s for s in inline_samples(rule) if s.kind == "positive" and s.events]
        except RuleError:
            continue  # `rules test` reports malformed samples; there is nothing to inject
        if positives:
            out.append((rule, positives))
    return out


class _CanarySink:
    """The store as a canary run writes to it: every row marked as synthetic on the way in."""

    def __init__(self, store: EventStore, run_id: str, rule_of: Mapping[int, str]) -> None:
        self.store = store
        self.run_id = run_id
        self.rule_of = rule_of
        self.sources: set[str] = set()
        self.rows = 0

    def append(self, table: pa.Table) -> int:
        core = table.column(CORE_COLUMN).combine_chunks()
        assert isinstance(core, pa.StructArray)
        names = [f.name for f in core.type]
        columns = {name: core.field(name) for name in names}
        uids, origins = [], []
        for uid, origin in zip(
            columns["metadata_uid"].to_pylist(), columns["metadata_origin"].to_pylist(), strict=True
        ):
            found = _TARGET_FOLDER.findall(str(origin or ""))
            index = int(found[-1]) if found else 0
            uids.append(f"{UID_PREFIX}{self.run_id}-{index}-{uid}")
            origins.append(f"canary:{self.run_id}:{self.rule_of.get(index, '')}")
        columns["metadata_uid"] = pa.array(uids, pa.string())
        columns["metadata_origin"] = pa.array(origins, pa.string())
        marked = pa.StructArray.from_arrays([columns[n] for n in names], fields=list(core.type))
        position = table.column_names.index(CORE_COLUMN)
        table = table.set_column(position, CORE_COLUMN, marked)
        table = table.append_column(CANARY_FIELD, pa.array([self.run_id] * table.num_rows, pa.string()))
        self.sources.update(
            str(s) for s in columns["metadata_log_name"].unique().to_pylist() if s is not None
        )
        self.rows += table.num_rows
        return self.store.append(table)


def _canary_parts(store: EventStore, before: Collection[str], since_ns: int, sources: set[str]) -> list[str]:
    """The parts this run wrote: new since it started, in its sources, holding the canary column."""
    found = []
    for part in store.parts(since_ns):
        if part.name in before or part.source not in sources:
            continue
        with store.open_reader([part.name]) as reader:
            if CANARY_FIELD in reader.view_columns(part.source):
                found.append(part.name)
    return found


def inject(
    store: EventStore, rules: Sequence[Rule], scratch: Path, now: dt.datetime, run_id: str | None = None
) -> Injection:
    """Write every target rule's positive samples into `store`, marked; nothing is written for none."""
    run_id = run_id or new_run_id(now)
    chosen = canary_targets(rules)
    targets = tuple(
        CanaryTarget(i, rule.id, rule.title, len(samples)) for i, (rule, samples) in enumerate(chosen)
    )
    failures = {
        rule.id: f"the rule cannot run ({rule.status}: {rule.reason})"
        for rule, _ in chosen
        if rule.status != "active"
    }
    if not chosen:
        return Injection(run_id, now, targets, failures)
    started_ns = int(dt.datetime.now(dt.UTC).timestamp() * 1e9) - 10**9
    before = {p.name for p in store.parts(started_ns)}
    sink = _CanarySink(store, run_id, {t.index: t.rule_id for t in targets})
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="canary-", dir=scratch) as folder:
        inputs: dict[str, list[Path]] = defaultdict(list)
        owner: dict[str, str] = {}
        for target, (rule, samples) in zip(targets, chosen, strict=True):
            if rule.id in failures:
                continue
            where = Path(folder) / f"t{target.index:05d}"
            where.mkdir()
            count = 0
            for sample in samples:
                written = write_sample_events(sample, where, count)
                count += len(written)
                inputs[sample.format].extend(written)
                owner.update((str(p), rule.id) for p in written)
        for fmt, paths in inputs.items():
            summary = ingest_paths(paths, sink, Path(folder) / "quarantine", format_name=fmt)
            for result in summary.errors:
                rule_id = owner.get(str(result.path), "")
                failures.setdefault(rule_id, f"a sample was not ingested: {result.error}")
            for result in summary.files:
                if result.quarantined and not result.events:
                    failures.setdefault(owner.get(str(result.path), ""), "a sample was quarantined")
    failures.pop("", None)
    parts = _canary_parts(store, before, started_ns, sink.sources) if sink.rows else []
    return Injection(run_id, now, targets, failures, tuple(parts), sink.rows)


def detect_injected(store: EventStore, snapshot: RuleSnapshot, parts: Sequence[str]) -> list[Alert]:
    """The alerts the library's rules raise over just the injected parts (suppressions applied)."""
    rules = snapshot.loaded.rules
    if not parts or not any(r.status == "active" for r in rules):
        return []
    matches, _ = match_rules(store, rules, parts=list(parts))
    kept, _ = snapshot.suppressions.filter_matches(matches, store)
    hits, _ = snapshot.suppressions.filter_hits(correlate(kept, rules))
    return build_alerts(kept, rules) + correlation_alerts(hits, rules)


def fired_targets(injection: Injection, alerts: Iterable[Alert]) -> set[int]:
    """Indexes of targets whose own rule alerted on one of their own synthetic events."""
    by_index = {t.index: t.rule_id for t in injection.targets}
    fired: set[int] = set()
    for alert in alerts:
        for uid in alert.event_uids:
            parsed = parse_canary_uid(uid)
            if parsed and parsed[0] == injection.run_id and by_index.get(parsed[1]) == alert.rule_id:
                fired.add(parsed[1])
    return fired


def judge(injection: Injection, fired: Collection[int], waited: float) -> list[CanaryResult]:
    """Each target's result: passed when its alert appeared, else why not."""
    results = []
    for target in injection.targets:
        if target.index in fired:
            results.append(CanaryResult(target.rule_id, target.title, True))
            continue
        why = injection.failures.get(target.rule_id) or (
            f"no alert for its {target.samples} positive sample(s) within {waited:g}s"
        )
        results.append(CanaryResult(target.rule_id, target.title, False, why))
    return results


def health_alert(rule_id: str, title: str, key: str, when: dt.datetime) -> Alert:
    """A Watchfloor-generated alert (severity high): the same problem joins one open incident."""
    moment = when.astimezone(dt.UTC).isoformat()
    return Alert(
        uid=alert_uid(rule_id, key),
        rule_id=rule_id,
        rule_title=title,
        level="high",
        time=moment,
        event_uid=f"{rule_id}@{moment}",
        source=HEALTH_SOURCE,
        tactics=(),
        techniques=(),
        correlation_key=rule_id,
    )
