"""The incident-management tables as typed SQLAlchemy 2 models.

The schema itself is created and evolved only by the Alembic migrations shipped next to this module; the
models describe it for queries. Times are stored as UTC and always read back timezone-aware, whatever
the database (SQLite keeps no zone, PostgreSQL does).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Alert",
    "AlertEntity",
    "ApiToken",
    "AuditEntry",
    "AuditHead",
    "Base",
    "BusinessServiceRow",
    "Comment",
    "ContextAsset",
    "ContextIdentity",
    "CriticalEntity",
    "Escalation",
    "EvidenceFile",
    "Incident",
    "IncidentLink",
    "LoginSession",
    "LoginThrottle",
    "MajorAction",
    "MajorDelivery",
    "MajorIncident",
    "MajorMember",
    "MajorUpdate",
    "Observable",
    "TabletopResponse",
    "TabletopRun",
    "Task",
    "TaskTemplate",
    "TimelineEntry",
    "UTCDateTime",
    "User",
    "utcnow",
]


def utcnow() -> dt.datetime:
    """Now, timezone-aware in UTC: the only clock incident management reads."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and returned timezone-aware on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Refuse naive times (their zone is a guess); SQLite gets naive UTC, which it can compare."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: incident management stores UTC only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Always aware UTC, so comparisons and hashes do not depend on the database."""
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every incident-management table."""

    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class User(Base):
    """A person who acts on incidents; enough to name actors and check tiers (authentication comes later)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Revision 0004: console login. No hash means the user cannot log in (API tokens still work).
    password_hash: Mapped[str | None] = mapped_column(String(256), default=None)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ApiToken(Base):
    """A bearer token for the API, bound to a user; only the SHA-256 of its secret is kept.

    `token_id` is the visible part of the token (`wf_<token_id>_<secret>`), so a token can be listed and
    revoked by id without anyone holding the secret. Revocation is a time, never a deletion: the audit
    log and this table both keep who had which access when.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    scopes: Mapped[list[str]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_by: Mapped[str | None] = mapped_column(String(128), default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship()


class LoginSession(Base):
    """A console session: only the SHA-256 of its random id is kept, so a database leak logs no one in.

    `last_seen_at` drives the idle timeout and `expires_at` the absolute one; logging out or expiring
    sets `ended_at` (rows are kept for the audit trail of who was logged in when).
    """

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)

    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Consecutive failed logins for one (account, address) pair, and when the next try is allowed.

    Keyed by both so that an attacker hammering an account from one address slows only themselves: the
    real user, from their own address, is never locked out.
    """

    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("username", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime]
    next_allowed_at: Mapped[dt.datetime]


class CriticalEntity(Base):
    """An asset or identity and how critical it is; business-critical ones route incidents to tier 2."""

    __tablename__ = "critical_entities"
    __table_args__ = (UniqueConstraint("entity_type", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(512))
    criticality: Mapped[str] = mapped_column(String(32))
    business_service: Mapped[str] = mapped_column(String(256), default="")


class ContextAsset(Base):
    """A host of the business context (`watchfloor.context.Asset`); revision 0006."""

    __tablename__ = "context_assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    hostname: Mapped[str] = mapped_column(String(512), unique=True)
    addresses: Mapped[list[str]] = mapped_column(default=list)
    criticality: Mapped[int] = mapped_column(Integer)
    sensitivity: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(256), default="")
    business_service: Mapped[str] = mapped_column(String(256), default="")
    crown_jewel: Mapped[bool] = mapped_column(Boolean, default=False)
    exposure: Mapped[str] = mapped_column(String(16), default="internal")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ContextIdentity(Base):
    """An identity of the business context (`watchfloor.context.Identity`); revision 0006."""

    __tablename__ = "context_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(256), unique=True)
    aliases: Mapped[list[str]] = mapped_column(default=list)
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    criticality: Mapped[int] = mapped_column(Integer)
    sensitivity: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(256), default="")
    business_service: Mapped[str] = mapped_column(String(256), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BusinessServiceRow(Base):
    """A business service (`watchfloor.context.BusinessService`); revision 0006."""

    __tablename__ = "business_services"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    criticality: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(256), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Incident(Base):
    """A group of related alerts worked as one case.

    `version` is the optimistic-concurrency token: every update names the version it read and the row
    is only written if it still holds (SQLAlchemy adds `WHERE version = :read` to each UPDATE).
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_queue_list", "state", "tier", "severity_rank", "id"),
        Index("ix_incidents_queue_name", "queue", "state", "id"),
        Index("ix_incidents_correlation_key", "correlation_key", "state"),
        # Revision 0003: the other filters and sorts of the queue list (bench/incidents_queue.py).
        Index("ix_incidents_state_severity", "state", "severity_rank", "id"),
        Index("ix_incidents_queue_severity", "queue", "state", "severity_rank", "id"),
        Index("ix_incidents_state_id", "state", "id"),
        Index("ix_incidents_state_last_alert", "state", "last_alert_at", "id"),
        Index("ix_incidents_assignee_queue", "assignee", "state", "severity_rank", "id"),
        Index("ix_incidents_exercise_queue", "is_exercise", "state", "severity_rank", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(512))
    state: Mapped[str] = mapped_column(String(32))
    tier: Mapped[int] = mapped_column(Integer)
    queue: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(32))
    severity_rank: Mapped[int] = mapped_column(Integer)
    assignee: Mapped[str | None] = mapped_column(String(128), default=None)
    correlation_key: Mapped[str | None] = mapped_column(String(512), default=None)
    is_exercise: Mapped[bool] = mapped_column(Boolean, default=False)
    # Revision 0006: the business-context priority (P1..P4) and its 0..100 score (context/priority.py).
    priority: Mapped[str | None] = mapped_column(String(2), default=None)
    priority_score: Mapped[int | None] = mapped_column(Integer, default=None)
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    first_alert_at: Mapped[dt.datetime]
    last_alert_at: Mapped[dt.datetime] = mapped_column(index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), default=None)
    remediated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    verdict: Mapped[str | None] = mapped_column(String(32), default=None)
    remediation_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    remediation_actions: Mapped[list[str]] = mapped_column(default=list)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), default=None)
    version: Mapped[int] = mapped_column(Integer)

    alerts: Mapped[list[Alert]] = relationship(back_populates="incident", order_by="Alert.event_time")

    __mapper_args__ = {"version_id_col": version}


class Alert(Base):
    """One alert as received from detection, kept whole so incidents can be regrouped later."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(256), unique=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(256), index=True)
    rule_title: Mapped[str] = mapped_column(String(512))
    severity: Mapped[str] = mapped_column(String(32))
    event_time: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(128), default="")
    correlation_key: Mapped[str | None] = mapped_column(String(512), default=None)
    is_exercise: Mapped[bool] = mapped_column(Boolean, default=False)
    techniques: Mapped[list[str]] = mapped_column(default=list)
    tactics: Mapped[list[str]] = mapped_column(default=list)
    evidence_event_ids: Mapped[list[str]] = mapped_column(default=list)

    incident: Mapped[Incident] = relationship(back_populates="alerts")
    entities: Mapped[list[AlertEntity]] = relationship(back_populates="alert", cascade="all, delete-orphan")


class AlertEntity(Base):
    """An entity an alert touches; the grouping index (entity → recent open incidents) reads this table."""

    __tablename__ = "alert_entities"
    __table_args__ = (Index("ix_alert_entities_lookup", "kind", "value", "event_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(512))
    event_time: Mapped[dt.datetime]

    alert: Mapped[Alert] = relationship(back_populates="entities")


class Escalation(Base):
    """A move between tiers, up or down, with who, why, the handoff note and the evidence at that moment."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    from_tier: Mapped[int] = mapped_column(Integer)
    to_tier: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    handoff_note: Mapped[str] = mapped_column(Text, default="")
    evidence_snapshot: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Comment(Base):
    """A note on an incident."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    author: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TaskTemplate(Base):
    """A runbook step added to incidents whose alerts match a rule id or an ATT&CK technique (or any)."""

    __tablename__ = "task_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    match_kind: Mapped[str] = mapped_column(String(16))
    match_value: Mapped[str] = mapped_column(String(256), default="")
    title: Mapped[str] = mapped_column(String(512))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Task(Base):
    """A step of work on an incident, from a template or added by hand."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("task_templates.id"), default=None)
    title: Mapped[str] = mapped_column(String(512))
    description: Mapped[str] = mapped_column(Text, default="")
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    done_by: Mapped[str | None] = mapped_column(String(128), default=None)
    done_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class EvidenceFile(Base):
    """A file attached to an incident, stored once under `evidence/<sha256>`."""

    __tablename__ = "evidence_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(512))
    size: Mapped[int] = mapped_column(Integer)
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Observable(Base):
    """An indicator seen in the incident (address, domain, hash, user, host, url, email)."""

    __tablename__ = "observables"
    __table_args__ = (UniqueConstraint("incident_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(1024))
    note: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TimelineEntry(Base):
    """An event from the store pinned to the incident's timeline by its uid."""

    __tablename__ = "timeline_entries"
    __table_args__ = (UniqueConstraint("incident_id", "event_uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    event_uid: Mapped[str] = mapped_column(String(256))
    event_time: Mapped[dt.datetime | None] = mapped_column(default=None)
    summary: Mapped[str] = mapped_column(Text, default="")
    pinned_by: Mapped[str] = mapped_column(String(128))
    pinned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IncidentLink(Base):
    """Two incidents an analyst (or a merge) declared related."""

    __tablename__ = "incident_links"
    __table_args__ = (UniqueConstraint("incident_id", "related_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    related_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One entry of the append-only, hash-chained audit log (see `watchfloor.cases.audit`).

    Before and after are stored as the canonical JSON text that was hashed, so verification recomputes
    exactly what was written. Database triggers refuse UPDATE and DELETE on this table.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(512))
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)


class AuditHead(Base):
    """The single row naming the chain's last entry; writers lock it so the chain never forks."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class MajorIncident(Base):
    """A major incident declared by a tier 3 lead over one or more incidents; revision 0007.

    `audiences` names the stakeholder groups updates go to (configured in `[major.audiences.NAME]`),
    `next_update_due_at` drives the cadence reminder, and the review (Markdown) is kept once written.
    """

    __tablename__ = "major_incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(512))
    state: Mapped[str] = mapped_column(String(16), index=True)
    services: Mapped[list[str]] = mapped_column(default=list)
    audiences: Mapped[list[str]] = mapped_column(default=list)
    cadence_minutes: Mapped[int] = mapped_column(Integer)
    declared_by: Mapped[str] = mapped_column(String(128))
    declared_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    next_update_due_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    closed_by: Mapped[str | None] = mapped_column(String(128), default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    is_exercise: Mapped[bool] = mapped_column(Boolean, default=False)
    lessons: Mapped[str] = mapped_column(Text, default="")
    review: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[str | None] = mapped_column(String(128), default=None)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class MajorMember(Base):
    """An incident that is part of a major incident."""

    __tablename__ = "major_members"
    __table_args__ = (UniqueConstraint("major_id", "incident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    major_id: Mapped[int] = mapped_column(ForeignKey("major_incidents.id"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)


class MajorUpdate(Base):
    """One stakeholder update: the four plain-language answers and when the next one is due."""

    __tablename__ = "major_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    major_id: Mapped[int] = mapped_column(ForeignKey("major_incidents.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    what_happened: Mapped[str] = mapped_column(Text)
    impact: Mapped[str] = mapped_column(Text)
    doing: Mapped[str] = mapped_column(Text)
    need: Mapped[str] = mapped_column(Text, default="")
    next_update_at: Mapped[dt.datetime]
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MajorDelivery(Base):
    """An update as rendered for one audience, whether its channel took it, and who acknowledged it."""

    __tablename__ = "major_deliveries"
    __table_args__ = (UniqueConstraint("update_id", "audience"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(ForeignKey("major_updates.id"), index=True)
    audience: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), default=None)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class MajorAction(Base):
    """An action item of a post-incident review, with its owner and due date."""

    __tablename__ = "major_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    major_id: Mapped[int] = mapped_column(ForeignKey("major_incidents.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(128))
    due: Mapped[dt.date] = mapped_column(Date)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    done_by: Mapped[str | None] = mapped_column(String(128), default=None)
    done_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TabletopRun(Base):
    """A tabletop exercise as run: the scenario as it was read (injects, expected decisions); rev. 0007."""

    __tablename__ = "tabletop_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(1024), default="")
    scenario: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_by: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TabletopResponse(Base):
    """A participant's decision in answer to one inject of a tabletop run."""

    __tablename__ = "tabletop_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("tabletop_runs.id"), index=True)
    inject: Mapped[int] = mapped_column(Integer)
    participant: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(Text)
    responded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
