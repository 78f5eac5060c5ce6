"""The work inside an incident: comments, tasks, evidence, observables, timeline, related incidents.

Tasks come by hand or from templates; evidence files are stored by SHA-256; the timeline pins store
events by uid.

These add records next to the incident rather than changing its fields, so they do not take the
incident's version; each still writes an audit entry, and each refuses closed incidents except
comments (a note after closing is normal).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import record
from watchfloor.cases.errors import Conflict, Forbidden, InvalidInput, NotAllowed, NotFound
from watchfloor.cases.incidents import load_incident
from watchfloor.cases.models import (
    Comment,
    EvidenceFile,
    Incident,
    IncidentLink,
    Observable,
    Task,
    TaskTemplate,
    TimelineEntry,
    utcnow,
)
from watchfloor.cases.users import Actor, require_tier
from watchfloor.cases.values import Role, State
from watchfloor.cases.views import CommentView, EvidenceView, ObservableView, TaskView, TimelineView

__all__ = [
    "OBSERVABLE_KINDS",
    "TEMPLATE_MATCHES",
    "add_comment",
    "add_evidence",
    "add_observable",
    "add_task",
    "add_task_template",
    "complete_task",
    "link_incidents",
    "pin_event",
]

OBSERVABLE_KINDS = frozenset({"ip", "domain", "url", "hash", "user", "host", "email", "file", "process"})
TEMPLATE_MATCHES = frozenset({"rule", "technique", "any"})
_CHUNK = 1 << 20


def _audit(session: Session, actor: Actor, action: str, incident_id: int, after: dict[str, object]) -> None:
    record(
        session,
        actor=actor.username,
        action=action,
        target_type="incident",
        target_id=incident_id,
        after=after,
        request_id=actor.request_id,
    )


def _workable(session: Session, actor: Actor, incident_id: int, doing: str) -> Incident:
    incident = load_incident(session, incident_id)
    require_tier(actor, incident.tier, f"{doing} on tier {incident.tier} incident {incident_id}")
    if incident.state == State.CLOSED:
        raise NotAllowed(f"incident {incident_id} is closed: reopen it to {doing}")
    return incident


def add_comment(session: Session, actor: Actor, incident_id: int, body: str) -> CommentView:
    """A note anyone but a stakeholder may add, at any time."""
    load_incident(session, incident_id)
    if actor.role is Role.STAKEHOLDER:
        raise Forbidden(f"{actor.username} is a stakeholder: stakeholders read, they do not comment")
    if not body.strip():
        raise InvalidInput("a comment needs text")
    comment = Comment(incident_id=incident_id, author=actor.username, body=body)
    session.add(comment)
    session.flush()
    _audit(session, actor, "comment.added", incident_id, {"comment_id": comment.id, "body": body})
    return CommentView(comment.id, comment.author, comment.body, comment.created_at)


def add_task_template(
    session: Session, actor: Actor, match_kind: str, match_value: str, title: str, description: str = ""
) -> int:
    """A runbook step for every future incident whose alerts match a rule id or technique (or all)."""
    require_tier(actor, 2, "write task templates")
    if match_kind not in TEMPLATE_MATCHES:
        raise InvalidInput(f"a template matches by {', '.join(sorted(TEMPLATE_MATCHES))}, not {match_kind!r}")
    if match_kind != "any" and not match_value:
        raise InvalidInput(f"a {match_kind} template needs the {match_kind} to match")
    if not title.strip():
        raise InvalidInput("a task template needs a title")
    template = TaskTemplate(
        match_kind=match_kind, match_value=match_value, title=title, description=description
    )
    session.add(template)
    session.flush()
    record(
        session,
        actor=actor.username,
        action="task_template.added",
        target_type="task_template",
        target_id=template.id,
        after={"match_kind": match_kind, "match_value": match_value, "title": title},
        request_id=actor.request_id,
    )
    return template.id


def add_task(session: Session, actor: Actor, incident_id: int, title: str, description: str = "") -> TaskView:
    """A task added by hand."""
    _workable(session, actor, incident_id, "add tasks")
    if not title.strip():
        raise InvalidInput("a task needs a title")
    task = Task(incident_id=incident_id, title=title, description=description)
    session.add(task)
    session.flush()
    _audit(session, actor, "task.added", incident_id, {"task_id": task.id, "title": title})
    return TaskView(task.id, task.title, task.description, task.done, task.done_by, task.template_id)


def complete_task(session: Session, actor: Actor, task_id: int) -> TaskView:
    """Mark a task done."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    _workable(session, actor, task.incident_id, "complete tasks")
    if task.done:
        raise Conflict(f"task {task_id} is already done (by {task.done_by})")
    task.done, task.done_by, task.done_at = True, actor.username, utcnow()
    session.flush()
    _audit(session, actor, "task.completed", task.incident_id, {"task_id": task.id, "title": task.title})
    return TaskView(task.id, task.title, task.description, task.done, task.done_by, task.template_id)


def _store_file(source: Path, evidence_dir: Path) -> tuple[str, int]:
    """Copy into `evidence_dir/<sha256>` while hashing; the same content is stored once."""
    evidence_dir.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(dir=evidence_dir, prefix=".incoming-")
    try:
        with source.open("rb") as reader, os.fdopen(fd, "wb") as writer:
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        target = evidence_dir / digest.hexdigest()
        if target.exists():
            os.unlink(tmp_name)
        else:
            os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return digest.hexdigest(), size


def add_evidence(
    session: Session, actor: Actor, incident_id: int, source: Path, evidence_dir: Path
) -> EvidenceView:
    """Attach a file: stored content-addressed by SHA-256, recorded with who added it."""
    _workable(session, actor, incident_id, "add evidence")
    if not source.is_file():
        raise InvalidInput(f"{source}: not a readable file")
    sha256, size = _store_file(source, evidence_dir)
    row = EvidenceFile(
        incident_id=incident_id, sha256=sha256, filename=source.name, size=size, added_by=actor.username
    )
    session.add(row)
    session.flush()
    after = {"evidence_id": row.id, "sha256": sha256, "filename": source.name, "size": size}
    _audit(session, actor, "evidence.added", incident_id, after)
    return EvidenceView(row.id, sha256, row.filename, size, row.added_by, row.added_at)


def add_observable(
    session: Session, actor: Actor, incident_id: int, kind: str, value: str, note: str = ""
) -> ObservableView:
    """An indicator seen in the incident; the same kind and value is kept once per incident."""
    _workable(session, actor, incident_id, "add observables")
    if kind not in OBSERVABLE_KINDS:
        raise InvalidInput(f"unknown observable kind {kind!r} ({', '.join(sorted(OBSERVABLE_KINDS))})")
    if not value.strip():
        raise InvalidInput("an observable needs a value")
    exists = session.scalars(
        select(Observable).where(
            Observable.incident_id == incident_id, Observable.kind == kind, Observable.value == value
        )
    ).first()
    if exists is not None:
        raise Conflict(f"incident {incident_id} already has observable {kind} {value}")
    row = Observable(incident_id=incident_id, kind=kind, value=value, note=note, added_by=actor.username)
    session.add(row)
    session.flush()
    _audit(
        session,
        actor,
        "observable.added",
        incident_id,
        {"observable_id": row.id, "kind": kind, "value": value},
    )
    return ObservableView(row.id, kind, value, note)


def pin_event(
    session: Session,
    actor: Actor,
    incident_id: int,
    event_uid: str,
    event_time: dt.datetime | None = None,
    summary: str = "",
) -> TimelineView:
    """Pin an event from the store (by its uid) to the incident's timeline."""
    _workable(session, actor, incident_id, "pin events")
    if not event_uid:
        raise InvalidInput("pin an event by its uid")
    exists = session.scalars(
        select(TimelineEntry.id).where(
            TimelineEntry.incident_id == incident_id, TimelineEntry.event_uid == event_uid
        )
    ).first()
    if exists is not None:
        raise Conflict(f"event {event_uid} is already on incident {incident_id}'s timeline")
    row = TimelineEntry(
        incident_id=incident_id,
        event_uid=event_uid,
        event_time=event_time,
        summary=summary,
        pinned_by=actor.username,
    )
    session.add(row)
    session.flush()
    _audit(session, actor, "timeline.pinned", incident_id, {"entry_id": row.id, "event_uid": event_uid})
    return TimelineView(row.id, event_uid, event_time, summary, actor.username)


def link_incidents(
    session: Session, actor: Actor, incident_id: int, related_id: int, reason: str = ""
) -> None:
    """Declare two incidents related (the link reads both ways)."""
    if incident_id == related_id:
        raise InvalidInput("an incident is not related to itself")
    _workable(session, actor, incident_id, "link incidents")
    load_incident(session, related_id)
    low, high = sorted((incident_id, related_id))
    exists = session.scalars(
        select(IncidentLink.id).where(IncidentLink.incident_id == low, IncidentLink.related_id == high)
    ).first()
    if exists is not None:
        return
    session.add(IncidentLink(incident_id=low, related_id=high, reason=reason, created_by=actor.username))
    session.flush()
    _audit(session, actor, "incident.linked", incident_id, {"related_id": related_id, "reason": reason})
