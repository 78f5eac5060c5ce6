"""Sigma correlation rules compiled into engine-neutral specifications (run by `correlate_window`).

A correlation counts or orders the matches of other rules (its base rules) in a sliding window of event
time, per group of `group-by` values. Compiling resolves the base rules to Watchfloor rule ids and the
`aliases` into, for every base rule, the Sigma field that carries each group-by name, so that the
engine knows which columns to fetch for the matched events and the evaluator never sees Sigma objects.

Semantics chosen where the specification leaves room (also in docs of `correlate_window`):
- `temporal` / `temporal_ordered` without a condition (pySigma's default `gte: 1`) need every base rule
  in the window; an explicit condition counts the distinct base rules matched instead.
- Nested correlations, extended (boolean string) conditions and the aggregate types (`value_sum`...)
  are reported unsupported with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.rule import SigmaRule

from watchfloor.detect.errors import UnsupportedRule

__all__ = ["SUPPORTED", "Correlation", "check_correlation", "compile_correlation"]

SUPPORTED = frozenset(
    {
        SigmaCorrelationType.EVENT_COUNT,
        SigmaCorrelationType.VALUE_COUNT,
        SigmaCorrelationType.TEMPORAL,
        SigmaCorrelationType.TEMPORAL_ORDERED,
    }
)
_OPS = {
    SigmaCorrelationConditionOperator.GT: "gt",
    SigmaCorrelationConditionOperator.GTE: "gte",
    SigmaCorrelationConditionOperator.LT: "lt",
    SigmaCorrelationConditionOperator.LTE: "lte",
    SigmaCorrelationConditionOperator.EQ: "eq",
    SigmaCorrelationConditionOperator.NEQ: "neq",
}


@dataclass(frozen=True, slots=True)
class Correlation:
    """What a correlation rule needs evaluated, in Watchfloor terms (hashable, no Sigma objects).

    `op` is None for temporal rules that need every base rule; `aliases` holds (group name, base rule
    id, that rule's field) triples.
    """

    kind: str
    rules: tuple[str, ...]
    timespan: float
    group_by: tuple[str, ...] = ()
    op: str | None = "gte"
    count: float = 1
    value_field: str | None = None
    aliases: tuple[tuple[str, str, str], ...] = ()

    def field_for(self, name: str, rule_id: str) -> str:
        """The field of base rule `rule_id` that carries the group-by (or value) name `name`."""
        for alias, rule, field in self.aliases:
            if alias == name and rule == rule_id:
                return field
        return name

    def fields_of(self, rule_id: str) -> tuple[str, ...]:
        """Every field the engine must fetch for matches of one base rule."""
        names = [*self.group_by, *([self.value_field] if self.value_field else [])]
        return tuple(dict.fromkeys(self.field_for(n, rule_id) for n in names))

    @property
    def required(self) -> int:
        """What a temporal rule without a condition needs: every rule (in order for temporal_ordered)."""
        return len(self.rules) if self.kind == "temporal_ordered" else len(set(self.rules))

    def holds(self, value: float) -> bool:
        """Whether the condition holds for a window's count."""
        match self.op:
            case "gt":
                return value > self.count
            case None:
                return value >= self.required
            case "gte":
                return value >= self.count
            case "lt":
                return value < self.count
            case "lte":
                return value <= self.count
            case "eq":
                return value == self.count
            case _:
                return value != self.count


def check_correlation(rule: SigmaCorrelationRule) -> None:
    """Raise `UnsupportedRule` unless the correlation's shape can be evaluated."""
    if rule.type not in SUPPORTED:
        raise UnsupportedRule(f"correlation type {rule.type.name.lower()} is not supported")
    if not isinstance(rule.condition, SigmaCorrelationCondition):
        raise UnsupportedRule("extended (boolean) correlation conditions are not supported")
    if not rule.rules:
        raise UnsupportedRule("the correlation names no rules")


def compile_correlation(rule: SigmaCorrelationRule, rule_id: Callable[[SigmaRule], str]) -> Correlation:
    """The evaluable form of a correlation whose references are resolved; raises `UnsupportedRule`.

    `rule_id` gives the Watchfloor id of a referenced base rule.
    """
    check_correlation(rule)
    assert isinstance(rule.condition, SigmaCorrelationCondition)
    ids: dict[str, str] = {}
    order: list[str] = []
    for ref in rule.rules or []:
        target = getattr(ref, "rule", None)
        if target is None:
            raise UnsupportedRule(f"referenced rule {ref.reference} was not found")
        if not isinstance(target, SigmaRule):
            raise UnsupportedRule(f"correlations of correlations ({ref.reference}) are not supported")
        ids[ref.reference] = rule_id(target)
        order.append(ids[ref.reference])
    aliases: list[tuple[str, str, str]] = []
    for alias in rule.aliases:
        for ref, field in alias.mapping.items():
            if ref.reference not in ids:
                raise UnsupportedRule(f"alias {alias.alias} names {ref.reference}, which is not in rules")
            aliases.append((alias.alias, ids[ref.reference], field))
    condition = rule.condition
    op: str | None = _OPS[condition.op]
    kind = rule.type.name.lower()
    temporal = rule.type in {SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED}
    if temporal and condition.op is SigmaCorrelationConditionOperator.GTE and condition.count == 1:
        op = None
    value_field = None
    if rule.type is SigmaCorrelationType.VALUE_COUNT:
        if not isinstance(condition.fieldref, str):
            raise UnsupportedRule("value_count needs exactly one condition field")
        value_field = condition.fieldref
    return Correlation(
        kind=kind,
        rules=tuple(order),
        timespan=float(rule.timespan.seconds),
        group_by=tuple(rule.group_by or ()),
        op=op,
        count=condition.count,
        value_field=value_field,
        aliases=tuple(aliases),
    )
