"""Correlation rules evaluated over base-rule matches: sliding event-time windows per group.

Engine-neutral: it needs only the `Match` list (rule, event, time and the fetched group-by values), so
any engine that produces matches gets the same correlations.

Semantics, for one correlation and one group (the tuple of its `group-by` values; a match lacking any
of them belongs to no group, as with a `by` clause that drops nulls):
- Matches are taken in event-time order. At each match the window is every match of the group whose
  time lies in [t - timespan, t]; the rule's measure is computed over it: distinct events
  (`event_count`), distinct non-null values of the condition field (`value_count`), distinct base
  rules (`temporal`), or the length of the longest prefix of the `rules` list matched in order
  (`temporal_ordered`).
- Episodes: when the condition first holds, one hit is raised with the window's events as evidence.
  The group is then quiet until the window has moved past that evidence entirely (a match later than
  the hit's last event plus the timespan), so a long burst gives one hit per timespan, never one per
  event, and the evidence of successive hits never overlaps.
- Only windows that end at a match are looked at, so `lt`/`lte` conditions cannot fire on silence.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from watchfloor.detect.correlate import Correlation
from watchfloor.detect.engine import Match
from watchfloor.detect.loader import Rule

__all__ = ["CorrelationHit", "correlate", "correlate_rule"]

Group = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class CorrelationHit:
    """One episode of one correlation rule in one group, with the matches of its window."""

    rule_id: str
    group: Group
    matches: tuple[Match, ...]

    @property
    def event_uids(self) -> tuple[str, ...]:
        """The evidence: distinct events of the window, in time order."""
        return tuple(dict.fromkeys(m.event_uid for m in self.matches))


def _group(spec: Correlation, match: Match) -> Group | None:
    values = tuple((name, match.value(spec.field_for(name, match.rule_id))) for name in spec.group_by)
    return None if any(v is None for _, v in values) else values


def _key(spec: Correlation, match: Match) -> Hashable | None:
    """What the window counts for one match (None: nothing, e.g. a null value for value_count)."""
    if spec.kind == "event_count":
        return match.event_uid
    if spec.kind == "value_count":
        assert spec.value_field is not None
        return match.value(spec.field_for(spec.value_field, match.rule_id))
    return match.rule_id


def _ordered_prefix(spec: Correlation, window: Sequence[Match]) -> int:
    """How many of the rules, in their listed order, the window's matches satisfy (greedy is optimal)."""
    done = 0
    for match in window:
        if done < len(spec.rules) and match.rule_id == spec.rules[done]:
            done += 1
    return done


def _episodes(
    spec: Correlation,
    rule_id: str,
    group: Group,
    ordered: list[Match],
    quiet_until: dt.datetime | None = None,
) -> list[CorrelationHit]:
    span = dt.timedelta(seconds=spec.timespan)
    hits: list[CorrelationHit] = []
    inside: Counter[Hashable] = Counter()
    start = 0
    for end, match in enumerate(ordered):
        assert match.time is not None
        key = _key(spec, match)
        if key is not None:
            inside[key] += 1
        while ordered[start].time < match.time - span:  # type: ignore[operator]
            old = _key(spec, ordered[start])
            if old is not None:
                inside[old] -= 1
                if not inside[old]:
                    del inside[old]
            start += 1
        if quiet_until is not None and match.time <= quiet_until:
            continue
        window = ordered[start : end + 1]
        measure = _ordered_prefix(spec, window) if spec.kind == "temporal_ordered" else len(inside)
        if spec.holds(measure):
            hits.append(CorrelationHit(rule_id, group, tuple(window)))
            quiet_until = match.time + span
    return hits


def correlate_rule(
    rule_id: str,
    spec: Correlation,
    matches: Iterable[Match],
    quiet: Mapping[Group, dt.datetime] | None = None,
) -> list[CorrelationHit]:
    """The hits of one correlation over base-rule matches (any order; those without a time are skipped).

    `quiet` carries episodes found earlier (streaming): a group is quiet until its time, as if the
    hit that set it had been found in this run.
    """
    position = {r: i for i, r in reversed(list(enumerate(spec.rules)))}
    groups: dict[Group, list[Match]] = defaultdict(list)
    for match in matches:
        if match.rule_id in position and match.time is not None:
            group = _group(spec, match)
            if group is not None:
                groups[group].append(match)
    hits: list[CorrelationHit] = []
    for group, members in sorted(groups.items(), key=lambda item: str(item[0])):
        members.sort(key=lambda m: (m.time, position[m.rule_id], m.event_uid))
        hits.extend(_episodes(spec, rule_id, group, members, (quiet or {}).get(group)))
    return hits


def correlate(matches: Sequence[Match], rules: Iterable[Rule]) -> list[CorrelationHit]:
    """Hits of every active correlation rule over the matches of one detection run."""
    hits: list[CorrelationHit] = []
    for rule in rules:
        if rule.status == "active" and rule.correlation is not None:
            hits.extend(correlate_rule(rule.id, rule.correlation, matches))
    return hits
