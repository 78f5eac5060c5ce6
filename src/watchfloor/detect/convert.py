"""Sigma detections (as pySigma parsed them, modifiers applied) to the engine-neutral plan.

pySigma has already applied every value modifier when a rule is parsed: `contains` and friends add
wildcards, `base64`/`wide`/`windash`/`base64offset` produce the encoded strings (the last two as an
expansion of alternatives), `re` a regular expression with its flags, `cidr`, `gt`..., `exists`,
`fieldref`, `cased` and `expand` their own value types, `all` and `not`-style linking the condition
tree. This module only translates that tree, reading each Sigma field through a logsource variant.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from watchfloor.detect.errors import UnsupportedRule
from watchfloor.detect.ir import (
    Compare,
    Const,
    Exists,
    FieldRef,
    Glob,
    Keyword,
    Node,
    Not,
    Regex,
    StrMatch,
    Wild,
    all_of,
    any_of,
)
from watchfloor.detect.logsource import Variant

__all__ = ["Placeholders", "negate", "rule_predicate"]

#: Values for `%name%` placeholders of the `expand` modifier.
Placeholders = Mapping[str, Sequence[str]]

_OPS = {
    CompareOperators.LT: "<",
    CompareOperators.LTE: "<=",
    CompareOperators.GT: ">",
    CompareOperators.GTE: ">=",
    CompareOperators.NEQ: "!=",
}
_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}


def negate(node: Node) -> Node:
    """`not node`, folding constants and double negation."""
    if isinstance(node, Const):
        return Const(not node.value)
    if isinstance(node, Not):
        return node.item
    return Not(node)


def rule_predicate(rule: SigmaRule, variant: Variant, placeholders: Placeholders | None = None) -> Node:
    """The rule's condition over one logsource variant (several conditions are alternatives)."""
    converter = _Converter(variant, placeholders or {})
    return any_of([converter.node(condition.parsed) for condition in rule.detection.parsed_condition])


class _Converter:
    def __init__(self, variant: Variant, placeholders: Placeholders) -> None:
        self.variant = variant
        self.placeholders = placeholders

    def node(self, item: object) -> Node:
        if isinstance(item, ConditionAND):
            return all_of([self.node(a) for a in item.args])
        if isinstance(item, ConditionOR):
            return any_of([self.node(a) for a in item.args])
        if isinstance(item, ConditionNOT):
            return negate(self.node(item.args[0]))
        if isinstance(item, ConditionFieldEqualsValueExpression):
            return self.field_value(item.field, item.value)
        if isinstance(item, ConditionValueExpression):
            return self.keyword(item.value)
        if item is None:
            return Const(False)
        raise UnsupportedRule(f"unsupported condition element {type(item).__name__}")

    def globs(self, value: SigmaString) -> list[Glob]:
        """The string's alternatives: one glob, or one per combination of placeholder values."""
        choices: list[list[str | Wild]] = []
        for part in value.s:
            if isinstance(part, Placeholder):
                found = self.placeholders.get(part.name)
                if not found:
                    raise UnsupportedRule(f"placeholder %{part.name}% has no value configured")
                choices.append(list(found))
            elif part == SpecialChars.WILDCARD_MULTI:
                choices.append([Wild.MANY])
            elif part == SpecialChars.WILDCARD_SINGLE:
                choices.append([Wild.ONE])
            else:
                choices.append([str(part)])
        return [_merge(combo) for combo in itertools.product(*choices)]

    def field_value(self, sigma_field: str, value: SigmaType) -> Node:
        column = self.variant.column(sigma_field)
        if column is None:  # the variant never has this field: it is null
            if isinstance(value, SigmaNull):
                return Const(True)
            if isinstance(value, SigmaExists):
                return Const(not value.exists)
            return Const(False)
        if isinstance(value, SigmaString):
            cased = isinstance(value, SigmaCasedString)
            return any_of([StrMatch(column, glob, cased) for glob in self.globs(value)])
        if isinstance(value, SigmaBool):
            return StrMatch(column, ("true" if value.boolean else "false",))
        if isinstance(value, SigmaNumber):
            return StrMatch(column, (str(value.number),))
        if isinstance(value, SigmaNull):
            return Exists(column, present=False)
        if isinstance(value, SigmaExists):
            return Exists(column, present=value.exists)
        if isinstance(value, SigmaRegularExpression):
            flags = frozenset(_FLAGS[f] for f in value.flags)
            return Regex(column, value.regexp.to_plain(), flags)
        if isinstance(value, SigmaCIDRExpression):
            patterns = [SigmaString(p) for p in value.expand(wildcard="*")]
            return any_of([StrMatch(column, glob) for p in patterns for glob in self.globs(p)])
        if isinstance(value, SigmaCompareExpression):
            return Compare(column, _OPS[value.op], float(value.number.number))
        if isinstance(value, SigmaFieldReference):
            other = self.variant.column(value.field)
            if other is None:
                return Const(False)
            mode = "prefix" if value.starts_with else "suffix" if value.ends_with else "eq"
            return FieldRef(column, other, mode)
        if isinstance(value, SigmaExpansion):
            return any_of([self.field_value(sigma_field, v) for v in value.values])
        raise UnsupportedRule(f"value type {type(value).__name__} of field {sigma_field!r} is not supported")

    def keyword(self, value: SigmaType) -> Node:
        if isinstance(value, SigmaExpansion):
            return any_of([self.keyword(v) for v in value.values])
        if isinstance(value, SigmaString):
            cased = isinstance(value, SigmaCasedString)
            return any_of([Keyword(_contains(glob), cased) for glob in self.globs(value)])
        if isinstance(value, SigmaNumber | SigmaBool):
            return Keyword(_contains((str(value.to_plain()),)))
        raise UnsupportedRule(f"keyword of type {type(value).__name__} is not supported")


def _merge(parts: Sequence[str | Wild]) -> Glob:
    """Adjacent text joined, so that equal globs compare equal."""
    out: list[str | Wild] = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + part
        elif part != "":
            out.append(part)
    return tuple(out)


def _contains(glob: Glob) -> Glob:
    """Keywords match inside a value (Sigma's full-text search), not the whole value."""
    head: Glob = () if glob and glob[0] == Wild.MANY else (Wild.MANY,)
    tail: Glob = () if glob and glob[-1] == Wild.MANY else (Wild.MANY,)
    return head + glob + tail
