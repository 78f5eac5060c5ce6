"""What readers of incident data get: frozen dataclasses, never ORM rows or loose dicts.

The CLI prints these (as text or `--json` via `as_dict`), and the API will serialise the same values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from watchfloor.cases.models import Incident

__all__ = [
    "AlertView",
    "CommentView",
    "EscalationView",
    "EvidenceView",
    "IncidentDetail",
    "IncidentSummary",
    "ObservableView",
    "TaskView",
    "TimelineView",
    "jsonable",
]


def jsonable(value: Any) -> Any:
    """Dataclasses, tuples and times made JSON-ready (times as ISO 8601 in UTC)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


class _AsDict:
    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        result: dict[str, Any] = jsonable(self)
        return result


@dataclass(frozen=True, slots=True)
class IncidentSummary(_AsDict):
    """One row of a queue."""

    id: int
    title: str
    state: str
    tier: int
    queue: str
    severity: str
    assignee: str | None
    alert_count: int
    first_alert_at: dt.datetime
    last_alert_at: dt.datetime
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    remediated_at: dt.datetime | None
    closed_at: dt.datetime | None
    verdict: str | None
    remediation_kind: str | None
    remediation_actions: tuple[str, ...]
    correlation_key: str | None
    is_exercise: bool
    merged_into_id: int | None
    version: int
    priority: str | None = None  # P1..P4 from business context (context/priority.py), None before 0006

    @classmethod
    def of(cls, row: Incident) -> IncidentSummary:
        """From the ORM row."""
        return cls(
            id=row.id,
            title=row.title,
            state=row.state,
            tier=row.tier,
            queue=row.queue,
            severity=row.severity,
            assignee=row.assignee,
            alert_count=row.alert_count,
            first_alert_at=row.first_alert_at,
            last_alert_at=row.last_alert_at,
            created_at=row.created_at,
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=row.acknowledged_by,
            remediated_at=row.remediated_at,
            closed_at=row.closed_at,
            verdict=row.verdict,
            remediation_kind=row.remediation_kind,
            remediation_actions=tuple(row.remediation_actions),
            correlation_key=row.correlation_key,
            is_exercise=row.is_exercise,
            merged_into_id=row.merged_into_id,
            version=row.version,
            priority=row.priority,
        )


@dataclass(frozen=True, slots=True)
class AlertView(_AsDict):
    """An alert inside an incident."""

    uid: str
    rule_id: str
    rule_title: str
    severity: str
    event_time: dt.datetime
    source: str
    techniques: tuple[str, ...]
    tactics: tuple[str, ...]
    entities: tuple[str, ...]
    evidence_event_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EscalationView(_AsDict):
    """A tier change as recorded."""

    id: int
    direction: str
    from_tier: int
    to_tier: int
    actor: str
    reason: str
    handoff_note: str
    evidence_snapshot: tuple[str, ...]
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CommentView(_AsDict):
    """A comment."""

    id: int
    author: str
    body: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class TaskView(_AsDict):
    """A task and whether it is done."""

    id: int
    title: str
    description: str
    done: bool
    done_by: str | None
    template_id: int | None


@dataclass(frozen=True, slots=True)
class EvidenceView(_AsDict):
    """An evidence file."""

    id: int
    sha256: str
    filename: str
    size: int
    added_by: str
    added_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ObservableView(_AsDict):
    """An observable."""

    id: int
    kind: str
    value: str
    note: str


@dataclass(frozen=True, slots=True)
class TimelineView(_AsDict):
    """A pinned store event."""

    id: int
    event_uid: str
    event_time: dt.datetime | None
    summary: str
    pinned_by: str


@dataclass(frozen=True, slots=True)
class IncidentDetail(_AsDict):
    """Everything about one incident, as `incidents show` prints it."""

    incident: IncidentSummary
    alerts: tuple[AlertView, ...]
    escalations: tuple[EscalationView, ...]
    comments: tuple[CommentView, ...]
    tasks: tuple[TaskView, ...]
    evidence: tuple[EvidenceView, ...]
    observables: tuple[ObservableView, ...]
    timeline: tuple[TimelineView, ...]
    related: tuple[int, ...]
