"""The SigmaHQ pack: it loads (>= 99% active, every other rule with a reason) and every regression
case fires its rule on its own sample."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import CORPORA, corpus
from watchfloor.detect import LoadResult, Match, load_rules, match_rules, validate_for_duckdb
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

PACKS = ("rules", "rules-threat-hunting", "rules-emerging-threats")


@dataclass(frozen=True)
class Case:
    folder: Path
    rule_id: str
    sample: Path


def _cases() -> list[Case]:
    root = CORPORA / "sigma" / "regression_data"
    out = []
    for info in sorted(root.rglob("info.yml")):
        doc = yaml.safe_load(info.read_text(encoding="utf-8"))
        samples = sorted(info.parent.glob("*.evtx"))
        if samples:
            out.append(Case(info.parent, str(doc["rule_metadata"][0]["id"]), samples[0]))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def pack() -> LoadResult:
    root = corpus("sigma")
    return load_rules([root / p for p in PACKS], validate=validate_for_duckdb)


@pytest.fixture(scope="module")
def regression(
    pack: LoadResult, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[Match], dict[str, str]]:
    root = tmp_path_factory.mktemp("regression")
    store = DuckDBEventStore(root / "events")
    summary = ingest_paths([c.sample for c in CASES], store, root / "quarantine")
    assert summary.events > 0 and not summary.errors
    wanted = {c.rule_id for c in CASES}
    matches, stats = match_rules(store, [r for r in pack.rules if r.id in wanted])
    assert stats.statements == {"windows": 1}  # one shared scan for all of them
    connection = store.connect()
    origins = dict(
        connection.execute("SELECT ocsf.metadata_uid, ocsf.metadata_origin FROM windows").fetchall()
    )
    connection.close()
    return matches, origins


def test_pack_loads_mostly_active(pack: LoadResult) -> None:
    assert not pack.errors
    counts = Counter(r.status for r in pack.rules)
    assert len(pack.rules) > 3000
    assert counts["active"] / len(pack.rules) >= 0.99, counts
    for rule in pack.rules:
        if rule.status != "active":
            assert rule.reason, rule.id
        else:
            assert rule.plan is not None and rule.source


@pytest.mark.parametrize("case", CASES, ids=[str(c.folder.name) for c in CASES])
def test_regression_case_fires(
    case: Case, pack: LoadResult, regression: tuple[list[Match], dict[str, str]]
) -> None:
    [rule] = [r for r in pack.rules if r.id == case.rule_id]
    assert rule.status == "active", rule.reason
    matches, origins = regression
    hits = [
        m for m in matches if m.rule_id == case.rule_id and origins[m.event_uid].endswith(case.sample.name)
    ]
    assert hits, f"{rule.title} did not fire on {case.sample.name}"
