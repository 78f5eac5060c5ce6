"""Many globs matched against many values in one pass: Hyperscan over one buffer per column.

A column's distinct values are laid end to end in one byte buffer, each preceded and followed by the
byte 0xFF, which never occurs in UTF-8 text. A glob anchored at the start of the value then becomes
`0xFF text`, one anchored at the end `text 0xFF`, equality `0xFF text 0xFF` and `contains` the bare
text: every single-literal glob (all but a few hundred of SigmaHQ's) is a pure literal, compiled by
Hyperscan's literal compiler. The other globs become byte-level regular expressions in which `*` is
`[^` 0xFF `]*` and `?` is exactly one UTF-8 encoded character, the unit of SQL's `LIKE _`. Because the
separator is not text, no match can run from one value into the next, and values holding newlines
need no special case. A match's end offset is mapped back to its value with `numpy.searchsorted`.

Case is not handled here: the caller lower-cases values and globs for case-insensitive matching (as
the SQL compiler does), so that both engines fold case in exactly the same way.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import hyperscan
import numpy as np

# `pa.array(ndarray)` imports numpy.ma on first use. Imported then, after a rule pack is loaded, the
# collections its class creation triggers walk the whole pack (over a second); now it costs ~20 ms.
import numpy.ma
import pyarrow as pa
import pyarrow.compute as pc

from watchfloor.detect.compile_sql import like_pattern
from watchfloor.detect.errors import UnsupportedRule
from watchfloor.detect.ir import Glob, Wild

__all__ = [
    "GlobSet",
    "RegexSet",
    "ValueCache",
    "compiled_database",
    "glob_literal",
    "glob_regex",
    "glob_set",
    "joined_buffer",
    "unique_sorted",
    "use_compiled_cache",
]

SEP = 0xFF
_SEP = b"\xff"
#: One UTF-8 encoded character (never the separator byte).
_CHAR = rb"[^\x80-\xbf\xff][\x80-\xbf]{0,3}"
#: A glob hitting more than this share of a batch's distinct values moves to an Arrow kernel.
FREQUENT = 0.25
FREQUENT_MIN_VALUES = 2000
MAX_REBUILDS = 3
#: Distinct values scanned first, once, to find the frequent globs before the first full scan.
SAMPLE_VALUES = 2000
_ID_SHIFT = 40  # match ids and end offsets are packed into one int per match
_HYPERSCAN_VERSION = importlib.metadata.version("hyperscan")


def glob_literal(glob: Glob) -> bytes | None:
    """The pure-literal byte pattern of a glob with one text part and only leading/trailing `*`."""
    if Wild.ONE in glob:
        return None
    texts = [i for i, p in enumerate(glob) if isinstance(p, str)]
    if len(texts) != 1:
        return None
    index = texts[0]  # every other part is `Wild.MANY`: a glob holds only text, `*` and `?`
    head = b"" if index else _SEP
    tail = b"" if index < len(glob) - 1 else _SEP
    return head + str(glob[index]).encode() + tail


def glob_regex(glob: Glob) -> bytes:
    """A byte-level Hyperscan expression for any glob over the separated buffer."""
    out: list[bytes] = []
    for part in glob:
        if part is Wild.MANY:
            out.append(rb"[^\xff]*")
        elif part is Wild.ONE:
            out.append(_CHAR)
        else:
            out.append(b"".join(b"\\x%02x" % byte for byte in str(part).encode()))
    if glob and glob[0] is Wild.MANY:
        out = out[1:]
    else:
        out.insert(0, rb"\xff")
    if not glob or glob[-1] is not Wild.MANY or len(glob) > 1:
        out.append(rb"\xff")
    return b"".join(out)


def joined_buffer(values: pa.Array) -> tuple[bytes, np.ndarray]:
    """The values (a non-null string array) laid out as `FF v0 FF v1 FF ... FF`, and each value's start.

    One Arrow kernel prefixes every value with the separator; the result's data buffer is then the
    layout but for the final separator (no per-byte index arrays: this runs on every batch's column).
    """
    empty = pa.scalar(b"", pa.large_binary())
    joined = pc.binary_join_element_wise(
        empty, values.cast(pa.large_binary()), pa.scalar(_SEP, pa.large_binary())
    )
    offsets = np.frombuffer(
        joined.buffers()[1], dtype=np.int64, count=len(joined) + 1, offset=joined.offset * 8
    )
    data = joined.buffers()[2]
    body = memoryview(data)[offsets[0] : offsets[-1]] if data is not None else b""
    return b"".join((body, _SEP)), offsets[:-1] - offsets[0] + 1


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """`numpy.unique` of an integer array by one sort: numpy 2's hash-based `unique` is ~50x slower here."""
    if len(values) < 2:
        return values.copy()
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]]


def _vector_match(values: pa.Array, glob: Glob) -> pa.Array:
    """One glob over all values by one Arrow kernel (exact byte operations for the literal shapes)."""
    literal = glob_literal(glob)
    if literal is None:
        return pc.match_like(values, like_pattern(glob))  # the SQL compiler's own pattern
    text = literal.strip(_SEP).decode()
    head, tail = literal.startswith(_SEP), literal.endswith(_SEP)
    if head and tail:
        return pc.equal(values, text)
    if head:
        return pc.starts_with(values, text)
    return pc.ends_with(values, text) if tail else pc.match_substring(values, text)


_compiled_folder: list[Path] = []  # where compiled databases are kept; empty: not kept


def use_compiled_cache(folder: Path | None) -> None:
    """Keep compiled Hyperscan databases in `folder` (None: compile in every process).

    Compiling a rule pack's 10,000+ globs takes about a second per set, and the same sets come back on
    every `watchfloor detect` and every `serve` start; a database depends only on its patterns, so it
    is stored under their hash. The CLI points this at the data directory's `cache/hyperscan`.
    """
    _compiled_folder[:] = [folder] if folder is not None else []


def compiled_database(expressions: list[bytes], first: int, literal: bool) -> hyperscan.Database:
    """The block-mode database of `expressions` (ids from `first`), from the cache when kept there."""
    flags = 0 if literal else hyperscan.HS_FLAG_ALLOWEMPTY
    key = hashlib.sha256(repr((_HYPERSCAN_VERSION, literal, flags, first, expressions)).encode()).hexdigest()
    path = _compiled_folder[0] / f"{key}.hsdb" if _compiled_folder else None
    if path is not None and path.exists():
        try:
            loaded = hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK)
            loaded.scratch = hyperscan.Scratch(loaded)  # `compile` allocates one; `loadb` does not
            return loaded
        except (OSError, hyperscan.error):
            pass  # unreadable or built for another CPU: compile again and replace it
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(
            expressions=expressions,
            ids=list(range(first, first + len(expressions))),
            elements=len(expressions),
            flags=flags,
            literal=literal,
        )
    except hyperscan.error as exc:
        raise UnsupportedRule(f"glob set not compilable by Hyperscan: {exc}") from exc
    if path is not None:
        _store(path, hyperscan.dumpb(db))
    return db


def _store(path: Path, data: bytes) -> None:
    """Write atomically; a cache that cannot be written only costs the next compile."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        spare = path.with_suffix(f".{os.getpid()}.tmp")
        spare.write_bytes(data)
        os.replace(spare, path)
    except OSError:
        pass


class GlobSet:
    """A compiled set of globs; `match` says which values each glob matches (whole value).

    Globs seen to hit more than `FREQUENT` of a large batch's distinct values (such as `*.exe*`) are
    evaluated by one Arrow kernel each from then on: a Hyperscan match costs a Python callback (about a
    microsecond), a kernel a fraction of that per value. Seeing such globs recompiles the set without
    them, a few times at most.
    """

    def __init__(self, globs: Sequence[Glob]) -> None:
        self.globs = tuple(globs)
        self.everything: tuple[int, ...] = tuple(
            i for i, g in enumerate(self.globs) if g and all(p is Wild.MANY for p in g)
        )
        self.vector: set[int] = set()
        self._rebuilds = 0
        self._calibrated = False
        self._last_groups = np.zeros(0, dtype=np.int64)  # the match groups of the latest `_scan`
        self._lock = threading.Lock()  # one set serves several columns, evaluated on two threads
        self._build()

    def _build(self) -> None:
        literals: dict[bytes, list[int]] = {}
        regexes: dict[bytes, list[int]] = {}
        skip = set(self.everything) | self.vector
        for i, glob in enumerate(self.globs):
            if i in skip:
                continue
            literal = glob_literal(glob)
            if literal is not None:
                literals.setdefault(literal, []).append(i)
            else:
                regexes.setdefault(glob_regex(glob), []).append(i)
        self._primary: list[int] = []  # hyperscan id → the first glob with that pattern
        self._aliases = {v[0]: tuple(v[1:]) for v in (*literals.values(), *regexes.values()) if len(v) > 1}
        self._databases = [
            db for db in (self._compile(literals, literal=True), self._compile(regexes, literal=False)) if db
        ]
        self._primary_array = np.array(self._primary, dtype=np.int64)
        self.scans = bool(self._databases)

    def _compile(self, patterns: dict[bytes, list[int]], literal: bool) -> hyperscan.Database | None:
        if not patterns:
            return None
        first = len(self._primary)
        self._primary.extend(v[0] for v in patterns.values())
        return compiled_database(list(patterns), first, literal)

    def match(
        self, values: pa.Array, layout: tuple[bytes, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Matching (glob index, value index) pairs, without repeats, over non-null string `values`.

        `layout` is `joined_buffer(values)` when the caller already has it (one serves several sets).
        """
        with self._lock:  # calibration and rebuilds change the set; a database's scratch is single-use
            return self._match(values, layout)

    def _match(
        self, values: pa.Array, layout: tuple[bytes, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        count = len(values)
        glob_ids: list[np.ndarray] = []
        value_ids: list[np.ndarray] = []
        if not count:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        if self._databases and not self._calibrated and count >= FREQUENT_MIN_VALUES:
            self._calibrate(values)
        if self.everything:
            glob_ids.append(np.repeat(np.array(self.everything, dtype=np.int64), count))
            value_ids.append(np.tile(np.arange(count, dtype=np.int64), len(self.everything)))
        for glob in sorted(self.vector):
            found = np.flatnonzero(_vector_match(values, self.globs[glob]).to_numpy(zero_copy_only=False))
            glob_ids.append(np.full(len(found), glob, dtype=np.int64))
            value_ids.append(found.astype(np.int64))
        if self._databases:
            scanned = self._scan(layout or joined_buffer(values), count)
            glob_ids.extend(scanned[0])
            value_ids.extend(scanned[1])
        if not glob_ids:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return np.concatenate(glob_ids), np.concatenate(value_ids)

    def _calibrate(self, values: pa.Array) -> None:
        """Move the globs frequent in a sample of the values to Arrow kernels, before any full scan.

        Without this the first large batch pays a Hyperscan callback for every match of globs such as
        `*.exe*` (millions), then a recompile per round of frequent globs found.
        """
        self._calibrated = True
        step = len(values) // SAMPLE_VALUES
        sample = values.take(pa.array(np.arange(0, step * SAMPLE_VALUES, step, dtype=np.int64)))
        self._scan(joined_buffer(sample), len(sample), rebuild=False)
        if self._frequent(self._last_groups, len(sample)):
            self._build()

    def _frequent(self, group: np.ndarray, count: int) -> bool:
        """Add the globs hitting more than `FREQUENT` of `count` values to `vector`; whether any were."""
        per_group = np.bincount(group, minlength=len(self._primary))
        frequent = np.flatnonzero(per_group > FREQUENT * count)
        self.vector.update(int(self._primary[g]) for g in frequent)
        self.vector.update(a for g in frequent for a in self._aliases.get(int(self._primary[g]), ()))
        return bool(len(frequent))

    def _scan(
        self, layout: tuple[bytes, np.ndarray], count: int, rebuild: bool = True
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        buffer, starts = layout
        hits: list[int] = []

        def on_match(pattern: int, start: int, end: int, flags: int, context: object) -> None:
            hits.append((pattern << _ID_SHIFT) | end)

        for database in self._databases:
            database.scan(buffer, match_event_handler=on_match)
        if not hits:
            self._last_groups = np.zeros(0, dtype=np.int64)
            return [], []
        packed = np.array(hits, dtype=np.int64)
        ends = packed & ((1 << _ID_SHIFT) - 1)
        value = np.searchsorted(starts, ends - 1, side="right") - 1
        pairs = unique_sorted((packed >> _ID_SHIFT) * (count + 1) + value)
        group, value = pairs // (count + 1), pairs % (count + 1)
        self._last_groups = group
        glob = self._primary_array[group]
        glob_ids, value_ids = [glob], [value]
        for primary, extra in self._aliases.items():
            picked = value[glob == primary]
            for alias in extra:
                glob_ids.append(np.full(len(picked), alias, dtype=np.int64))
                value_ids.append(picked)
        room = rebuild and count >= FREQUENT_MIN_VALUES and self._rebuilds < MAX_REBUILDS
        if room and self._frequent(group, count):
            self._rebuilds += 1
            self._build()
        return glob_ids, value_ids


@functools.lru_cache(maxsize=4096)
def glob_set(globs: tuple[Glob, ...]) -> GlobSet:
    """A compiled set, shared by every column that has exactly these globs (Hyperscan compiles are slow)."""
    return GlobSet(globs)


class RegexSet:
    """Regular expressions (Arrow's RE2) with `GlobSet.match`'s interface: `ValueCache` serves both."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)

    def match(
        self, values: pa.Array, layout: tuple[bytes, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Matching (pattern index, value index) pairs over non-null string `values`."""
        ids: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
        positions: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
        for index, pattern in enumerate(self.patterns):
            found = pc.match_substring_regex(values, pattern).to_numpy(zero_copy_only=False)
            hit = np.flatnonzero(found).astype(np.int64)
            ids.append(np.full(len(hit), index, dtype=np.int64))
            positions.append(hit)
        return np.concatenate(ids), np.concatenate(positions)


class ValueCache:
    """One column's glob results per distinct value, kept across batches: only new values are matched.

    Real logs repeat most values (images, paths, common command lines) from batch to batch. The known
    values are one Arrow array, looked up by `pyarrow.compute.index_in`; their matches are kept in
    compressed rows (each known value's glob ids, one after another, and where each value's run starts), so
    a batch costs work in proportion to its own matches, not to everything seen so far. A column whose
    batches bring almost only new values (record numbers, GUIDs) stops using the cache after `GIVE_UP`
    such batches; the cache starts over past `MAX_VALUES` values or `MAX_PAIRS` matches.
    """

    MAX_VALUES = 500_000
    MAX_PAIRS = 20_000_000
    GIVE_UP = 2

    def __init__(self, globset: GlobSet | RegexSet) -> None:
        self.globset = globset
        self.enabled = True
        self._misses = 0
        self._reset()

    def _reset(self) -> None:
        self._known: pa.Array | None = None
        self._globs = np.zeros(0, dtype=np.int32)  # glob ids, grouped by known value
        self._starts = np.zeros(1, dtype=np.int64)  # known value i's globs: _globs[_starts[i]:_starts[i+1]]

    @property
    def known(self) -> pa.Array:
        """The values matched so far (since the latest reset)."""
        return self._known if self._known is not None else pa.array([], pa.string())

    def match(
        self, values: pa.Array, layout: tuple[bytes, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """As `GlobSet.match`, through the cache."""
        if not self.enabled or not len(values):
            return self.globset.match(values, layout)
        if self._known is not None and (
            len(self._known) + len(values) > self.MAX_VALUES or len(self._globs) > self.MAX_PAIRS
        ):
            self._reset()
        count = len(values)
        if self._known is None:
            ids = np.full(count, -1, dtype=np.int64)
        else:
            found = pc.index_in(values, value_set=self._known)
            ids = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        new = np.flatnonzero(ids < 0)
        if self._known is not None and len(new) > 0.95 * count:
            self._misses += 1
            self.enabled = self._misses < self.GIVE_UP
        if len(new):
            self._learn(values, new, layout if len(new) == count else None)
            ids[new] = len(self._starts) - 1 - len(new) + np.arange(len(new))
        # Gather each value's compressed row: lower-cased values may repeat (Arrow folds `İ` to `i`),
        # so several positions may share one known value.
        firsts = self._starts[ids]
        lengths = self._starts[ids + 1] - firsts
        total = int(lengths.sum())
        if not total:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        shift = np.repeat(firsts - (np.cumsum(lengths) - lengths), lengths)
        globs = self._globs[shift + np.arange(total)].astype(np.int64)
        return globs, np.repeat(np.arange(count, dtype=np.int64), lengths)

    def _learn(self, values: pa.Array, new: np.ndarray, layout: tuple[bytes, np.ndarray] | None) -> None:
        """Match the values at `new` and append them, with their globs, to the known values."""
        fresh = values if len(new) == len(values) else values.take(pa.array(new))
        globs, positions = self.globset.match(fresh, layout)
        order = np.argsort(positions, kind="stable")
        per_value = np.bincount(positions, minlength=len(new))
        self._globs = np.concatenate([self._globs, globs[order].astype(np.int32)])
        self._starts = np.concatenate([self._starts, self._starts[-1] + np.cumsum(per_value)])
        self._known = fresh if self._known is None else pa.concat_arrays([self._known, fresh])
