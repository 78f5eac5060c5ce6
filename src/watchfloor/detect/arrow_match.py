"""The rules of one source view evaluated in-process over Arrow batches, with multi-pattern matching.

The SQL engine (`compile_sql`) computes each distinct predicate as a column of one statement: tens of
thousands of case-insensitive `LIKE`s per row. This evaluator gives exactly the same leaf results, but
per column and per distinct value: each column of a batch is dictionary-encoded and lower-cased once,
every glob on that column is matched against all distinct values in one Hyperscan pass (`patterns`),
regular expressions run through Arrow's RE2 over the distinct values, and only leaves that matched
something are expanded back to rows. Rules are then combined sparsely: a leaf that matched nothing in
the batch is the constant false, so most rules fold to false without touching a row.

Leaves it cannot compute exactly this way (field references, numeric comparisons, keyword globs that
could span two fields, regular expressions Arrow's RE2 refuses, columns of types whose text form is
the store's own) are *delegated*: computed by the SQL compiler's own expressions over the same Arrow
batch, registered in the store's read session (`ReadSession.register_table`), so this module needs no
engine of its own. `ArrowPlan.delegated` lists them.

Entry point: `ArrowPlan.for_rules(rules, view_columns)`, then `plan.select(view)` to read the batch and
`plan.rows(batch, reader)` for the matches; `match_view` does both over a store read session.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import functools
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchfloor.detect.compile_sql import OCSF, SqlCompiler, quote_ident
from watchfloor.detect.evaluate import Program, program
from watchfloor.detect.gc_pause import gc_paused
from watchfloor.detect.ir import (
    Const,
    Exists,
    FieldRef,
    Glob,
    Keyword,
    Leaf,
    Regex,
    StrMatch,
    Wild,
    folded,
    leaves,
)
from watchfloor.detect.loader import Rule
from watchfloor.detect.patterns import RegexSet, ValueCache, glob_set, unique_sorted
from watchfloor.detect.sparse import LeafValues, run_program
from watchfloor.store import ReadSession

__all__ = ["BATCH_ROWS", "ArrowPlan", "MatchRow", "match_view", "rebatched", "scan_view"]

#: Rows per Arrow batch read back from the store (larger batches share more distinct values).
BATCH_ROWS = 262_144
#: Threads evaluating a batch's columns.
COLUMN_THREADS = 2
_ENTITY_FIELDS = (
    "metadata_uid",
    "time",
    "device_hostname",
    "actor_user_name",
    "src_endpoint_ip",
    "dst_endpoint_ip",
)
_DELEGATED_VIEW = "wf_batch"


_UTC_ZONES = {None, "UTC", "Etc/UTC", "+00:00", "Z", "GMT", "Etc/GMT", "Universal", "Zulu"}


def _python_values(values: pa.Array) -> list[Any]:
    """`values.to_pylist()`, with timestamps made five times faster.

    Arrow builds each time-zone-aware datetime through the zone database (about 5 µs a value; a
    million matched events spent seconds there). NumPy turns the naive timestamps into datetimes in
    C, and the zone, the same object Arrow would attach, is attached by `replace` (for UTC and naive
    timestamps only, where the stored value is the wall-clock time).
    """
    if not pa.types.is_timestamp(values.type) or values.type.tz not in _UTC_ZONES:
        return list(values.to_pylist())  # local times of other zones: Arrow's conversion
    naive = values.cast(pa.timestamp(values.type.unit)).to_numpy(zero_copy_only=False).astype(object)
    if any(value is not None and type(value) is not dt.datetime for value in naive):
        return list(values.to_pylist())  # beyond what datetime holds (NumPy gave integers): Arrow's own error
    zone = pa.scalar(0, values.type).as_py().tzinfo
    if zone is None:
        return list(naive)
    return [None if value is None else value.replace(tzinfo=zone) for value in naive]


class MatchRow(NamedTuple):
    """One (rule, event) match with the event's entities, in the field order of `engine.Match`."""

    rule_id: str
    event_uid: str
    time: dt.datetime | None
    host: str | None
    user: str | None
    src_ip: str | None
    dst_ip: str | None


@dataclass(slots=True)
class _ColumnJob:
    """Everything computed from one column of the batch: glob sets per casing, regexes, exists tests.

    Globs are kept in two sets per casing, the column's own and the keyword globs (the same for every
    column, so that their compiled set is shared); each glob lists the leaf slots it decides.
    """

    column: str
    globs: dict[tuple[bool, bool], dict[Glob, list[int]]] = field(default_factory=dict)
    regexes: list[tuple[str, int]] = field(default_factory=list)
    exists: list[tuple[bool, int]] = field(default_factory=list)
    sets: list[tuple[bool, ValueCache, list[list[int]]]] = field(default_factory=list)
    regex_cache: ValueCache | None = None

    def add_glob(self, glob: Glob, cased: bool, slot: int, keyword: bool = False) -> None:
        key = glob if cased else folded(glob)
        self.globs.setdefault((cased, keyword), {}).setdefault(key, []).append(slot)

    def compile(self) -> None:
        self.sets = [
            (cased, ValueCache(glob_set(tuple(found))), list(found.values()))
            for (cased, _), found in sorted(self.globs.items())
        ]
        if self.regexes:
            self.regex_cache = ValueCache(RegexSet([pattern for pattern, _ in self.regexes]))


def _simple_keyword(leaf: Keyword) -> bool:
    """A keyword `*text*` whose text holds no newline cannot span two fields of the SQL text column."""
    glob = leaf.glob
    return (
        len(glob) == 3
        and glob[0] is Wild.MANY
        and glob[2] is Wild.MANY
        and isinstance(glob[1], str)
        and "\n" not in glob[1]
    )


@functools.lru_cache(maxsize=1024)
def _arrow_regex_ok(pattern: str) -> bool:
    try:
        pc.match_substring_regex(pa.array(["x"], pa.string()), pattern)
    except pa.ArrowInvalid:
        return False
    return True


def _regex_text(leaf: Regex) -> str:
    """The pattern with its flags inline, exactly as `compile_sql` hands it to DuckDB."""
    flags = "".join(sorted(leaf.flags))
    return (f"(?{flags})" if flags else "") + leaf.pattern


class ArrowPlan:
    """The distinct leaves of a view's rules, grouped per column, and each rule's program over them."""

    def __init__(self, rules: Sequence[Rule], columns: Sequence[str]) -> None:
        trees = [(r.id, r.plan) for r in rules if r.plan is not None]
        compiler = SqlCompiler("view", columns)
        distinct = list(
            dict.fromkeys(leaf for _, tree in trees for leaf in leaves(tree) if not isinstance(leaf, Const))
        )
        self.positions: dict[Leaf, int] = {leaf: i for i, leaf in enumerate(distinct)}
        self.programs: list[tuple[str, Program]] = [
            (rid, program(tree, self.positions)) for rid, tree in trees
        ]
        self.constants: dict[int, bool] = {}
        self.keyword_parts: dict[int, list[int]] = {}
        jobs: dict[str, _ColumnJob] = {}
        delegated: list[Leaf] = []
        read: dict[str, None] = {OCSF: None}

        def job(column: str) -> _ColumnJob:
            read[column] = None
            return jobs.setdefault(column, _ColumnJob(column))

        sub_slots = len(distinct)
        for slot, leaf in enumerate(distinct):
            if isinstance(leaf, Keyword):
                if not compiler.producer_columns:
                    self.constants[slot] = False
                elif _simple_keyword(leaf):
                    parts = self.keyword_parts.setdefault(slot, [])
                    for column in compiler.producer_columns:
                        job(column).add_glob(leaf.glob, leaf.cased, sub_slots, keyword=True)
                        parts.append(sub_slots)
                        sub_slots += 1
                else:
                    delegated.append(leaf)
                    read.update(dict.fromkeys(compiler.producer_columns))
                continue
            field_column = compiler.column(leaf.field)
            if isinstance(leaf, Exists):
                if field_column is None:
                    self.constants[slot] = not leaf.present
                else:
                    job(field_column).exists.append((leaf.present, slot))
            elif field_column is None:
                self.constants[slot] = False
            elif isinstance(leaf, StrMatch):
                job(field_column).add_glob(leaf.glob, leaf.cased, slot)
            elif isinstance(leaf, Regex) and _arrow_regex_ok(_regex_text(leaf)):
                job(field_column).regexes.append((_regex_text(leaf), slot))
            else:  # Compare, FieldRef, RE2 dialect differences: the SQL expression over the batch
                delegated.append(leaf)
                read[field_column] = None
                if isinstance(leaf, FieldRef) and (other := compiler.column(leaf.other)):
                    read[other] = None
        for item in jobs.values():
            item.compile()
        self.jobs = tuple(jobs.values())
        self.delegated = tuple(delegated)
        self.columns = tuple(c for c in dict.fromkeys([*columns, OCSF]) if c in read)  # the view order

    @classmethod
    def for_rules(cls, rules: Sequence[Rule], columns: Sequence[str]) -> ArrowPlan:
        """The plan of `rules` (active, of one view) over a view with these columns."""
        with gc_paused():
            return cls(rules, columns)

    def select(self, view: str, where: str | None = None) -> str:
        """A DuckDB statement reading the columns this plan needs (`where` as in `engine.match_rules`).

        Of the normalized `ocsf` record only the entity fields are read (it also holds the raw event).
        """
        core = ", ".join(f"{name} := {OCSF}.{name}" for name in _ENTITY_FIELDS)
        parts = [f"struct_pack({core}) AS {OCSF}"]
        parts.extend(quote_ident(c) for c in self.columns if c != OCSF)
        sql = f"SELECT {', '.join(parts)} FROM {quote_ident(view)}"
        return sql + (f" WHERE {where}" if where else "")

    def leaf_values(self, batch: pa.RecordBatch, reader: ReadSession | None = None) -> LeafValues:
        """Every leaf's result over the batch, sparse: leaves that matched nothing are absent.

        `reader` computes the delegated leaves; a plan with delegated leaves needs one.
        """
        values = LeafValues(batch.num_rows, self.keyword_parts)
        for slot, value in self.constants.items():
            values.set_constant(slot, value)
        # Columns are independent and most of their work (Arrow kernels, Hyperscan scans, numpy) runs
        # without the GIL, so two threads share them; `LeafValues` takes results from both.
        list(_column_pool().map(lambda item: _run_job(item, batch.column(item.column), values), self.jobs))
        if self.delegated:
            if reader is None:
                raise ValueError("this plan delegates leaves to the store: pass a read session")
            for slot, result in zip(
                (self.positions[leaf] for leaf in self.delegated), self._delegate(batch, reader), strict=True
            ):
                values.set_rows(slot, result)
        return values

    def rows(self, batch: pa.RecordBatch, reader: ReadSession | None = None) -> list[MatchRow]:
        """The (rule, event) matches in one batch read by `select` (`reader`: see `leaf_values`)."""
        values = self.leaf_values(batch, reader)
        found: list[tuple[str, np.ndarray]] = []
        for rule_id, prog in self.programs:
            hits = run_program(prog, values)
            if hits is False:
                continue
            picked = np.arange(batch.num_rows) if hits is True else np.flatnonzero(hits)
            if len(picked):
                found.append((rule_id, picked))
        if not found:
            return []
        # Many rules match the same events: read each matched event's entities once.
        matched = unique_sorted(np.concatenate([picked for _, picked in found]))
        core = batch.column(OCSF)
        index = pa.array(matched)
        columns = [_python_values(pc.struct_field(core, name).take(index)) for name in _ENTITY_FIELDS]
        events = list(zip(*columns, strict=True))
        out: list[MatchRow] = []
        for rule_id, picked in found:
            for position in np.searchsorted(matched, picked).tolist():
                out.append(MatchRow(rule_id, *events[position]))
        return out

    def _delegate(self, batch: pa.RecordBatch, reader: ReadSession) -> list[np.ndarray]:
        """The delegated leaves, computed by the SQL compiler's expressions over the batch."""
        compiler = SqlCompiler(_DELEGATED_VIEW, batch.schema.names)
        reader.register_table(_DELEGATED_VIEW, pa.Table.from_batches([batch]))
        table = pa.Table.from_batches(
            list(reader.query_batches(compiler.scan(list(self.delegated)), max(batch.num_rows, 1))),
        )
        return [
            np.asarray(table.column(f"p{i}").to_numpy(zero_copy_only=False), dtype=bool)
            for i in range(len(self.delegated))
        ]


def _text(array: pa.Array) -> pa.Array:
    """The column as text: producer columns are stored as text, others get Arrow's cast.

    `events.flatten` stores every producer value as text, so the cast only happens for a view column
    of another type.
    """
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array
    return pc.cast(array, pa.string())


def _run_job(job: _ColumnJob, array: pa.Array, values: LeafValues) -> None:
    """The leaves of one column: exists from validity, globs and regexes over distinct values."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    for present, slot in job.exists:
        valid = np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=bool)
        values.set_rows(slot, valid if present else ~valid)
    if array.null_count == len(array) or not (job.sets or job.regexes):
        return
    encoded = pc.dictionary_encode(_text(array))
    dictionary = encoded.dictionary
    count = len(dictionary)
    codes = np.asarray(pc.fill_null(encoded.indices, count).to_numpy(zero_copy_only=False), dtype=np.int64)
    texts: dict[bool, pa.Array] = {}
    for cased, cache, slots in job.sets:
        if cased not in texts:
            texts[cased] = dictionary if cased else pc.utf8_lower(dictionary)
        globs, matched = cache.match(texts[cased])
        if not len(globs):
            continue
        order = np.argsort(globs, kind="stable")
        globs, matched = globs[order], matched[order]
        firsts = np.flatnonzero(np.r_[True, globs[1:] != globs[:-1]])
        bounds = np.r_[firsts, len(globs)]
        for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            mask = np.zeros(count + 1, dtype=bool)
            mask[matched[start:end]] = True
            for slot in slots[int(globs[start])]:
                values.add_lazy(slot, codes, mask)
    if job.regex_cache is not None:
        found, positions = job.regex_cache.match(dictionary)
        for index in np.unique(found).tolist():
            mask = np.zeros(count + 1, dtype=bool)
            mask[positions[found == index]] = True
            values.add_lazy(job.regexes[index][1], codes, mask)


@functools.cache
def _column_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The threads evaluating a batch's columns, shared by every plan of the process."""
    return concurrent.futures.ThreadPoolExecutor(COLUMN_THREADS, thread_name_prefix="wf-columns")


def _prefetched(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches, each read on a thread while the one before is evaluated.

    DuckDB reads and decodes Parquet without holding the GIL, so reading overlaps evaluation. The
    reading thread ends, closing the store's cursor, when the batches are done or the caller stops.
    """
    ready: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def pump() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        ready.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
            item: object = end
        except BaseException as exc:  # handed to the caller, raised there
            item = exc
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    reader = threading.Thread(target=pump, name="wf-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join()


def rebatched(reader: Iterator[pa.RecordBatch], rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Batches of about `rows` rows (DuckDB yields small ones, one or more per file)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
            pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def scan_view(
    reader: ReadSession,
    plan: ArrowPlan,
    view: str,
    where: str | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[MatchRow]:
    """The plan's matches over the view, batch by batch, reading each batch ahead of its evaluation.

    The garbage collector is paused while a batch is evaluated: the Hyperscan callbacks and match
    rows allocate millions of small objects, and each collection they trigger would walk the loaded
    rule pack (about a third of the detection time over a million events).
    """
    for batch in _prefetched(
        rebatched(reader.query_batches(plan.select(view, where), batch_rows), batch_rows)
    ):
        with gc_paused():
            found = plan.rows(batch, reader)
        yield from found


def match_view(
    reader: ReadSession,
    view: str,
    rules: Sequence[Rule],
    where: str | None = None,
    batch_rows: int = BATCH_ROWS,
    plan: ArrowPlan | None = None,
) -> list[MatchRow]:
    """Every match of `rules` (active, of this view) over the view, read once in Arrow batches.

    `plan` is `ArrowPlan.for_rules(rules, the view's columns)` when the caller built it already.
    """
    plan = plan or ArrowPlan.for_rules(rules, reader.view_columns(view))
    return list(scan_view(reader, plan, view, where, batch_rows))
