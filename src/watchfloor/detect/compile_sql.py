"""The plan in DuckDB SQL: one scan of a source view evaluates many rules at once.

Every distinct leaf predicate of the rules in a scan becomes one boolean column of the statement
(`p0`, `p1`...), computed once however many rules use it, in a single pass over the view. Combining
those columns into rules is left to `evaluate` (it is the same for every engine, and DuckDB's planner
is slow on statements with thousands of nested boolean expressions). Leaves are made two-valued with
COALESCE, which is what gives the IR's null semantics (`ir` module docstring).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import duckdb

from watchfloor.detect.errors import UnsupportedRule
from watchfloor.detect.ir import (
    Compare,
    Const,
    Exists,
    FieldRef,
    Glob,
    Keyword,
    Leaf,
    Node,
    Regex,
    StrMatch,
    Wild,
    folded,
    leaves,
)

__all__ = ["SqlCompiler", "check_regex", "like_pattern", "quote_ident", "sql_string"]

TEXT_COLUMN = "__wf_text"
OCSF = "ocsf"


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@functools.cache
def _regex_connection() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(":memory:")


@functools.lru_cache(maxsize=4096)
def check_regex(pattern: str) -> str | None:
    """Why DuckDB's regular expression engine (RE2) refuses a pattern, or None if it accepts it."""
    try:
        _regex_connection().execute(f"SELECT regexp_matches('', {sql_string(pattern)})").fetchall()
    except duckdb.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def like_pattern(glob: Glob) -> str:
    """The glob as a SQL `LIKE` pattern, backslash-escaped (Arrow's `match_like` reads the same)."""
    out = []
    for part in glob:
        if part is Wild.MANY:
            out.append("%")
        elif part is Wild.ONE:
            out.append("_")
        else:
            out.append(str(part).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
    return "".join(out)


class SqlCompiler:
    """Compiles IR nodes for one view, knowing which columns it has (a missing column is null)."""

    def __init__(self, view: str, columns: Sequence[str]) -> None:
        self.view = view
        self.producer_columns = [c for c in columns if c != OCSF]
        self._by_name = {c: c for c in columns}
        for c in columns:
            self._by_name.setdefault(c.lower(), c)
        for c in columns:  # Defender writes "Threat Name" where Sigma says ThreatName
            self._by_name.setdefault(c.replace(" ", "").lower(), c)

    def column(self, name: str) -> str | None:
        """The view's column for a field name (exact, else case-insensitive, else without spaces)."""
        return self._by_name.get(name) or self._by_name.get(name.lower())

    def validate(self, node: Node) -> None:
        """Raise `UnsupportedRule` for anything this engine cannot evaluate."""
        for leaf in leaves(node):
            if isinstance(leaf, Regex):
                problem = check_regex(leaf.pattern)
                if problem:
                    raise UnsupportedRule(f"regular expression not supported by RE2: {problem}")

    def leaf(self, leaf: Leaf) -> str:
        """A SQL boolean for one leaf that is never NULL."""
        if isinstance(leaf, Const):
            return "true" if leaf.value else "false"
        if isinstance(leaf, Keyword):
            if not self.producer_columns:
                return "false"
            return f"COALESCE({_match(quote_ident(TEXT_COLUMN), leaf.glob, leaf.cased)}, false)"
        if isinstance(leaf, Exists):
            col = self.column(leaf.field)
            if col is None:
                return "false" if leaf.present else "true"
            return f"({quote_ident(col)} IS {'NOT ' if leaf.present else ''}NULL)"
        col = self.column(leaf.field)
        if col is None:
            return "false"
        ref = quote_ident(col)
        if isinstance(leaf, StrMatch):
            sql = _match(ref, leaf.glob, leaf.cased)
        elif isinstance(leaf, Regex):
            flags = "".join(sorted(leaf.flags))
            pattern = (f"(?{flags})" if flags else "") + leaf.pattern
            sql = f"regexp_matches({ref}, {sql_string(pattern)})"
        elif isinstance(leaf, Compare):
            op = "<>" if leaf.op == "!=" else leaf.op
            sql = f"TRY_CAST({ref} AS DOUBLE) {op} {leaf.number!r}"
        elif isinstance(leaf, FieldRef):
            other = self.column(leaf.other)
            if other is None:
                return "false"
            a, b = f"lower({ref})", f"lower({quote_ident(other)})"
            func = {"eq": None, "prefix": "starts_with", "suffix": "ends_with"}[leaf.mode]
            sql = f"{a} = {b}" if func is None else f"{func}({a}, {b})"
        else:  # pragma: no cover - the Leaf union is exhaustive
            raise UnsupportedRule(f"no SQL for {type(leaf).__name__}")
        return f"COALESCE({sql}, false)"

    def scan(self, leaf_list: Sequence[Leaf], where: str | None = None) -> str:
        """One statement scanning the view once: the event's entities and one column per leaf (`p<i>`)."""
        needs_text = any(isinstance(leaf, Keyword) for leaf in leaf_list)
        base_cols = ["*"]
        if needs_text and self.producer_columns:
            parts = ", ".join(quote_ident(c) for c in self.producer_columns)
            base_cols.append(f"concat_ws(chr(10), {parts}) AS {quote_ident(TEXT_COLUMN)}")
        base = f"SELECT {', '.join(base_cols)} FROM {quote_ident(self.view)}"
        if where:
            base += f" WHERE {where}"
        leaf_cols = "".join(f", {self.leaf(leaf)} AS p{i}" for i, leaf in enumerate(leaf_list))
        return (
            f"WITH base AS ({base}) SELECT {OCSF}.metadata_uid AS uid, {OCSF}.time AS time, "
            f"{OCSF}.device_hostname AS host, {OCSF}.actor_user_name AS user_name, "
            f"{OCSF}.src_endpoint_ip AS src_ip, {OCSF}.dst_endpoint_ip AS dst_ip{leaf_cols} FROM base"
        )


def _match(ref: str, glob: Glob, cased: bool) -> str:
    """SQL for `ref` matching a glob; the common shapes use DuckDB's fast string functions."""
    value = ref if cased else f"lower({ref})"

    def lit(text: str) -> str:
        return sql_string(text if cased else text.lower())

    if not any(isinstance(p, Wild) for p in glob):
        return f"{value} = {lit(''.join(str(p) for p in glob))}"
    texts = [p for p in glob if isinstance(p, str)]
    if len(texts) == 1 and Wild.ONE not in glob:
        text = texts[0]
        shape = tuple(p is Wild.MANY for p in glob)
        if shape == (True, False, True):
            return f"contains({value}, {lit(text)})"
        if shape == (False, True):
            return f"starts_with({value}, {lit(text)})"
        if shape == (True, False):
            return f"ends_with({value}, {lit(text)})"
    if not texts and all(p is Wild.MANY for p in glob):
        return f"({ref} IS NOT NULL)"
    pattern = like_pattern(glob) if cased else like_pattern(folded(glob))
    return f"{value} LIKE {sql_string(pattern)} ESCAPE '\\'"
