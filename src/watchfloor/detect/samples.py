"""Detection as code: each rule's positive and negative sample events, run through the real pipeline.

Where samples come from:
- Watchfloor's convention, inside the rule itself (Sigma allows custom top-level attributes, and the
  samples then travel with the rule wherever it is copied):

      watchfloor:
        samples:
          format: auto            # optional: the ingest format of every sample (`watchfloor formats`)
          positive:               # each must make the rule fire
            - {EventID: 1, Channel: Microsoft-Windows-Sysmon/Operational, Image: 'C:/x/a.exe'}
            - name: spray from one address        # several events that together are one sample
              events: ['<syslog line>', '<syslog line>']
          negative:               # none may make it fire
            - 'Nov  3 08:01:02 bastion sshd[21]: Accepted password for deploy from 10.0.0.5 port 22 ssh2'

  An event is a field map with the producer's own names (written as one JSON line, so a Windows
  event needs its `EventID` and `Channel`, a Zeek record its `_path`) or a raw log line (a string).
- SigmaHQ's regression layout: a `regression_data` folder with one `info.yml` per rule id naming
  positive `.evtx` samples (`RegressionIndex`).

Every sample is written to its own file and ingested with the other samples into one scratch store by
the real ingest pipeline, so field mapping is the production one; each match is then traced back to its
sample through the event's origin. A detection rule fires on a sample when it matches one of the
sample's events; a correlation rule, when its window logic finds an episode among the matches of that
sample's events alone.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from watchfloor.detect.correlate_window import correlate
from watchfloor.detect.engine import Match, match_rules
from watchfloor.detect.errors import RuleError
from watchfloor.detect.loader import Rule
from watchfloor.errors import Location
from watchfloor.ingest import ingest_paths
from watchfloor.store import EventStore, open_store

__all__ = [
    "KINDS",
    "SAMPLES_KEY",
    "RegressionIndex",
    "RuleCheck",
    "Sample",
    "collect_samples",
    "find_regression_roots",
    "inline_samples",
    "run_samples",
    "write_sample_events",
]

#: The rule's custom attribute that holds its samples.
SAMPLES_KEY = "watchfloor"
KINDS = ("positive", "negative")
REGRESSION_FOLDER = "regression_data"
_GROUP_KEYS = frozenset({"name", "events", "format"})

Event = dict[str, Any] | str


@dataclass(frozen=True, slots=True)
class Sample:
    """One positive or negative sample of one rule: inline events, or log files (regression data)."""

    rule_id: str
    kind: str
    name: str
    events: tuple[Event, ...] = ()
    files: tuple[Path, ...] = ()
    format: str = "auto"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"sample kind must be positive or negative, not {self.kind!r}")


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """The outcome of one rule's samples: how many of each kind, and what went wrong."""

    id: str
    title: str
    path: str
    positives: int
    negatives: int
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Every positive fired and no negative did."""
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        """The `rules test --json` shape."""
        return {
            "id": self.id,
            "title": self.title,
            "path": self.path,
            "positives": self.positives,
            "negatives": self.negatives,
            "passed": self.passed,
            "failures": list(self.failures),
        }


def _sample(rule: Rule, kind: str, index: int, item: Any, fmt: str) -> Sample:
    name = f"{kind} #{index}"
    events: list[Any]
    if isinstance(item, Mapping) and "events" in item and set(item) <= _GROUP_KEYS:
        events = item["events"] if isinstance(item["events"], list) else [item["events"]]
        name = f"{name} ({item['name']})" if item.get("name") else name
        fmt = str(item.get("format") or fmt)
    else:
        events = [item]
    for event in events:
        if not isinstance(event, Mapping | str):
            raise RuleError(f"{name}: an event is a field map or a log line", Location(rule.path))
    return Sample(
        rule.id, kind, name, tuple(dict(e) if isinstance(e, Mapping) else e for e in events), format=fmt
    )


def inline_samples(rule: Rule) -> list[Sample]:
    """The samples a rule carries under `watchfloor: samples:`; raises `RuleError` if malformed."""
    attributes = getattr(rule.sigma, "custom_attributes", None) or {}
    block = attributes.get(SAMPLES_KEY)
    if block is None:
        return []
    spec = block.get("samples") if isinstance(block, Mapping) else None
    if not isinstance(spec, Mapping):
        raise RuleError(f"{SAMPLES_KEY}.samples must be a mapping of positive/negative", Location(rule.path))
    fmt = str(spec.get("format") or "auto")
    out: list[Sample] = []
    for kind in KINDS:
        items = spec.get(kind) or []
        if not isinstance(items, list):
            raise RuleError(f"{SAMPLES_KEY}.samples.{kind} must be a list", Location(rule.path))
        out.extend(_sample(rule, kind, i, item, fmt) for i, item in enumerate(items, start=1))
    return out


class RegressionIndex:
    """SigmaHQ's `regression_data`: rule id → the sample files its `info.yml` names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cases: dict[str, list[Sample]] = defaultdict(list)
        for info in sorted(root.rglob("info.yml")):
            self._read(info)

    def _read(self, info: Path) -> None:
        try:
            doc = yaml.safe_load(info.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return  # not a regression case; the rule is then simply untested by it
        rules = [str(r.get("id")) for r in doc.get("rule_metadata") or [] if isinstance(r, Mapping)]
        tests = [t for t in doc.get("regression_tests_info") or [] if isinstance(t, Mapping)]
        for rule_id in rules:
            for number, test in enumerate(tests, start=1):
                kind = "negative" if "negative" in str(test.get("name", "")).lower() else "positive"
                files = self._files(info.parent, test)
                if files:
                    name = f"{kind} #{number} ({files[0].name})"
                    self.cases[rule_id].append(Sample(rule_id, kind, name, files=files))

    def _files(self, folder: Path, test: Mapping[str, Any]) -> tuple[Path, ...]:
        """The test's file: its `path` from the corpus root, else the same name in the case folder."""
        named = str(test.get("path") or "")
        for candidate in (self.root.parent / named, folder / Path(named).name):
            if named and candidate.is_file():
                return (candidate,)
        kind = str(test.get("type") or "evtx")
        return tuple(sorted(folder.glob(f"*.{kind}")))[:1]

    def samples(self, rule_id: str) -> list[Sample]:
        """The rule's cases (none when the index has no folder for its id)."""
        return list(self.cases.get(rule_id, ()))


def find_regression_roots(paths: Iterable[str]) -> list[Path]:
    """`regression_data` folders beside a rules pack that holds one of these rule files."""
    seen: set[Path] = set()
    out: list[Path] = []
    for parent in {Path(p).parent for p in paths}:
        for folder in (parent, *parent.parents):
            if folder in seen:
                break
            seen.add(folder)
            candidate = folder / REGRESSION_FOLDER
            if candidate.is_dir():
                out.append(candidate)
    return sorted(out)


def collect_samples(
    rules: Sequence[Rule], regression: Sequence[RegressionIndex] = ()
) -> tuple[list[Sample], list[RuleCheck]]:
    """Every sample of the rules (inline, then regression cases).

    A rule whose inline samples are malformed is not run: it gets a failed check instead.
    """
    samples: list[Sample] = []
    broken: list[RuleCheck] = []
    for rule in rules:
        try:
            own = inline_samples(rule)
        except RuleError as exc:
            broken.append(RuleCheck(rule.id, rule.title, rule.path, 0, 0, (f"invalid samples: {exc}",)))
            continue
        for index in regression:
            own.extend(index.samples(rule.id))
        samples.extend(own)
    return samples, broken


def write_sample_events(sample: Sample, folder: Path, start: int = 0) -> list[Path]:
    """One file per event (`e<number>`, numbered from `start`).

    A field map becomes a JSON line and a log line a text line; ingestion then detects their formats
    as it does any file's.
    """
    paths: list[Path] = []
    for number, event in enumerate(sample.events, start=start):
        if isinstance(event, str):
            path = folder / f"e{number}.log"
            path.write_text(event.rstrip("\n") + "\n", encoding="utf-8")
        else:
            path = folder / f"e{number}.json"
            path.write_text(json.dumps(event, default=str) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


@dataclass(slots=True)
class _Plan:
    """Samples laid out on disk: files per sample, and the inputs to ingest per format."""

    files: dict[int, list[Path]] = field(default_factory=dict)
    inputs: dict[str, list[Path]] = field(default_factory=lambda: defaultdict(list))


def _lay_out(samples: Sequence[Sample], scratch: Path) -> _Plan:
    plan = _Plan()
    for index, sample in enumerate(samples):
        folder = scratch / "samples" / f"s{index:05d}"
        folder.mkdir(parents=True)
        files = [*write_sample_events(sample, folder), *sample.files]
        plan.files[index] = files
        for path in files:
            if path not in plan.inputs[sample.format]:
                plan.inputs[sample.format].append(path)
    return plan


def _origins(store: EventStore) -> dict[str, str]:
    table = store.query("SELECT metadata_uid, metadata_origin FROM events")
    return dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))


def _with_bases(rules: Sequence[Rule], tested: Iterable[str]) -> list[Rule]:
    """The tested rules and the base rules their correlations read."""
    by_id = {r.id: r for r in rules}
    wanted = set(tested)
    for rule_id in list(wanted):
        spec = by_id[rule_id].correlation if rule_id in by_id else None
        if spec is not None:
            wanted.update(spec.rules)
    return [r for r in rules if r.id in wanted]


def run_samples(rules: Sequence[Rule], samples: Sequence[Sample], scratch: Path) -> list[RuleCheck]:
    """Ingest every sample into a scratch store under `scratch`, run the rules, judge each sample."""
    by_rule: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        by_rule[sample.rule_id].append(index)
    plan = _lay_out(samples, scratch)
    store = open_store(scratch / "events")
    problems: dict[str, str] = {}
    for fmt, inputs in plan.inputs.items():
        summary = ingest_paths(inputs, store, scratch / "quarantine", format_name=fmt)
        for result in summary.errors:
            problems[str(result.path)] = result.error or "not ingested"
    known = {r.id: r for r in rules}
    runnable = _with_bases(rules, by_rule)
    matches, _ = match_rules(store, runnable) if store.sources() else ([], None)
    origins = _origins(store) if store.sources() else {}
    by_origin: dict[str, list[Match]] = defaultdict(list)
    for match in matches:
        by_origin[origins.get(match.event_uid, "")].append(match)
    checks: list[RuleCheck] = []
    for rule_id, indexes in by_rule.items():
        rule = known.get(rule_id)
        failures: list[str] = []
        if rule is None or rule.status != "active":
            why = "not loaded" if rule is None else f"{rule.status}: {rule.reason}"
            failures.append(f"the rule cannot run ({why})")
        for index in indexes:
            sample = samples[index]
            files = plan.files[index]
            broken = [problems[str(p)] for p in files if str(p) in problems]
            if broken:
                failures.append(f"{sample.name}: not ingested: {broken[0]}")
                continue
            if not sample.events and not sample.files:
                failures.append(f"{sample.name}: no events")
                continue
            own = [m for path in files for m in by_origin.get(str(path), ())]
            fired = _fired(rule, own, runnable) if rule is not None and rule.status == "active" else False
            if sample.kind == "positive" and not fired:
                failures.append(f"{sample.name} did not fire")
            elif sample.kind == "negative" and fired:
                failures.append(f"{sample.name} fired")
        kinds = [samples[i].kind for i in indexes]
        title = rule.title if rule is not None else rule_id
        path = rule.path if rule is not None else ""
        counts = (kinds.count("positive"), kinds.count("negative"))
        checks.append(RuleCheck(rule_id, title, path, *counts, tuple(failures)))
    return checks


def _fired(rule: Rule, matches: Sequence[Match], rules: Sequence[Rule]) -> bool:
    if rule.correlation is None:
        return any(m.rule_id == rule.id for m in matches)
    return any(hit.rule_id == rule.id for hit in correlate(list(matches), [*rules]))
