"""Reading incidents: the filtered, sorted, paginated queue list and one incident's full detail.

The queue list is the hot path (analysts refresh it constantly), so it reads only the incidents table,
whose denormalised `alert_count` and severity rank let it filter and sort on indexed columns. A page is
read in two steps: the ids of the page first, from an index that holds every filtered and sorted column
(so sorting the open backlog never touches the table), then only those rows. Deep pages can use a
keyset cursor (`IncidentFilter.after`) instead of an offset, and a count can be capped for views whose
total is large (see `bench/incidents_queue.py` and docs/performance.md for the figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from watchfloor.cases.errors import InvalidInput
from watchfloor.cases.incidents import load_incident
from watchfloor.cases.models import (
    Alert,
    Comment,
    Escalation,
    EvidenceFile,
    Incident,
    IncidentLink,
    Observable,
    Task,
    TimelineEntry,
)
from watchfloor.cases.values import Severity, State, severity_rank
from watchfloor.cases.views import (
    AlertView,
    CommentView,
    EscalationView,
    EvidenceView,
    IncidentDetail,
    IncidentSummary,
    ObservableView,
    TaskView,
    TimelineView,
)

__all__ = [
    "MAX_LIMIT",
    "SORTS",
    "IncidentFilter",
    "count_incidents",
    "list_incidents",
    "show_incident",
]

MAX_LIMIT = 1000

# Each sort as (column, descending) pairs, the last one unique: what ORDER BY and keyset cursors use.
_SORT_KEYS: dict[str, tuple[tuple[InstrumentedAttribute[Any], bool], ...]] = {
    "severity": ((Incident.severity_rank, True), (Incident.id, True)),
    "newest": ((Incident.id, True),),
    "oldest": ((Incident.id, False),),
    "last_alert": ((Incident.last_alert_at, True), (Incident.id, True)),
}

SORTS: dict[str, tuple[ColumnElement[Any], ...]] = {
    name: tuple(column.desc() if descending else column.asc() for column, descending in keys)
    for name, keys in _SORT_KEYS.items()
}


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """What a queue view asks for. `severity` is a minimum; states default to every open state.

    `after` is a keyset cursor: the id of the last incident of the previous page. The page then starts
    right after that incident in the chosen sort, which costs the same on page 1,000 as on page 1
    (an offset makes the database walk past every skipped row); `offset` still applies on top of it.
    """

    states: tuple[str, ...] = ()
    tier: int | None = None
    queue: str | None = None
    severity: str | None = None
    assignee: str | None = None
    is_exercise: bool | None = False  # real incidents only unless asked: drills stay out of real queues
    sort: str = "severity"
    limit: int = 50
    offset: int = 0
    after: int | None = None

    def __post_init__(self) -> None:
        for state in self.states:
            if state not in {s.value for s in State}:
                raise InvalidInput(f"unknown state {state!r} ({', '.join(s.value for s in State)})")
        if self.severity is not None and self.severity not in {s.value for s in Severity}:
            raise InvalidInput(f"unknown severity {self.severity!r} ({', '.join(s.value for s in Severity)})")
        if self.sort not in SORTS:
            raise InvalidInput(f"unknown sort {self.sort!r} ({', '.join(SORTS)})")
        if not 1 <= self.limit <= MAX_LIMIT or self.offset < 0:
            raise InvalidInput(f"limit must be 1..{MAX_LIMIT} and offset not negative")
        if self.after is not None and self.after < 1:
            raise InvalidInput(f"after must be an incident id, not {self.after}")


def _conditions(wanted: IncidentFilter) -> list[ColumnElement[bool]]:
    states = wanted.states or tuple(s.value for s in State if s is not State.CLOSED)
    conditions: list[ColumnElement[bool]] = [Incident.state.in_(states)]
    if wanted.tier is not None:
        conditions.append(Incident.tier == wanted.tier)
    if wanted.queue is not None:
        conditions.append(Incident.queue == wanted.queue)
    if wanted.severity is not None:
        conditions.append(Incident.severity_rank >= severity_rank(wanted.severity))
    if wanted.assignee is not None:
        conditions.append(Incident.assignee == wanted.assignee)
    if wanted.is_exercise is not None:
        conditions.append(Incident.is_exercise == wanted.is_exercise)
    return conditions


def _after(session: Session, wanted: IncidentFilter) -> ColumnElement[bool] | None:
    """Rows strictly after the cursor incident in the sort order (none when it does not exist)."""
    if wanted.after is None:
        return None
    keys = _SORT_KEYS[wanted.sort]
    cursor = session.execute(select(*(c for c, _ in keys)).where(Incident.id == wanted.after)).first()
    if cursor is None:
        return false()
    branches: list[ColumnElement[bool]] = []
    for i, (column, descending) in enumerate(keys):
        ties = [keys[j][0] == cursor[j] for j in range(i)]
        beyond = column < cursor[i] if descending else column > cursor[i]
        branches.append(and_(*ties, beyond))
    return or_(*branches)


def list_incidents(session: Session, wanted: IncidentFilter | None = None) -> list[IncidentSummary]:
    """One page of a queue: the page's ids from an index, then those rows only."""
    wanted = wanted or IncidentFilter()
    conditions = _conditions(wanted)
    after = _after(session, wanted)
    if after is not None:
        conditions.append(after)
    page_ids = (
        select(Incident.id)
        .where(*conditions)
        .order_by(*SORTS[wanted.sort])
        .limit(wanted.limit)
        .offset(wanted.offset)
    )
    ids = list(session.scalars(page_ids))
    if not ids:
        return []
    rows = session.scalars(select(Incident).where(Incident.id.in_(ids)).order_by(*SORTS[wanted.sort]))
    return [IncidentSummary.of(row) for row in rows]


def count_incidents(session: Session, wanted: IncidentFilter | None = None, *, cap: int | None = None) -> int:
    """How many incidents match (for pagination); the cursor `after` does not change the total.

    With `cap`, counting stops there: a view of a hundred thousand closed incidents answers `cap` (the
    caller shows "10,000+") without walking the whole index. Without it the count is exact.
    """
    wanted = wanted or IncidentFilter()
    if cap is None:
        return session.scalar(select(func.count(Incident.id)).where(*_conditions(wanted))) or 0
    if cap < 1:
        raise InvalidInput(f"cap must be positive, not {cap}")
    bounded = select(Incident.id).where(*_conditions(wanted)).limit(cap).subquery()
    return session.scalar(select(func.count()).select_from(bounded)) or 0


def show_incident(session: Session, incident_id: int) -> IncidentDetail:
    """Everything about one incident."""
    row = load_incident(session, incident_id)
    alerts = session.scalars(
        select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.event_time, Alert.id)
    )
    alert_views = tuple(
        AlertView(
            uid=a.uid,
            rule_id=a.rule_id,
            rule_title=a.rule_title,
            severity=a.severity,
            event_time=a.event_time,
            source=a.source,
            techniques=tuple(a.techniques),
            tactics=tuple(a.tactics),
            entities=tuple(f"{e.kind}:{e.value}" for e in a.entities),
            evidence_event_ids=tuple(a.evidence_event_ids),
        )
        for a in alerts
    )
    escalations = session.scalars(
        select(Escalation).where(Escalation.incident_id == incident_id).order_by(Escalation.id)
    )
    comments = session.scalars(select(Comment).where(Comment.incident_id == incident_id).order_by(Comment.id))
    tasks = session.scalars(select(Task).where(Task.incident_id == incident_id).order_by(Task.id))
    evidence = session.scalars(
        select(EvidenceFile).where(EvidenceFile.incident_id == incident_id).order_by(EvidenceFile.id)
    )
    observables = session.scalars(
        select(Observable).where(Observable.incident_id == incident_id).order_by(Observable.id)
    )
    timeline = session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident_id)
        .order_by(TimelineEntry.event_time, TimelineEntry.id)
    )
    links = session.scalars(
        select(IncidentLink).where(
            or_(IncidentLink.incident_id == incident_id, IncidentLink.related_id == incident_id)
        )
    )
    related = sorted(
        {link.related_id if link.incident_id == incident_id else link.incident_id for link in links}
    )
    return IncidentDetail(
        incident=IncidentSummary.of(row),
        alerts=alert_views,
        escalations=tuple(
            EscalationView(
                e.id,
                e.direction,
                e.from_tier,
                e.to_tier,
                e.actor,
                e.reason,
                e.handoff_note,
                tuple(e.evidence_snapshot),
                e.created_at,
            )
            for e in escalations
        ),
        comments=tuple(CommentView(c.id, c.author, c.body, c.created_at) for c in comments),
        tasks=tuple(TaskView(t.id, t.title, t.description, t.done, t.done_by, t.template_id) for t in tasks),
        evidence=tuple(
            EvidenceView(f.id, f.sha256, f.filename, f.size, f.added_by, f.added_at) for f in evidence
        ),
        observables=tuple(ObservableView(o.id, o.kind, o.value, o.note) for o in observables),
        timeline=tuple(
            TimelineView(t.id, t.event_uid, t.event_time, t.summary, t.pinned_by) for t in timeline
        ),
        related=tuple(related),
    )
