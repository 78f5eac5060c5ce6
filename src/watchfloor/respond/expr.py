"""A small, safe expression language for `if:` branches, trigger conditions and `{{ }}` templates.

Expressions are Python-shaped (`incident.severity == "high" and len(entities.host) > 0`) but are never
given to `eval`: they are parsed with `ast` and only the nodes below are interpreted. Names and
attributes look up keys of the run context (a missing key is `None`, never an error), so a playbook
cannot reach Python objects, call arbitrary functions or import anything.
"""

from __future__ import annotations

import ast
import fnmatch
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from watchfloor.respond.errors import PlaybookError

__all__ = ["FUNCTIONS", "check_expression", "evaluate"]


def _glob(value: Any, pattern: str) -> bool:
    """Case-insensitive shell-style match; a list matches when any of its items does."""
    if isinstance(value, (list, tuple)):
        return any(_glob(item, pattern) for item in value)
    return value is not None and fnmatch.fnmatchcase(str(value).lower(), str(pattern).lower())


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "any": lambda items: any(items or ()),
    "all": lambda items: all(items or ()),
    "glob": _glob,
    "join": lambda items, sep=", ": sep.join(str(i) for i in items or ()),
    "len": lambda value: len(value or ()),
    "lower": lambda value: str(value or "").lower(),
    "pluck": lambda items, key: [i.get(key) for i in items or () if isinstance(i, Mapping)],
    "unique": lambda items: sorted({str(i) for i in items or () if i is not None}),
    "str": lambda value: "" if value is None else str(value),
    "upper": lambda value: str(value or "").upper(),
}

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: b is not None and a in b,
    ast.NotIn: lambda a, b: b is None or a not in b,
}


def _lookup(container: Any, key: Any) -> Any:
    if isinstance(container, Mapping):
        return container.get(key)
    if isinstance(container, (list, tuple)) and isinstance(key, int):
        return container[key] if -len(container) <= key < len(container) else None
    return None


def _eval(node: ast.AST, scope: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body, scope)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute):
        return _lookup(_eval(node.value, scope), node.attr)
    if isinstance(node, ast.Subscript):
        return _lookup(_eval(node.value, scope), _eval(node.slice, scope))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(item, scope) for item in node.elts]
    if isinstance(node, ast.BoolOp):
        # Python's own semantics: `a or "none"` gives a value, not just True.
        value: Any = None
        for item in node.values:
            value = _eval(item, scope)
            if bool(value) != isinstance(node.op, ast.And):
                return value
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval(node.operand, scope)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, scope)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, scope)
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError:
                return False
            left = right
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        return FUNCTIONS[node.func.id](*(_eval(arg, scope) for arg in node.args))
    raise PlaybookError(f"not allowed in an expression: {ast.dump(node)[:60]}")


def _allowed(node: ast.AST) -> bool:
    plain = (
        ast.Expression,
        ast.Constant,
        ast.Name,
        ast.Attribute,
        ast.Subscript,
        ast.List,
        ast.Tuple,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.Compare,
        ast.Load,
        ast.Not,
        ast.USub,
        ast.UnaryOp,
        *_COMPARE,
    )
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS and not node.keywords
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        return False
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        return False
    return isinstance(node, plain)


@lru_cache(maxsize=1024)
def check_expression(text: str) -> ast.Expression:
    """Parse and vet an expression once; `PlaybookError` names the first construct that is not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise PlaybookError(f"invalid expression {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if not _allowed(node):
            raise PlaybookError(f"invalid expression {text!r}: {type(node).__name__} is not allowed")
    return tree


def evaluate(text: str, scope: Mapping[str, Any]) -> Any:
    """The value of `text` over `scope` (the run context)."""
    return _eval(check_expression(text), scope)
