"""Combining leaf predicate columns into rule results, vectorised over Arrow batches.

Engine-neutral: whichever engine computed the leaf columns (DuckDB SQL now, Spark later), the rules'
and/or/not structure is evaluated here. A rule's tree is first turned into a `Program` over leaf column
positions, once per statement, so that evaluating a batch does no hashing of predicate trees.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from watchfloor.detect.ir import And, Const, Leaf, Node, Not, Or

__all__ = ["Program", "evaluate", "program"]


class Program(NamedTuple):
    """A rule tree over leaf column positions: `op` is leaf, const, and, or, not.

    A named tuple rather than a frozen dataclass: a rule pack's plan creates about 80,000 of them, and
    a frozen dataclass's `__init__` costs several times a tuple's.
    """

    op: str
    position: int = -1
    value: bool = False
    items: tuple[Program, ...] = ()


def program(node: Node, positions: Mapping[Leaf, int]) -> Program:
    """The node with each leaf replaced by its column position."""
    if isinstance(node, And | Or):
        return Program(
            "and" if isinstance(node, And) else "or", items=tuple(program(i, positions) for i in node.items)
        )
    if isinstance(node, Not):
        return Program("not", items=(program(node.item, positions),))
    if isinstance(node, Const):
        return Program("const", value=node.value)
    return Program("leaf", position=positions[node])


def evaluate(prog: Program, batch: pa.RecordBatch, first_leaf: int) -> pa.Array:
    """A non-null boolean array: which rows of the batch satisfy the program.

    Leaf `i` is the batch's column `first_leaf + i`.
    """
    if prog.op == "leaf":
        return pc.fill_null(batch.column(first_leaf + prog.position), False)
    if prog.op == "const":
        return pa.array([prog.value] * batch.num_rows, pa.bool_())
    if prog.op == "not":
        return pc.invert(evaluate(prog.items[0], batch, first_leaf))
    combine = pc.and_ if prog.op == "and" else pc.or_
    result = evaluate(prog.items[0], batch, first_leaf)
    for item in prog.items[1:]:
        result = combine(result, evaluate(item, batch, first_leaf))
    return result
