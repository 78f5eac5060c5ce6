"""Sigma correlation rules: counting and ordering matches of other rules in event-time windows."""

from __future__ import annotations

from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType

from watchfloor.detect.errors import UnsupportedRule

__all__ = ["check_correlation"]

SUPPORTED = frozenset(
    {
        SigmaCorrelationType.EVENT_COUNT,
        SigmaCorrelationType.VALUE_COUNT,
        SigmaCorrelationType.TEMPORAL,
        SigmaCorrelationType.TEMPORAL_ORDERED,
    }
)


def check_correlation(rule: SigmaCorrelationRule) -> None:
    """Raise `UnsupportedRule` unless the correlation can be evaluated."""
    if rule.type not in SUPPORTED:
        raise UnsupportedRule(f"correlation type {rule.type.name.lower()} is not supported")
    if not rule.rules:
        raise UnsupportedRule("the correlation names no rules")
