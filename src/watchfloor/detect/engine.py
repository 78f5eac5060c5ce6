"""Running active rules over the event store: one shared scan per source view, not a query per rule.

Rules are grouped by the view their logsource reads; each group is evaluated by as few statements as
possible (bounded by the number of distinct predicates), each statement scanning the view once and
computing every distinct predicate once (see `compile_sql`); the rules' boolean structure is then
evaluated over the returned Arrow batches (`evaluate`). The result is the list of (rule, event) matches.

Correlation rules need more of the events their base rules matched (the `group-by` and `value_count`
fields): those columns are fetched afterwards by one statement per view, for the matched events only,
and carried on each `Match` as `values`.

Everything goes through the store's `ReadSession` contract, never an engine's API; `parts` restricts a
run to some stored parts (streaming detection evaluates only what was stored since its last run).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.compute as pc
from sigma.rule import SigmaRule

from watchfloor.detect.arrow_match import BATCH_ROWS, ArrowPlan, rebatched, scan_view
from watchfloor.detect.compile_sql import OCSF as OCSF_COLUMN
from watchfloor.detect.compile_sql import SqlCompiler, quote_ident, sql_string
from watchfloor.detect.errors import RuleError, UnsupportedRule
from watchfloor.detect.evaluate import Program, evaluate, program
from watchfloor.detect.ir import Leaf, Node, leaves
from watchfloor.detect.loader import Rule
from watchfloor.detect.logsource import Target, resolve_logsource
from watchfloor.errors import QueryError
from watchfloor.store import EventStore, ReadSession

__all__ = ["Match", "ScanStats", "correlation_fields", "match_rules", "validate_for_duckdb"]

#: Distinct predicates per statement: large enough to share scans, small enough to plan quickly.
MAX_LEAVES = 4000
#: Compiled plans kept for reuse (a few views times the library snapshots in use).
_PLAN_CACHE_SIZE = 16
_PLANS: dict[tuple[str, tuple[str, ...]], tuple[list[Rule], ArrowPlan]] = {}
#: Event ids per statement when fetching correlation fields of matched events.
_UIDS_PER_STATEMENT = 5_000
_ENTITY_COLUMNS = ("uid", "time", "host", "user_name", "src_ip", "dst_ip")
#: Names a correlation may group by when the view has no such column: the normalized entities.
_OCSF_FIELDS = {
    "src_ip": "src_endpoint_ip",
    "dst_ip": "dst_endpoint_ip",
    "host": "device_hostname",
    "user": "actor_user_name",
}


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
    values: tuple[tuple[str, str | None], ...] = ()

    def value(self, name: str) -> str | None:
        """A fetched field of the event (see `correlation_fields`), None when absent or not fetched."""
        for key, value in self.values:
            if key == name:
                return value
        return None


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


def correlation_fields(rules: Sequence[Rule]) -> dict[str, tuple[str, ...]]:
    """For each base rule of an active correlation, the fields its matches must carry."""
    needs: dict[str, dict[str, None]] = defaultdict(dict)
    for rule in rules:
        if rule.status == "active" and rule.correlation is not None:
            for base in rule.correlation.rules:
                needs[base].update(dict.fromkeys(rule.correlation.fields_of(base)))
    return {rule_id: tuple(fields) for rule_id, fields in needs.items() if fields}


def _field_sql(rule: Rule, name: str, compiler: SqlCompiler) -> str:
    """SQL reading a rule's Sigma field in its view: the columns of its logsource variants, in order."""
    columns: list[str] = []
    if isinstance(rule.sigma, SigmaRule):
        logsource = rule.sigma.logsource
        try:
            target: Target | None = resolve_logsource(
                logsource.product, logsource.category, logsource.service
            )
        except UnsupportedRule:
            target = None
        for variant in target.variants if target else ():
            mapped = variant.column(name)
            column = compiler.column(mapped) if mapped else None
            if column and column not in columns:
                columns.append(column)
    if not columns and compiler.column(name):
        columns.append(str(compiler.column(name)))
    parts = [f"CAST({quote_ident(c)} AS VARCHAR)" for c in columns]
    if not parts and name.lower() in _OCSF_FIELDS:
        parts.append(f"CAST({OCSF_COLUMN}.{_OCSF_FIELDS[name.lower()]} AS VARCHAR)")
    if not parts:
        return "CAST(NULL AS VARCHAR)"
    return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"


def _attach_fields(
    reader: ReadSession,
    compiler: SqlCompiler,
    matches: list[Match],
    by_id: dict[str, Rule],
    needs: dict[str, tuple[str, ...]],
) -> list[Match]:
    """The matches with `values` filled from the view, fetched in one statement for matched events."""
    wanted = [m for m in matches if m.rule_id in needs]
    if not wanted:
        return matches
    exprs: dict[str, int] = {}
    slots: dict[tuple[str, str], int] = {}
    for rule_id in {m.rule_id for m in wanted}:
        for name in needs[rule_id]:
            slots[(rule_id, name)] = exprs.setdefault(_field_sql(by_id[rule_id], name, compiler), len(exprs))
    selected = "".join(f", {expr} AS f{i}" for expr, i in exprs.items())
    uids = sorted({m.event_uid for m in wanted})
    found: dict[str, tuple[str | None, ...]] = {}
    for start in range(0, len(uids), _UIDS_PER_STATEMENT):
        listed = ", ".join(sql_string(uid) for uid in uids[start : start + _UIDS_PER_STATEMENT])
        sql = (
            f"SELECT {OCSF_COLUMN}.metadata_uid{selected} FROM {quote_ident(compiler.view)} "
            f"WHERE {OCSF_COLUMN}.metadata_uid IN ({listed})"
        )
        for batch in reader.query_batches(sql):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            for uid, *fields in zip(*columns, strict=True):
                found[uid] = tuple(fields)
    out: list[Match] = []
    for match in matches:
        fetched = found.get(match.event_uid)
        if match.rule_id not in needs or fetched is None:
            out.append(match)
            continue
        values = tuple((name, fetched[slots[(match.rule_id, name)]]) for name in needs[match.rule_id])
        out.append(replace(match, values=values))
    return out


def _arrow_plan(source: str, group: list[Rule], columns: list[str]) -> ArrowPlan:
    """The view's plan, reused while the same rule objects run over the same columns.

    Building a plan compiles every pattern of the group (seconds for the SigmaHQ pack), so streaming
    detection, which runs the same snapshot of the library over batch after batch, must not redo it.
    The cache keeps the rule objects alive, so identity comparison is safe.
    """
    key = (source, tuple(columns))
    cached = _PLANS.get(key)
    same = cached is not None and len(cached[0]) == len(group)
    if cached is not None and same and all(a is b for a, b in zip(cached[0], group, strict=True)):
        return cached[1]
    plan = ArrowPlan.for_rules(group, columns)
    if len(_PLANS) >= _PLAN_CACHE_SIZE:
        _PLANS.pop(next(iter(_PLANS)))
    _PLANS[key] = (list(group), plan)
    return plan


def match_rules(
    store: EventStore,
    rules: Sequence[Rule],
    since: dt.datetime | None = None,
    max_leaves: int = MAX_LEAVES,
    parts: Collection[str] | None = None,
    engine: str = "arrow",
) -> tuple[list[Match], ScanStats]:
    """Every (rule, event) match of the active detection rules over the stored events.

    `parts` limits the run to those stored parts (see `EventStore.parts`); None reads everything.
    `engine` is `arrow` (the in-process multi-pattern evaluator, `arrow_match`) or `sql` (one statement
    per group of up to `max_leaves` predicates, `compile_sql`); both give the same matches (the tests
    compare them), `sql` stays as the reference.
    """
    if engine not in ("arrow", "sql"):
        raise ValueError(f"unknown detection engine {engine!r} (arrow or sql)")
    groups: dict[str, list[Rule]] = defaultdict(list)
    for rule in rules:
        if rule.status == "active" and rule.plan is not None and rule.source:
            groups[rule.source].append(rule)
    matches: list[Match] = []
    statements: dict[str, int] = {}
    needs = correlation_fields(rules)
    by_id = {rule.id: rule for rule in rules}
    if not groups:
        return matches, ScanStats(statements, 0)
    with store.open_reader(parts) as reader:
        views = set(reader.views())
        where = f"ocsf.time >= {sql_string(since.isoformat())}::TIMESTAMPTZ" if since else None
        for source, group in sorted(groups.items()):
            if source not in views:
                continue
            columns = reader.view_columns(source)
            compiler = SqlCompiler(source, columns)
            found: list[Match] = []
            if engine == "arrow":
                plan = _arrow_plan(source, group, columns)
                statements[source] = 1
                try:
                    found.extend(Match(*row, source) for row in scan_view(reader, plan, source, where))
                except QueryError as exc:
                    raise RuleError(f"detection over {source} failed: {exc}") from exc
            for chunk, leaf_list in _chunks(group, max_leaves) if engine == "sql" else ():
                statements[source] = statements.get(source, 0) + 1
                positions = {leaf: i for i, leaf in enumerate(leaf_list)}
                programs = [(rule, program(rule.plan, positions)) for rule in chunk if rule.plan is not None]
                try:
                    batches = reader.query_batches(compiler.scan(leaf_list, where), BATCH_ROWS)
                    for batch in rebatched(batches):
                        found.extend(_batch_matches(batch, programs, source))
                except QueryError as exc:
                    raise RuleError(f"detection over {source} failed: {exc}") from exc
            try:
                matches.extend(_attach_fields(reader, compiler, found, by_id, needs))
            except QueryError as exc:
                raise RuleError(f"correlation fields of {source}: {exc}") from exc
    return matches, ScanStats(statements, sum(len(g) for g in groups.values()))


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
