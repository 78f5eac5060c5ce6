"""Running active rules over the event store: one shared scan per source view, not a query per rule.

Rules are grouped by the view their logsource reads; each group is evaluated by as few statements as
possible (bounded by the number of distinct predicates), each statement scanning the view once and
computing every distinct predicate once (see `compile_sql`); the rules' boolean structure is then
evaluated over the returned Arrow batches (`evaluate`). The result is the list of (rule, event) matches.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from watchfloor.detect.compile_sql import SqlCompiler, quote_ident, sql_string
from watchfloor.detect.errors import RuleError
from watchfloor.detect.evaluate import Program, evaluate, program
from watchfloor.detect.ir import Leaf, Node, leaves
from watchfloor.detect.loader import Rule
from watchfloor.store import DuckDBEventStore

__all__ = ["Match", "ScanStats", "match_rules", "validate_for_duckdb"]

#: Distinct predicates per statement: large enough to share scans, small enough to plan quickly.
MAX_LEAVES = 4000
#: Rows per Arrow batch read back from the scan.
BATCH_ROWS = 65_536
_ENTITY_COLUMNS = ("uid", "time", "host", "user_name", "src_ip", "dst_ip")


@dataclass(frozen=True, slots=True)
class Match:
    """One event matched by one rule, with the entities an alert names."""

    rule_id: str
    event_uid: str
    time: dt.datetime | None
    host: str | None = None
    user: str | None = None
    src_ip: str | None = None
    dst_ip: str | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class ScanStats:
    """How much work a detection run did: statements per source view and rules evaluated."""

    statements: dict[str, int]
    rules: int


def validate_for_duckdb(node: Node) -> None:
    """Loader hook: refuse what DuckDB cannot evaluate (RE2-incompatible regular expressions)."""
    SqlCompiler("events", []).validate(node)


def _chunks(rules: list[Rule], max_leaves: int) -> list[tuple[list[Rule], list[Leaf]]]:
    """Rules split so that each statement computes at most about `max_leaves` distinct predicates."""
    out: list[tuple[list[Rule], list[Leaf]]] = []
    current: list[Rule] = []
    seen: dict[Leaf, None] = {}
    for rule in rules:
        assert rule.plan is not None
        new = [leaf for leaf in leaves(rule.plan) if leaf not in seen]
        if current and len(seen) + len(new) > max_leaves:
            out.append((current, list(seen)))
            current, seen = [], {}
        current.append(rule)
        seen.update((leaf, None) for leaf in leaves(rule.plan))
    if current:
        out.append((current, list(seen)))
    return out


def match_rules(
    store: DuckDBEventStore,
    rules: Sequence[Rule],
    since: dt.datetime | None = None,
    max_leaves: int = MAX_LEAVES,
) -> tuple[list[Match], ScanStats]:
    """Every (rule, event) match of the active detection rules over the stored events."""
    groups: dict[str, list[Rule]] = defaultdict(list)
    for rule in rules:
        if rule.status == "active" and rule.plan is not None and rule.source:
            groups[rule.source].append(rule)
    matches: list[Match] = []
    statements: dict[str, int] = {}
    connection = store.connect()
    try:
        views = {row[0] for row in connection.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        where = f"ocsf.time >= {sql_string(since.isoformat())}::TIMESTAMPTZ" if since else None
        for source, group in sorted(groups.items()):
            if source not in views:
                continue
            columns = [row[0] for row in connection.execute(f"DESCRIBE {quote_ident(source)}").fetchall()]
            compiler = SqlCompiler(source, columns)
            for chunk, leaf_list in _chunks(group, max_leaves):
                statements[source] = statements.get(source, 0) + 1
                positions = {leaf: i for i, leaf in enumerate(leaf_list)}
                programs = [(rule, program(rule.plan, positions)) for rule in chunk if rule.plan is not None]
                try:
                    reader = connection.sql(compiler.scan(leaf_list, where)).to_arrow_reader(BATCH_ROWS)
                    for batch in _rebatch(reader):
                        matches.extend(_batch_matches(batch, programs, source))
                except duckdb.Error as exc:
                    raise RuleError(f"detection over {source} failed: {str(exc).splitlines()[0]}") from exc
    finally:
        connection.close()
    return matches, ScanStats(statements, sum(len(g) for g in groups.values()))


def _rebatch(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """Batches of about `BATCH_ROWS` rows (a scan yields one small batch per file)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= BATCH_ROWS:
            yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
            pending, rows = [], 0
    if rows:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _batch_matches(batch: pa.RecordBatch, programs: list[tuple[Rule, Program]], source: str) -> list[Match]:
    entity_columns = [batch.column(n) for n in _ENTITY_COLUMNS]
    out: list[Match] = []
    for rule, prog in programs:
        hits = evaluate(prog, batch, len(_ENTITY_COLUMNS))
        if not pc.any(hits).as_py():
            continue
        picked = [pc.filter(c, hits).to_pylist() for c in entity_columns]
        for uid, time, host, user, src_ip, dst_ip in zip(*picked, strict=True):
            out.append(Match(rule.id, uid, time, host, user, src_ip, dst_ip, source))
    return out
