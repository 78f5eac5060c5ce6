"""Major incidents: declared by a tier 3 lead over incidents, updated on a cadence, then reviewed.

This module keeps the record: the declaration (member incidents, affected business services, the
audiences that hear about it, the update cadence), each stakeholder update and, per audience, what was
sent through which channel and who acknowledged it. Rendering and sending live in
`watchfloor.respond.comms`, which calls `record_update` and `record_delivery` here; every change is an
audit-log entry with target type `major`. Times come from the caller (`now`) so that the cadence can be
tested with a controlled clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import record
from watchfloor.cases.context_records import context_index
from watchfloor.cases.errors import Conflict, InvalidInput, NotAllowed, NotFound
from watchfloor.cases.models import (
    Incident,
    MajorAction,
    MajorDelivery,
    MajorIncident,
    MajorMember,
    MajorUpdate,
    utcnow,
)
from watchfloor.cases.users import Actor, require_tier

__all__ = [
    "AUDIENCE_NAME_CHARS",
    "CLOSED",
    "DECLARED",
    "ActionView",
    "DeliveryView",
    "DueMajor",
    "MajorDetail",
    "MajorView",
    "StakeholderStatus",
    "UpdateText",
    "UpdateView",
    "acknowledge_update",
    "add_action",
    "audit_major",
    "close_major",
    "complete_action",
    "declare_major",
    "due_majors",
    "list_majors",
    "major_row",
    "record_delivery",
    "record_update",
    "show_major",
    "stakeholder_page",
]

#: Characters an audience name may use: it is a key of `[major.audiences.NAME]` and a template name.
AUDIENCE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
DECLARED, CLOSED = "declared", "closed"


@dataclass(frozen=True, slots=True)
class MajorView:
    """A major incident as listed."""

    id: int
    title: str
    state: str
    incident_ids: tuple[int, ...]
    services: tuple[str, ...]
    audiences: tuple[str, ...]
    cadence_minutes: int
    declared_by: str
    declared_at: dt.datetime
    next_update_due_at: dt.datetime | None
    closed_at: dt.datetime | None
    is_exercise: bool


@dataclass(frozen=True, slots=True)
class UpdateText:
    """The four plain-language answers every update gives, whatever the audience."""

    what_happened: str
    impact: str
    doing: str
    need: str = ""

    def __post_init__(self) -> None:
        for name in ("what_happened", "impact", "doing"):
            if not getattr(self, name).strip():
                raise InvalidInput(f"an update needs {name.replace('_', ' ')}")


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One audience's copy of an update: where it went, whether it arrived, who acknowledged it."""

    id: int
    update_id: int
    audience: str
    channel: str
    status: str
    detail: str
    text: str
    sent_at: dt.datetime
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class UpdateView:
    """A stakeholder update and its deliveries."""

    id: int
    major_id: int
    sequence: int
    text: UpdateText
    next_update_at: dt.datetime
    author: str
    created_at: dt.datetime
    deliveries: tuple[DeliveryView, ...] = ()


@dataclass(frozen=True, slots=True)
class ActionView:
    """An action item of the review."""

    id: int
    major_id: int
    text: str
    owner: str
    due: dt.date
    done: bool
    done_by: str | None
    done_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class MajorDetail:
    """Everything about one major incident: the declaration, updates, action items and review."""

    major: MajorView
    updates: tuple[UpdateView, ...]
    actions: tuple[ActionView, ...]
    lessons: str
    review: str


@dataclass(frozen=True, slots=True)
class DueMajor:
    """A major incident whose next stakeholder update is overdue, and by how long."""

    major: MajorView
    overdue: dt.timedelta


@dataclass(frozen=True, slots=True)
class StakeholderStatus:
    """What the stakeholder page shows for one open major incident: the latest copy per audience."""

    major: MajorView
    latest: tuple[DeliveryView, ...]
    latest_update: UpdateView | None


def _view(session: Session, row: MajorIncident) -> MajorView:
    members = session.scalars(
        select(MajorMember.incident_id)
        .where(MajorMember.major_id == row.id)
        .order_by(MajorMember.incident_id)
    )
    return MajorView(
        id=row.id,
        title=row.title,
        state=row.state,
        incident_ids=tuple(members),
        services=tuple(row.services),
        audiences=tuple(row.audiences),
        cadence_minutes=row.cadence_minutes,
        declared_by=row.declared_by,
        declared_at=row.declared_at,
        next_update_due_at=row.next_update_due_at,
        closed_at=row.closed_at,
        is_exercise=row.is_exercise,
    )


def _delivery(row: MajorDelivery) -> DeliveryView:
    return DeliveryView(
        row.id,
        row.update_id,
        row.audience,
        row.channel,
        row.status,
        row.detail,
        row.text,
        row.sent_at,
        row.acknowledged_by,
        row.acknowledged_at,
    )


def _update(session: Session, row: MajorUpdate) -> UpdateView:
    deliveries = session.scalars(
        select(MajorDelivery).where(MajorDelivery.update_id == row.id).order_by(MajorDelivery.audience)
    )
    return UpdateView(
        row.id,
        row.major_id,
        row.sequence,
        UpdateText(row.what_happened, row.impact, row.doing, row.need),
        row.next_update_at,
        row.author,
        row.created_at,
        tuple(_delivery(d) for d in deliveries),
    )


def _action(row: MajorAction) -> ActionView:
    return ActionView(row.id, row.major_id, row.text, row.owner, row.due, row.done, row.done_by, row.done_at)


def major_row(session: Session, major_id: int) -> MajorIncident:
    """The major incident row, or `NotFound`."""
    row = session.get(MajorIncident, major_id)
    if row is None:
        raise NotFound(f"no major incident {major_id}")
    return row


def _open_major(session: Session, major_id: int, doing: str) -> MajorIncident:
    row = major_row(session, major_id)
    if row.state != DECLARED:
        raise NotAllowed(f"cannot {doing}: major incident {major_id} is {row.state}")
    return row


def audit_major(
    session: Session, actor: Actor, action: str, major_id: int, after: dict[str, object], now: dt.datetime
) -> None:
    """Append one audit entry about a major incident (target type `major`)."""
    record(
        session,
        actor=actor.username,
        action=action,
        target_type="major",
        target_id=major_id,
        after=after,
        request_id=actor.request_id,
        at=now,
    )


def _services(session: Session, names: Sequence[str]) -> list[str]:
    """Service names as the business context spells them; unknown names are kept as given."""
    index = context_index(session)
    spelled: list[str] = []
    for name in names:
        if not name.strip():
            raise InvalidInput("a business service name cannot be empty")
        known = index.service(name)
        spelled.append(known.name if known is not None else name.strip())
    return list(dict.fromkeys(spelled))


def declare_major(
    session: Session,
    actor: Actor,
    *,
    incident_ids: Sequence[int],
    title: str,
    services: Sequence[str],
    audiences: Sequence[str],
    cadence_minutes: int,
    now: dt.datetime | None = None,
) -> MajorView:
    """Declare a major incident; only a tier 3 lead may, and the first update is due one cadence later."""
    require_tier(actor, 3, "declare a major incident")
    now = now or utcnow()
    if not incident_ids:
        raise InvalidInput("a major incident groups at least one incident")
    if not title.strip():
        raise InvalidInput("a major incident needs a title")
    if not 5 <= cadence_minutes <= 24 * 60:
        raise InvalidInput(f"update cadence {cadence_minutes} minutes is outside 5 minutes .. 24 hours")
    for audience in audiences:
        if not audience or not set(audience) <= AUDIENCE_NAME_CHARS:
            raise InvalidInput(f"audience name {audience!r}: use lower-case letters, digits, - and _")
    incidents = []
    for incident_id in dict.fromkeys(incident_ids):
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id}")
        incidents.append(incident)
    row = MajorIncident(
        title=title.strip(),
        state=DECLARED,
        services=_services(session, services),
        audiences=list(dict.fromkeys(audiences)),
        cadence_minutes=cadence_minutes,
        declared_by=actor.username,
        declared_at=now,
        next_update_due_at=now + dt.timedelta(minutes=cadence_minutes),
        is_exercise=all(i.is_exercise for i in incidents),
        lessons="",
        review="",
    )
    session.add(row)
    session.flush()
    for incident in incidents:
        session.add(MajorMember(major_id=row.id, incident_id=incident.id))
    session.flush()
    view = _view(session, row)
    audit_major(
        session,
        actor,
        "major.declared",
        row.id,
        {
            "title": row.title,
            "incidents": list(view.incident_ids),
            "services": row.services,
            "audiences": row.audiences,
            "cadence_minutes": cadence_minutes,
            "next_update_due_at": row.next_update_due_at,
        },
        now,
    )
    return view


def record_update(
    session: Session,
    actor: Actor,
    major_id: int,
    text: UpdateText,
    *,
    next_in_minutes: int | None = None,
    now: dt.datetime | None = None,
) -> UpdateView:
    """Record a stakeholder update (tier 2 or above) and move the cadence to its next due time."""
    require_tier(actor, 2, "post a major-incident update")
    now = now or utcnow()
    row = _open_major(session, major_id, "post an update")
    minutes = next_in_minutes if next_in_minutes is not None else row.cadence_minutes
    if minutes <= 0:
        raise InvalidInput("the next update must be due in the future")
    count = len(list(session.scalars(select(MajorUpdate.id).where(MajorUpdate.major_id == major_id))))
    update = MajorUpdate(
        major_id=major_id,
        sequence=count + 1,
        what_happened=text.what_happened.strip(),
        impact=text.impact.strip(),
        doing=text.doing.strip(),
        need=text.need.strip(),
        next_update_at=now + dt.timedelta(minutes=minutes),
        author=actor.username,
        created_at=now,
    )
    session.add(update)
    row.next_update_due_at = update.next_update_at
    session.flush()
    audit_major(
        session,
        actor,
        "major.updated",
        major_id,
        {
            "update_id": update.id,
            "sequence": update.sequence,
            "what_happened": update.what_happened,
            "impact": update.impact,
            "doing": update.doing,
            "need": update.need,
            "next_update_at": update.next_update_at,
        },
        now,
    )
    return _update(session, update)


def record_delivery(
    session: Session,
    actor: Actor,
    update_id: int,
    *,
    audience: str,
    channel: str,
    status: str,
    detail: str,
    text: str,
    now: dt.datetime | None = None,
) -> DeliveryView:
    """Record what one audience was sent for an update (status `sent` or `failed`, with the reason)."""
    now = now or utcnow()
    update = session.get(MajorUpdate, update_id)
    if update is None:
        raise NotFound(f"no major-incident update {update_id}")
    row = MajorDelivery(
        update_id=update_id,
        audience=audience,
        channel=channel,
        status=status,
        detail=detail,
        text=text,
        sent_at=now,
    )
    session.add(row)
    session.flush()
    audit_major(
        session,
        actor,
        "major.update.delivered",
        update.major_id,
        {
            "update_id": update_id,
            "audience": audience,
            "channel": channel,
            "status": status,
            "detail": detail,
        },
        now,
    )
    return _delivery(row)


def acknowledge_update(
    session: Session,
    actor: Actor,
    update_id: int,
    *,
    audience: str,
    by: str,
    now: dt.datetime | None = None,
) -> DeliveryView:
    """Note that someone of an audience read an update; any user may record it (stakeholders included)."""
    now = now or utcnow()
    if not by.strip():
        raise InvalidInput("say who acknowledged (--by NAME)")
    row = session.scalars(
        select(MajorDelivery).where(MajorDelivery.update_id == update_id, MajorDelivery.audience == audience)
    ).first()
    if row is None:
        raise NotFound(f"update {update_id} was not sent to audience {audience!r}")
    if row.acknowledged_by is not None:
        raise Conflict(f"update {update_id} was already acknowledged for {audience} by {row.acknowledged_by}")
    row.acknowledged_by, row.acknowledged_at = by.strip(), now
    update = session.get(MajorUpdate, update_id)
    assert update is not None  # the delivery's foreign key holds
    session.flush()
    audit_major(
        session,
        actor,
        "major.update.acknowledged",
        update.major_id,
        {"update_id": update_id, "audience": audience, "by": row.acknowledged_by},
        now,
    )
    return _delivery(row)


def due_majors(session: Session, now: dt.datetime | None = None) -> list[DueMajor]:
    """Open major incidents whose next update is overdue at `now`, most overdue first (the reminder)."""
    now = now or utcnow()
    rows = session.scalars(
        select(MajorIncident)
        .where(MajorIncident.state == DECLARED, MajorIncident.next_update_due_at <= now)
        .order_by(MajorIncident.next_update_due_at, MajorIncident.id)
    )
    return [DueMajor(_view(session, r), now - r.next_update_due_at) for r in rows if r.next_update_due_at]


def close_major(
    session: Session, actor: Actor, major_id: int, *, now: dt.datetime | None = None
) -> MajorView:
    """End the major incident (tier 3): updates stop being due and the review can be written."""
    require_tier(actor, 3, "close a major incident")
    now = now or utcnow()
    row = _open_major(session, major_id, "close it")
    row.state, row.closed_by, row.closed_at, row.next_update_due_at = CLOSED, actor.username, now, None
    session.flush()
    audit_major(session, actor, "major.closed", major_id, {"state": CLOSED, "closed_at": now}, now)
    return _view(session, row)


def add_action(
    session: Session,
    actor: Actor,
    major_id: int,
    *,
    owner: str,
    due: dt.date,
    text: str,
    now: dt.datetime | None = None,
) -> ActionView:
    """Add an action item with an owner and a due date (tier 2 or above)."""
    require_tier(actor, 2, "add a review action item")
    now = now or utcnow()
    major_row(session, major_id)
    if not owner.strip() or not text.strip():
        raise InvalidInput("an action item needs an owner and a text")
    row = MajorAction(
        major_id=major_id,
        text=text.strip(),
        owner=owner.strip(),
        due=due,
        done=False,
        created_by=actor.username,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit_major(
        session,
        actor,
        "major.action.added",
        major_id,
        {"action_id": row.id, "owner": row.owner, "due": due.isoformat(), "text": row.text},
        now,
    )
    return _action(row)


def complete_action(
    session: Session, actor: Actor, action_id: int, *, now: dt.datetime | None = None
) -> ActionView:
    """Mark an action item done (tier 2 or above)."""
    require_tier(actor, 2, "complete a review action item")
    now = now or utcnow()
    row = session.get(MajorAction, action_id)
    if row is None:
        raise NotFound(f"no action item {action_id}")
    if row.done:
        raise Conflict(f"action item {action_id} is already done")
    row.done, row.done_by, row.done_at = True, actor.username, now
    session.flush()
    audit_major(session, actor, "major.action.done", row.major_id, {"action_id": action_id}, now)
    return _action(row)


def list_majors(session: Session, *, include_closed: bool = False) -> list[MajorView]:
    """Major incidents, newest first; open ones only unless asked."""
    query = select(MajorIncident).order_by(MajorIncident.id.desc())
    if not include_closed:
        query = query.where(MajorIncident.state == DECLARED)
    return [_view(session, r) for r in session.scalars(query)]


def show_major(session: Session, major_id: int) -> MajorDetail:
    """One major incident with its updates (and their deliveries) and action items."""
    row = major_row(session, major_id)
    updates = session.scalars(
        select(MajorUpdate).where(MajorUpdate.major_id == major_id).order_by(MajorUpdate.sequence)
    )
    actions = session.scalars(
        select(MajorAction).where(MajorAction.major_id == major_id).order_by(MajorAction.id)
    )
    return MajorDetail(
        _view(session, row),
        tuple(_update(session, u) for u in updates),
        tuple(_action(a) for a in actions),
        row.lessons,
        row.review,
    )


def stakeholder_page(session: Session) -> list[StakeholderStatus]:
    """The stakeholder page's data: each open major incident with the latest copy each audience got."""
    pages = []
    for major in list_majors(session):
        detail = show_major(session, major.id)
        latest: dict[str, DeliveryView] = {}
        for update in detail.updates:
            for delivery in update.deliveries:
                latest[delivery.audience] = delivery
        last = detail.updates[-1] if detail.updates else None
        pages.append(StakeholderStatus(major, tuple(latest[a] for a in sorted(latest)), last))
    return pages
