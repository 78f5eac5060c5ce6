"""The in-process Arrow evaluator gives exactly the SQL engine's matches: edge cases and the SigmaHQ pack."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conftest import corpus
from watchfloor.detect import Rule, load_rules, match_rules
from watchfloor.detect.arrow_match import ArrowPlan, _prefetched, _python_values, match_view
from watchfloor.detect.engine import validate_for_duckdb
from watchfloor.detect.ir import (
    And,
    Compare,
    Const,
    Exists,
    FieldRef,
    Glob,
    Keyword,
    Node,
    Not,
    Or,
    Regex,
    StrMatch,
    Wild,
)
from watchfloor.detect.patterns import GlobSet, ValueCache, use_compiled_cache
from watchfloor.errors import QueryError
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

M, Q = Wild.MANY, Wild.ONE
SYSMON = "Microsoft-Windows-Sysmon/Operational"
TEXTS = [
    "C:\\Windows\\System32\\cmd.exe /c whoami",
    "line one\nline two",
    "\n",
    "",
    "İstanbul DİR",
    "istanbul dir",
    "STRASSE straße ẞ",
    "100% of_files * and ? here",
    "a\\b\\\\c",
    "ünïcode tööl.exe",
    "x",
    "é",
    "Ab",
    "aB\nc",
    "12",
    " 7.5 ",
    "1e3",
]


def _events() -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for n, (text, other) in enumerate(itertools.product(TEXTS, [None, "", "X", *TEXTS[:3]])):
        event: dict[str, object] = {
            "EventID": 1 if n % 3 else 3,
            "Channel": SYSMON,
            "Computer": f"ws{n}",
            "TimeCreated": "2024-05-01T10:00:00Z",
            "CommandLine": text,
            "Image": text.upper(),
        }
        if other is not None:
            event["ParentImage"] = other
        if n % 4 == 0:
            event["Hashes"] = "MD5=ABC,SHA256=DEF"
        events.append(event)
    return events


def _globs() -> list[Glob]:
    parts = ["i", "İ", "dir", "\n", "line", "%", "_", "*", "?", "\\", "\\\\", "é", "ß", "ss", "a", "b", "X"]
    parts.append("")
    globs: list[Glob] = []
    for text in parts:
        if not text:
            globs.append(())
            continue
        globs.extend([(text,), (M, text, M), (text, M), (M, text), (M, text, Q), (Q, text, M)])
    globs.extend(
        [
            (M,),
            (M, M),
            (Q,),
            (M, Q, M),
            (M, "a", M, "b", M),
            (M, "line", Q, "two"),
            (Q, Q),
            ("a", Q, "c"),
            (M, "one", M, "two", M),
            ("c:\\windows\\", M, "\\cmd.exe", M),
        ]
    )
    return globs


def _plans() -> dict[str, Node]:
    plans: dict[str, Node] = {}
    for i, glob in enumerate(_globs()):
        for cased in (False, True):
            plans[f"glob-{i}-{cased}"] = StrMatch("CommandLine", glob, cased)
            plans[f"not-{i}-{cased}"] = Not(StrMatch("ParentImage", glob, cased))
            if glob and glob[0] is M and glob[-1] is M:
                plans[f"kw-{i}-{cased}"] = Keyword(glob, cased)
    regexes = ["^line", "two$", "a.b", "(?i)İST", "\\\\b", "^$", "é", "[0-9]+", "one.line"]
    for i, pattern in enumerate(regexes):
        for flags in (frozenset(), frozenset("i"), frozenset("m"), frozenset("s")):
            plans[f"re-{i}-{''.join(flags)}"] = Regex("CommandLine", pattern, flags)
    for op, number in itertools.product(["<", "<=", ">", ">=", "!="], [7.5, 12, 1000]):
        plans[f"cmp-{op}-{number}"] = Compare("CommandLine", op, number)
    plans.update(
        {
            "exists": Exists("ParentImage"),
            "absent": Exists("ParentImage", present=False),
            "missing-exists": Exists("NoSuchField"),
            "missing-absent": Exists("NoSuchField", present=False),
            "missing-glob": StrMatch("NoSuchField", (M, "a", M)),
            "not-missing": Not(StrMatch("NoSuchField", ("a",))),
            "ref-eq": FieldRef("CommandLine", "ParentImage"),
            "ref-prefix": FieldRef("CommandLine", "ParentImage", "prefix"),
            "ref-suffix": FieldRef("Image", "CommandLine", "suffix"),
            "const": Const(True),
            "tree": And(
                (StrMatch("EventID", ("1",)), Or((StrMatch("Image", (M, "I", M)), Keyword((M, "x", M)))))
            ),
            "kw-spans": Keyword((M, "X", M, "line", M)),
            "kw-newline": Keyword((M, "\nline", M)),
            "hashes": StrMatch("Hashes", (M, "sha256=def", M)),
        }
    )
    return plans


def _pairs_sql(store: DuckDBEventStore, rules: list[Rule]) -> set[tuple[str, str]]:
    matches, _ = match_rules(store, rules, engine="sql")
    return {(m.rule_id, m.event_uid) for m in matches}


def _pairs_arrow(
    store: DuckDBEventStore, rules: list[Rule], batch_rows: int = 65_536
) -> set[tuple[str, str]]:
    with store.open_reader() as reader:
        found = match_view(reader, "windows", rules, batch_rows=batch_rows)
    return {(r.rule_id, r.event_uid) for r in found}


@pytest.fixture(scope="module")
def edge_store(tmp_path_factory: pytest.TempPathFactory) -> DuckDBEventStore:
    root = tmp_path_factory.mktemp("arrow")
    sample = root / "events.jsonl"
    lines = [json.dumps(e, ensure_ascii=False) for e in _events()]
    sample.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = DuckDBEventStore(root / "events")
    assert ingest_paths([sample], store, root / "quarantine").events == len(_events())
    return store


def test_edge_cases_match_sql_leaf_by_leaf(edge_store: DuckDBEventStore) -> None:
    rules = [Rule(name, name, "active", "", source="windows", plan=plan) for name, plan in _plans().items()]
    expected = _pairs_sql(edge_store, rules)
    assert len(expected) > 1000  # the cases do match something
    assert _pairs_arrow(edge_store, rules) == expected
    assert _pairs_arrow(edge_store, rules, batch_rows=7) == expected  # many small batches, same result
    found, stats = match_rules(edge_store, rules)  # the engine's default is this evaluator
    assert {(m.rule_id, m.event_uid) for m in found} == expected and stats.statements == {"windows": 1}
    for name in ("glob-1-False", "kw-spans", "re-3-", "exists"):  # each case decides some rows
        assert any(rule_id == name for rule_id, _ in expected), name


def test_delegated_leaves_are_listed() -> None:
    plan = ArrowPlan.for_rules(
        [Rule("r", "r", "active", "", source="windows", plan=node) for node in _plans().values()],
        ["ocsf", "CommandLine", "ParentImage", "Image", "EventID", "Hashes"],
    )
    kinds = {type(leaf).__name__ for leaf in plan.delegated}
    assert kinds == {"Compare", "FieldRef", "Keyword"}
    assert all(not isinstance(leaf, Keyword) or leaf.glob[1:-1] != ("x",) for leaf in plan.delegated)


def test_frequent_globs_move_to_arrow_kernels() -> None:
    values = pa.array([f"c:\\windows\\app{n}.exe" for n in range(5000)] + ["other"])
    globs = GlobSet([(M, ".exe", M), (M, "app1", M), ("other",), (M, "w", M, "s", M)])
    first = globs.match(values)
    assert {0, 3} <= globs.vector  # hit every sampled value: evaluated by one kernel each from now on
    second = globs.match(values)
    assert sorted(zip(*map(list, first), strict=True)) == sorted(zip(*map(list, second), strict=True))
    assert len(first[0]) == 5000 + 1111 + 1 + 5000


def test_value_cache_matches_only_new_values_and_gives_the_same_pairs() -> None:
    globs = GlobSet([(M, "a", M), ("b", M), (M, "c"), ("abc",), (M,)])
    cache = ValueCache(globs)
    batches = [
        ["abc", "x", "b"],
        ["x", "abc", "ca", "ca"],
        ["b", "abc", "x"],
        ["zz", "abc", "ac", "x", "abc"],
    ]
    for texts in batches:  # repeated values in one batch: Arrow lower-cases `İ` and `i` alike
        values = pa.array(texts)
        expected = sorted(zip(*map(list, globs.match(values)), strict=True))
        assert sorted(zip(*map(list, cache.match(values)), strict=True)) == expected
    assert cache.enabled and len(cache.known) == 7  # each value matched once (twice: "ca", new twice)


def test_compiled_databases_are_kept_and_a_damaged_one_is_rebuilt(tmp_path: Path) -> None:
    values = pa.array(["c:\\windows\\cmd.exe /c whoami", "notepad", "x.exe", ""])
    globs = [(M, ".exe"), ("notepad",), (M, "who", M), (M, "c:", M, "?", M)]
    expected = sorted(zip(*map(list, GlobSet(globs).match(values)), strict=True))
    use_compiled_cache(tmp_path)
    try:
        GlobSet(globs)  # compiles and keeps the databases
        kept = sorted(tmp_path.glob("*.hsdb"))
        assert len(kept) == 2  # one of literals, one of globs with inner wildcards
        loaded = GlobSet(globs)
        assert sorted(zip(*map(list, loaded.match(values)), strict=True)) == expected
        for path in kept:
            path.write_bytes(b"not a database")
        rebuilt = GlobSet(globs)
        assert sorted(zip(*map(list, rebuilt.match(values)), strict=True)) == expected
        assert all(path.read_bytes() != b"not a database" for path in kept)
    finally:
        use_compiled_cache(None)


def test_read_ahead_stops_and_closes_the_source_when_the_caller_stops_or_it_fails() -> None:
    closed: list[str] = []

    def source(fail: bool) -> Iterator[pa.RecordBatch]:
        try:
            for n in range(100):
                if fail and n == 2:
                    raise QueryError("disk went away")
                yield pa.record_batch({"n": [n]})
        finally:
            closed.append("failed" if fail else "stopped")

    reading = _prefetched(source(fail=False))
    assert next(reading).column(0).to_pylist() == [0]
    reading.close()  # the caller stops early: the reading thread ends and closes the source
    with pytest.raises(QueryError, match="disk went away"):
        list(_prefetched(source(fail=True)))
    assert closed == ["stopped", "failed"]


@pytest.mark.slow
def test_sigmahq_windows_pack_matches_sql_on_corpus_evtx(
    edge_store: DuckDBEventStore, tmp_path: Path
) -> None:
    packs = [corpus("sigma", p) for p in ("rules", "rules-threat-hunting", "rules-emerging-threats")]
    loaded = load_rules(packs, validate=validate_for_duckdb)
    rules = [r for r in loaded.rules if r.status == "active" and r.source == "windows"]
    assert len(rules) > 2800
    roots = (corpus("evtx-attack-samples"), corpus("sigma", "regression_data"))
    store = DuckDBEventStore(tmp_path / "events")
    ingest_paths(sorted(p for root in roots for p in root.rglob("*.evtx")), store, tmp_path / "q")
    expected = _pairs_sql(store, rules)
    assert len(expected) > 1000
    assert _pairs_arrow(store, rules) == expected
    edge_expected = _pairs_sql(edge_store, rules)
    assert _pairs_arrow(edge_store, rules) == edge_expected


@pytest.mark.parametrize(
    "kind",
    [
        pa.timestamp("us", "UTC"),
        pa.timestamp("us", "Etc/UTC"),
        pa.timestamp("ms"),
        pa.timestamp("ns", "+02:00"),
        pa.timestamp("s", "Europe/Paris"),
    ],
)
def test_match_times_are_the_datetimes_arrow_gives(kind: pa.DataType) -> None:
    values = pa.array([0, None, 1_700_000_000], pa.int64()).cast(kind)
    fast, arrow = _python_values(values), values.to_pylist()
    assert fast == arrow
    assert [getattr(v, "tzinfo", None) for v in fast] == [getattr(v, "tzinfo", None) for v in arrow]
    assert _python_values(pa.array(["a", None])) == ["a", None]
