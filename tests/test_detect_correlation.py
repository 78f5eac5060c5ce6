"""Sigma correlation rules: windows, groups, aliases and order, on generated events in a real store."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import pytest

from watchfloor.cases import from_detection
from watchfloor.detect import (
    AlertStore,
    Correlation,
    Match,
    RuleLibrary,
    correlate,
    correlate_rule,
    load_rules,
    match_rules,
    run_detection,
)
from watchfloor.detect.engine import validate_for_duckdb
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

SYSMON = "Microsoft-Windows-Sysmon/Operational"
T0 = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)


def event(host: str, seconds: int, image: str, **extra: str) -> dict[str, object]:
    when = (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"EventID": 1, "Channel": SYSMON, "Computer": host, "TimeCreated": when, "Image": image, **extra}


EVENTS = [
    *(event("hosta", s, "C:\\spray.exe") for s in (0, 10, 20, 30, 40)),  # 5 within 40 s
    *(event("hostb", s, "C:\\spray.exe") for s in (0, 30, 60, 90, 120)),  # never 4 within a minute
    event("hostc", 0, "C:\\stage1.exe", Account="eve"),
    event("hostc", 10, "C:\\stage2.exe", TargetAccount="eve"),
    event("hostd", 0, "C:\\stage2.exe", TargetAccount="mal"),
    event("hostd", 10, "C:\\stage1.exe", Account="mal"),
    *(event("hoste", s, "C:\\logon.exe", Account=f"u{s % 4}") for s in (0, 5, 10, 15)),  # 4 accounts
    *(event("hostf", s, "C:\\logon.exe", Account="same") for s in (0, 5, 10, 15)),  # 1 account
]

BASE = """title: {name}
name: {name}
id: {uid}
status: test
level: low
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    Image|endswith: '\\{name}.exe'
  condition: selection
"""


def correlation(name: str, body: str, generate: bool = False) -> str:
    return (
        f"title: corr {name}\nid: {uuid.uuid5(uuid.NAMESPACE_URL, name)}\nstatus: test\n"
        f"level: high\ntags:\n  - attack.credential_access\n  - attack.t1110\n"
        f"correlation:\n  generate: {str(generate).lower()}\n{body}"
    )


RULES = {
    "base.yml": "---\n".join(
        BASE.format(name=n, uid=f"11111111-0000-4000-8000-00000000000{i}")
        for i, n in enumerate(["spray", "stage1", "stage2", "logon"])
    ),
    "count.yml": correlation(
        "count",
        "  type: event_count\n  rules: [spray]\n  group-by: [Computer]\n  timespan: 1m\n"
        "  condition:\n    gte: 4\n",
    ),
    "values.yml": correlation(
        "values",
        "  type: value_count\n  rules: [logon]\n  group-by: [Computer]\n  timespan: 1m\n"
        "  condition:\n    field: Account\n    gte: 3\n",
        generate=True,
    ),
    "ordered.yml": correlation(
        "ordered",
        "  type: temporal_ordered\n  rules: [stage1, stage2]\n  group-by: [who]\n  timespan: 1m\n"
        "  aliases:\n    who:\n      stage1: Account\n      stage2: TargetAccount\n",
    ),
    "temporal.yml": correlation(
        "temporal",
        "  type: temporal\n  rules: [stage1, stage2]\n  group-by: [who]\n  timespan: 1m\n"
        "  aliases:\n    who:\n      stage1: Account\n      stage2: TargetAccount\n",
    ),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DuckDBEventStore:
    root = tmp_path_factory.mktemp("correlate")
    sample = root / "events.jsonl"
    sample.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n", encoding="utf-8")
    events = DuckDBEventStore(root / "events")
    assert ingest_paths([sample], events, root / "quarantine").events == len(EVENTS)
    return events


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rules") / "corr"
    folder.mkdir()
    for name, text in RULES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def groups_by_title(store: DuckDBEventStore, rules_dir: Path) -> dict[str, list[dict[str, str | None]]]:
    loaded = load_rules([rules_dir], validate=validate_for_duckdb)
    assert {r.title: r.status for r in loaded.rules if r.kind == "correlation"} == {
        f"corr {n}": "active" for n in ("count", "values", "ordered", "temporal")
    }
    matches, _ = match_rules(store, loaded.rules)
    titles = {r.id: r.title for r in loaded.rules}
    out: dict[str, list[dict[str, str | None]]] = {}
    for hit in correlate(matches, loaded.rules):
        out.setdefault(titles[hit.rule_id], []).append(dict(hit.group))
    return out


def test_each_correlation_type_over_stored_events(store: DuckDBEventStore, rules_dir: Path) -> None:
    found = groups_by_title(store, rules_dir)
    # 5 spray events within 40 s on hosta meet gte 4; hostb's are 30 s apart (3 per minute at most).
    assert found["corr count"] == [{"Computer": "hosta"}]
    # hoste logs on 4 distinct accounts; hostf repeats one account.
    assert found["corr values"] == [{"Computer": "hoste"}]
    # The alias joins Account (stage1) and TargetAccount (stage2); mal ran them in the wrong order.
    assert found["corr ordered"] == [{"who": "eve"}]
    assert sorted(found["corr temporal"], key=str) == [{"who": "eve"}, {"who": "mal"}]


def test_generate_false_silences_base_rules_and_dedup_across_runs(
    store: DuckDBEventStore, rules_dir: Path, tmp_path: Path
) -> None:
    library = RuleLibrary(tmp_path / "rules")
    library.add(rules_dir)
    alerts = AlertStore(tmp_path / "alerts")
    first = run_detection(store, library, alerts)
    titles = sorted(a.rule_title for a in first.new_alerts)
    # Only `logon` (under a generate: true correlation) raises its own alerts: 8 events.
    assert (
        titles
        == ["corr count", "corr ordered", "corr temporal", "corr temporal", "corr values"] + ["logon"] * 8
    )
    spray = next(a for a in first.new_alerts if a.rule_title == "corr count")
    assert len(spray.evidence) == 4 and spray.host == "hosta"
    assert spray.correlation_key is not None and spray.correlation_key.endswith("|Computer=hosta")
    doc = next(d for d in alerts.list() if d["finding_info"]["uid"] == spray.uid)
    assert len(doc["evidences"]) == 4 and doc["correlation_key"] == spray.correlation_key
    incoming = from_detection([spray])[0]
    assert incoming.correlation_key == spray.correlation_key
    assert incoming.evidence_event_ids == spray.evidence
    second = run_detection(store, library, alerts)
    assert len(second.alerts) == len(first.alerts) and second.new_alerts == []


def test_a_correlation_over_a_missing_rule_is_unsupported(tmp_path: Path) -> None:
    (tmp_path / "c.yml").write_text(
        correlation(
            "lonely", "  type: event_count\n  rules: [nowhere]\n  timespan: 1m\n  condition:\n    gte: 2\n"
        ),
        encoding="utf-8",
    )
    (rule,) = load_rules([tmp_path]).rules
    assert rule.status == "unsupported" and rule.reason


def matches(times: list[int], group: str = "g", rule: str = "r") -> list[Match]:
    return [
        Match(rule, f"{group}-{rule}-{t}", T0 + dt.timedelta(seconds=t), values=(("k", group),))
        for t in times
    ]


COUNT = Correlation(kind="event_count", rules=("r",), timespan=60, group_by=("k",), op="gte", count=3)


def test_window_slides_and_episodes_do_not_repeat_per_event() -> None:
    # A 10-minute burst, one event every 10 s: one hit per timespan, not one per event.
    burst = correlate_rule("c", COUNT, matches(list(range(0, 600, 10))))
    assert len(burst) == 9
    # The first window holds the 3 events that met the condition; each later one is judged only once
    # the window has moved past the previous evidence, and then holds the 7 events of its minute.
    assert [len(h.event_uids) for h in burst] == [3] + [7] * 8
    evidence = [uid for h in burst for uid in h.event_uids]
    assert len(evidence) == len(set(evidence))  # windows never overlap
    # Events 40 s apart never put 3 in one 60 s window; moving two closer does, once the window slides.
    assert correlate_rule("c", COUNT, matches([0, 40, 80, 120])) == []
    slid = correlate_rule("c", COUNT, matches([0, 40, 70, 90]))
    assert [h.event_uids for h in slid] == [("g-r-40", "g-r-70", "g-r-90")]


def test_groups_are_counted_apart_and_less_than_conditions() -> None:
    mixed = matches([0, 10], "a") + matches([20], "b")
    assert correlate_rule("c", COUNT, mixed) == []
    assert len(correlate_rule("c", COUNT, mixed + matches([30], "a"))) == 1
    few = Correlation(kind="event_count", rules=("r",), timespan=60, group_by=("k",), op="lt", count=2)
    # Only windows that end at an event are judged: a lone event is "fewer than 2".
    assert [h.group for h in correlate_rule("c", few, matches([0, 300]))] == [(("k", "g"),), (("k", "g"),)]
    assert correlate_rule("c", few, matches([0, 10])) == [correlate_rule("c", few, matches([0]))[0]]


def test_temporal_ordered_needs_the_listed_order_within_the_window() -> None:
    spec = Correlation(kind="temporal_ordered", rules=("a", "b"), timespan=60, group_by=("k",), op=None)
    in_order = matches([0], rule="a") + matches([30], rule="b")
    assert len(correlate_rule("c", spec, in_order)) == 1
    assert correlate_rule("c", spec, matches([0], rule="b") + matches([30], rule="a")) == []
    assert correlate_rule("c", spec, matches([0], rule="a") + matches([90], rule="b")) == []
