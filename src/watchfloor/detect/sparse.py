"""Rule programs evaluated over sparse leaf results: most leaves match nothing in a batch.

A leaf's value over a batch is the constant false (it matched no distinct value: the common case), a
constant, a row mask, or *lazy*: a mask over the column's distinct values plus the row codes, turned
into a row mask only when a rule needs it. `run_program` folds constants first, so a rule one of whose
required leaves matched nothing costs a few dictionary look-ups and no row work at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from watchfloor.detect.evaluate import Program

__all__ = ["LeafValues", "run_program"]

Value = bool | np.ndarray


class LeafValues:
    """The leaves' results over one batch of `rows` rows; keyword slots are ORs of per-column parts."""

    def __init__(self, rows: int, keyword_parts: Mapping[int, Sequence[int]]) -> None:
        self.rows = rows
        self._keyword_parts = keyword_parts
        self._constant: dict[int, bool] = {}
        self._lazy: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._dense: dict[int, np.ndarray] = {}

    def set_constant(self, slot: int, value: bool) -> None:
        """The leaf is `value` for every row."""
        self._constant[slot] = value

    def set_rows(self, slot: int, mask: np.ndarray) -> None:
        """The leaf's row mask."""
        self._dense[slot] = mask

    def add_lazy(self, slot: int, codes: np.ndarray, mask: np.ndarray) -> None:
        """The leaf holds where `mask[codes]` does (ORed with earlier parts); codes index distinct values."""
        self._lazy.setdefault(slot, []).append((codes, mask))

    def is_false(self, slot: int) -> bool:
        """Cheap: the leaf certainly holds for no row (nothing matched)."""
        if slot in self._dense or slot in self._lazy:
            return False
        if slot in self._constant:
            return not self._constant[slot]
        parts = self._keyword_parts.get(slot)
        return parts is None or all(self.is_false(p) for p in parts)

    def get(self, slot: int) -> Value:
        """The leaf's value: a constant, or a boolean row mask (computed once, then kept)."""
        if slot in self._dense:
            return self._dense[slot]
        if slot in self._constant:
            return self._constant[slot]
        result: Value = False
        if slot in self._lazy:
            for codes, mask in self._lazy.pop(slot):
                rows = mask[codes]
                result = rows if result is False else np.logical_or(result, rows)
        elif slot in self._keyword_parts:
            for part in self._keyword_parts[slot]:
                value = self.get(part)
                if value is True:
                    result = True
                    break
                if value is not False:
                    result = value if result is False else np.logical_or(result, value)
        if isinstance(result, np.ndarray):
            self._dense[slot] = result
        else:
            self._constant[slot] = result
        return result


def _surely_false(prog: Program, values: LeafValues) -> bool:
    op = prog.op
    if op == "leaf":
        return values.is_false(prog.position)
    if op == "const":
        return not prog.value
    if op == "and":
        return any(_surely_false(item, values) for item in prog.items)
    if op == "or":
        return all(_surely_false(item, values) for item in prog.items)
    return False


def run_program(prog: Program, values: LeafValues) -> Value:
    """Which rows satisfy the program: a constant, or a boolean row mask."""
    op = prog.op
    if op == "leaf":
        return values.get(prog.position)
    if op == "const":
        return prog.value
    if op == "not":
        inner = run_program(prog.items[0], values)
        return (not inner) if isinstance(inner, bool) else np.logical_not(inner)
    if _surely_false(prog, values):
        return False
    is_and = op == "and"
    result: Value = is_and
    for item in prog.items:
        value = run_program(item, values)
        if isinstance(value, bool):
            if value is not is_and:  # false in an and, true in an or: decided
                return value
            continue
        if isinstance(result, bool):
            result = value
        else:
            result = np.logical_and(result, value) if is_and else np.logical_or(result, value)
    return result
