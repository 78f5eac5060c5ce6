"""The engine-neutral plan of a detection: a small tree of frozen predicates.

Sigma rules are compiled into this tree once; each query engine (DuckDB SQL today, Spark later) has
its own compiler from here. The nodes say *what* must hold of one event, never how an engine checks
it, and they are hashable, so that the same predicate written by many rules is evaluated once.

Semantics every engine must keep (the points where public Sigma backends disagree):

- a missing or null field matches no value and no pattern, and the predicate is then false, not
  unknown, so `not selection` holds for an event that lacks the field;
- string matching is case-insensitive unless `cased` is set; regular expressions are case-sensitive
  unless they carry the `i` flag, and match anywhere in the value (search, not full match);
- `Glob` parts are literal text and `Wild` tokens (any run of characters, or exactly one).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

__all__ = [
    "And",
    "Compare",
    "Const",
    "Exists",
    "FieldRef",
    "Glob",
    "Keyword",
    "Leaf",
    "Node",
    "Not",
    "Or",
    "Regex",
    "StrMatch",
    "Wild",
    "all_of",
    "any_of",
    "folded",
    "leaves",
]


class Wild(enum.Enum):
    """Wildcards inside a glob."""

    MANY = "*"
    ONE = "?"

    # Members are singletons: identity hashing, in C, instead of Enum's hash of the name in Python
    # (globs are hashed hundreds of thousands of times while a rule pack's plan is built).
    __hash__ = object.__hash__


Glob = tuple[str | Wild, ...]


@functools.lru_cache(maxsize=65_536)
def folded(glob: Glob) -> Glob:
    """The glob's text lower-cased, as both engines match case-insensitively (Python's `str.lower`).

    Cached: a keyword glob is folded once per producer column while a plan is built.
    """
    return tuple(p.lower() if isinstance(p, str) else p for p in glob)


@dataclass(frozen=True, slots=True)
class StrMatch:
    """The field's text matches the glob (whole value); no wildcard means equality."""

    field: str
    glob: Glob
    cased: bool = False


@dataclass(frozen=True, slots=True)
class Regex:
    """The field's text contains a match of the regular expression (flags: subset of `ims`)."""

    field: str
    pattern: str
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Compare:
    """The field read as a number compares with `number` (`op` is one of < <= > >= !=)."""

    field: str
    op: str
    number: float


@dataclass(frozen=True, slots=True)
class Exists:
    """The field is present (not null) when `present`, else absent."""

    field: str
    present: bool = True


@dataclass(frozen=True, slots=True)
class FieldRef:
    """The field's value equals (`mode` eq), starts or ends (`prefix`/`suffix`) with another field's."""

    field: str
    other: str
    mode: str = "eq"


@dataclass(frozen=True, slots=True)
class Keyword:
    """Some value of the event matches the glob (keyword search over every field)."""

    glob: Glob
    cased: bool = False


@dataclass(frozen=True, slots=True)
class Const:
    """Always true or always false (e.g. an empty expansion)."""

    value: bool


@dataclass(frozen=True, slots=True)
class And:
    """All items hold."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one item holds."""

    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The item does not hold."""

    item: Node


Leaf = StrMatch | Regex | Compare | Exists | FieldRef | Keyword | Const
Node = Leaf | And | Or | Not


def all_of(items: list[Node] | tuple[Node, ...]) -> Node:
    """A conjunction, flattened, with the trivial cases folded."""
    flat: list[Node] = []
    for item in items:
        if isinstance(item, Const):
            if not item.value:
                return item
            continue
        flat.extend(item.items if isinstance(item, And) else (item,))
    if not flat:
        return Const(True)
    return flat[0] if len(flat) == 1 else And(tuple(dict.fromkeys(flat)))


def any_of(items: list[Node] | tuple[Node, ...]) -> Node:
    """A disjunction, flattened, with the trivial cases folded."""
    flat: list[Node] = []
    for item in items:
        if isinstance(item, Const):
            if item.value:
                return item
            continue
        flat.extend(item.items if isinstance(item, Or) else (item,))
    if not flat:
        return Const(False)
    return flat[0] if len(flat) == 1 else Or(tuple(dict.fromkeys(flat)))


def leaves(node: Node) -> list[Leaf]:
    """Every leaf of the tree, in order, repeats included."""
    if isinstance(node, And | Or):
        return [leaf for item in node.items for leaf in leaves(item)]
    if isinstance(node, Not):
        return leaves(node.item)
    return [node]
