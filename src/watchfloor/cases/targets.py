"""Unexpected targets: what attacks reached although thought not valuable, and sensitive data touched.

A report for the business, not for analysts. It reads the entities (hosts, users, addresses) of the
alerts of incidents closed as true positives in a window, resolves each through the business context
(`context_index`) and keeps two lists:

- unexpected targets: entities the context does not list at all, or lists below high criticality,
  not as a crown jewel and not as a VIP. Attackers went there anyway: either the context is wrong, or
  the entity is a stepping stone worth protecting better.
- sensitive data touched: entities whose data sensitivity is confidential or restricted.

Exercise incidents are left out: a drill says nothing about what attackers want.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.context_records import context_index
from watchfloor.cases.models import AlertEntity, Incident, utcnow
from watchfloor.cases.values import Verdict
from watchfloor.context import (
    CRITICALITY_NAMES,
    SENSITIVITY_NAMES,
    Asset,
    ContextIndex,
    Identity,
    Resolution,
)

__all__ = [
    "SENSITIVE_AT",
    "VALUABLE_AT",
    "TargetFinding",
    "TargetsReport",
    "render_targets_markdown",
    "unexpected_targets",
]

#: Criticality from which an entity counts as "thought valuable" (high, critical).
VALUABLE_AT = 4
#: Data sensitivity from which an entity holds sensitive data (confidential, restricted).
SENSITIVE_AT = 3
_KINDS = ("host", "user", "ip")


@dataclass(frozen=True, slots=True)
class TargetFinding:
    """One entity attacks reached, what the business context says of it, and the incidents."""

    kind: str
    value: str
    known_as: str | None
    criticality: int | None
    sensitivity: int | None
    service: str
    reason: str
    incident_ids: tuple[int, ...]
    first_seen: dt.datetime
    last_seen: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "value": self.value,
            "known_as": self.known_as,
            "criticality": self.criticality,
            "sensitivity": self.sensitivity,
            "service": self.service,
            "reason": self.reason,
            "incidents": list(self.incident_ids),
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class TargetsReport:
    """The report for one window."""

    since: dt.datetime
    until: dt.datetime
    incidents: int
    unexpected: tuple[TargetFinding, ...]
    sensitive: tuple[TargetFinding, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "true_positive_incidents": self.incidents,
            "unexpected_targets": [f.as_dict() for f in self.unexpected],
            "sensitive_data_touched": [f.as_dict() for f in self.sensitive],
        }


def _resolve(index: ContextIndex, kind: str, value: str) -> Resolution | None:
    if kind == "host":
        return index.host(value)
    if kind == "ip":
        return index.ip(value)
    return index.user(value)


def _finding(
    kind: str, value: str, hits: list[tuple[int, dt.datetime]], found: Asset | Identity | None, reason: str
) -> TargetFinding:
    times = [t for _, t in hits]
    return TargetFinding(
        kind=kind,
        value=value,
        known_as=found.key if found is not None else None,
        criticality=found.criticality if found is not None else None,
        sensitivity=found.sensitivity if found is not None else None,
        service=found.service if found is not None else "",
        reason=reason,
        incident_ids=tuple(sorted({i for i, _ in hits})),
        first_seen=min(times),
        last_seen=max(times),
    )


def _unexpected_reason(record: Asset | Identity | None) -> str | None:
    """Why an entity was not thought valuable, or None when it was."""
    if record is None:
        return "not in the business context"
    if isinstance(record, Asset) and record.crown_jewel:
        return None
    if isinstance(record, Identity) and record.vip:
        return None
    if record.criticality >= VALUABLE_AT:
        return None
    return f"criticality {CRITICALITY_NAMES[record.criticality]}, not a crown jewel or VIP"


def unexpected_targets(session: Session, *, days: int = 90, now: dt.datetime | None = None) -> TargetsReport:
    """Entities of true-positive incidents (closed in the last `days`) the business did not expect."""
    until = now or utcnow()
    since = until - dt.timedelta(days=days)
    incidents = session.scalars(
        select(Incident.id).where(
            Incident.verdict == Verdict.TRUE_POSITIVE.value,
            Incident.is_exercise.is_(False),
            Incident.closed_at >= since,
            Incident.closed_at <= until,
        )
    ).all()
    seen: dict[tuple[str, str], list[tuple[int, dt.datetime]]] = defaultdict(list)
    for start in range(0, len(incidents), 500):
        chunk = incidents[start : start + 500]
        rows = session.execute(
            select(
                AlertEntity.kind, AlertEntity.value, AlertEntity.incident_id, AlertEntity.event_time
            ).where(AlertEntity.incident_id.in_(chunk), AlertEntity.kind.in_(_KINDS))
        )
        for kind, value, incident_id, event_time in rows:
            seen[(kind, value.lower())].append((incident_id, event_time))
    index = context_index(session)
    unexpected: list[TargetFinding] = []
    sensitive: list[TargetFinding] = []
    for (kind, value), hits in sorted(seen.items()):
        resolution = _resolve(index, kind, value)
        record = resolution.record if resolution is not None else None
        person_or_host = record if isinstance(record, (Asset, Identity)) else None
        reason = _unexpected_reason(person_or_host)
        if reason is not None:
            unexpected.append(_finding(kind, value, hits, person_or_host, reason))
        if person_or_host is not None and person_or_host.sensitivity >= SENSITIVE_AT:
            level = SENSITIVITY_NAMES[person_or_host.sensitivity]
            sensitive.append(_finding(kind, value, hits, person_or_host, f"holds {level} data"))
    order = lambda f: (-len(f.incident_ids), f.kind, f.value)  # noqa: E731
    return TargetsReport(
        since,
        until,
        len(incidents),
        tuple(sorted(unexpected, key=order)),
        tuple(sorted(sensitive, key=order)),
    )


def _table(findings: tuple[TargetFinding, ...]) -> list[str]:
    if not findings:
        return ["None.", ""]
    lines = ["| Kind | Entity | Known as | Service | Why | Incidents | Last seen |", "| --- " * 7 + "|"]
    for f in findings:
        incidents = ", ".join(f"#{i}" for i in f.incident_ids)
        lines.append(
            f"| {f.kind} | {f.value} | {f.known_as or '-'} | {f.service or '-'} | {f.reason} | "
            f"{incidents} | {f.last_seen:%Y-%m-%d} |"
        )
    return [*lines, ""]


def render_targets_markdown(report: TargetsReport) -> str:
    """The report as Markdown for the business."""
    lines = [
        "# Unexpected targets",
        "",
        f"{report.incidents} true-positive incidents closed from {report.since:%Y-%m-%d} to "
        f"{report.until:%Y-%m-%d}.",
        "",
        "## Reached, but not thought valuable",
        "",
        *_table(report.unexpected),
        "## Sensitive data touched",
        "",
        *_table(report.sensitive),
    ]
    return "\n".join(lines)
