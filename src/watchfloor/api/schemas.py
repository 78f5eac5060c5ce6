"""The request and response bodies of the incident API, as pydantic models (and so the OpenAPI schemas).

Responses are built from the frozen views the cases layer returns (`IncidentSummary`, `IncidentDetail`,
...) with `from_attributes`, so the API never serialises ORM rows. Requests use the cases vocabularies
(`Verdict`, `RemediationKind`) as enums: a close without a verdict, or with an unknown one, is a 422
naming the field before any service code runs.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from watchfloor.cases import RemediationKind, Verdict

__all__ = [
    "AlertOut",
    "AlertPage",
    "AssignIn",
    "AuditVerifyOut",
    "CloseIn",
    "CommentIn",
    "CommentOut",
    "EscalationOut",
    "EvidenceOut",
    "IncidentDetailOut",
    "IncidentOut",
    "IncidentPage",
    "IncidentSort",
    "ObservableIn",
    "ObservableOut",
    "PinIn",
    "Problem",
    "RemediateIn",
    "ReopenIn",
    "TaskIn",
    "TaskOut",
    "TierChangeIn",
    "TierChangeOut",
    "TimelineOut",
]


class _View(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IncidentSort(StrEnum):
    """Orders of the queue list (the same names as `watchfloor incidents list --sort`)."""

    SEVERITY = "severity"
    NEWEST = "newest"
    OLDEST = "oldest"
    LAST_ALERT = "last_alert"


class IncidentOut(_View):
    """One incident as a queue row; `version` is what `If-Match` names (see the `ETag` header)."""

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
    remediation_actions: list[str]
    correlation_key: str | None
    is_exercise: bool
    merged_into_id: int | None
    version: int
    priority: str | None = None  # P1..P4 from business context


class IncidentPage(BaseModel):
    """One page of a queue: `next` is the URL of the following page, null on the last."""

    items: list[IncidentOut]
    total: int
    limit: int
    offset: int
    next: str | None


class AlertOut(_View):
    """An alert inside an incident."""

    uid: str
    rule_id: str
    rule_title: str
    severity: str
    event_time: dt.datetime
    source: str
    techniques: list[str]
    tactics: list[str]
    entities: list[str]
    evidence_event_ids: list[str]


class AlertPage(BaseModel):
    """One page of an incident's alerts, oldest event first."""

    items: list[AlertOut]
    total: int
    limit: int
    offset: int
    next: str | None


class EscalationOut(_View):
    """A tier change as recorded: who, from and to, why, the note, the evidence at that moment."""

    id: int
    direction: str
    from_tier: int
    to_tier: int
    actor: str
    reason: str
    handoff_note: str
    evidence_snapshot: list[str]
    created_at: dt.datetime


class CommentOut(_View):
    """A comment."""

    id: int
    author: str
    body: str
    created_at: dt.datetime


class TaskOut(_View):
    """A task and whether it is done."""

    id: int
    title: str
    description: str
    done: bool
    done_by: str | None
    template_id: int | None


class EvidenceOut(_View):
    """An evidence file, by its SHA-256."""

    id: int
    sha256: str
    filename: str
    size: int
    added_by: str
    added_at: dt.datetime


class ObservableOut(_View):
    """An observable."""

    id: int
    kind: str
    value: str
    note: str


class TimelineOut(_View):
    """An event from the store pinned to the timeline."""

    id: int
    event_uid: str
    event_time: dt.datetime | None
    summary: str
    pinned_by: str


class IncidentDetailOut(_View):
    """Everything about one incident, as `watchfloor incidents show --json` prints it."""

    incident: IncidentOut
    alerts: list[AlertOut]
    escalations: list[EscalationOut]
    comments: list[CommentOut]
    tasks: list[TaskOut]
    evidence: list[EvidenceOut]
    observables: list[ObservableOut]
    timeline: list[TimelineOut]
    related: list[int]


class TierChangeOut(BaseModel):
    """The incident after an escalation or de-escalation, and the record of the move."""

    incident: IncidentOut
    escalation: EscalationOut


class AuditVerifyOut(BaseModel):
    """The outcome of recomputing the audit hash chain."""

    ok: bool
    entries: int
    last_hash: str
    broken_seq: int | None
    reason: str


class Problem(BaseModel):
    """Every refusal: a one-line reason, a stable code, and where it applies the field or the version.

    `current_version` comes with 412 (the incident changed since the caller read it): re-read, decide
    again, and send the new `ETag` in `If-Match`.
    """

    detail: str
    code: str
    field: str | None = None
    current_version: int | None = None


class AssignIn(BaseModel):
    """Assign to a person (`to`) or put back in a queue of the incident's tier (`queue`): exactly one."""

    to: str | None = Field(default=None, examples=["ann"])
    queue: str | None = Field(default=None, examples=["tier1"])


class TierChangeIn(BaseModel):
    """Move to another tier with a handoff note for whoever picks it up."""

    to_tier: int = Field(ge=1, le=3)
    note: str = Field(min_length=1, examples=["needs the AD logs; host isolated"])
    reason: str = Field(default="", description="Why (defaults to the note).")


class RemediateIn(BaseModel):
    """How the threat was removed."""

    remediation: RemediationKind
    actions: list[str] = Field(default_factory=list)


class CloseIn(BaseModel):
    """Close with a verdict; `remediation` is required unless the incident was already remediated."""

    verdict: Verdict
    remediation: RemediationKind | None = None
    actions: list[str] = Field(default_factory=list)
    note: str = ""


class ReopenIn(BaseModel):
    """Why a closed incident needs more work."""

    reason: str = Field(min_length=1)


class CommentIn(BaseModel):
    """A comment's text."""

    body: str = Field(min_length=1)


class TaskIn(BaseModel):
    """A task added by hand."""

    title: str = Field(min_length=1)
    description: str = ""


class ObservableIn(BaseModel):
    """An indicator seen in the incident (ip, domain, url, hash, user, host, email, file, process)."""

    kind: str
    value: str = Field(min_length=1)
    note: str = ""


class PinIn(BaseModel):
    """An event from the store, by uid, pinned to the incident's timeline."""

    event_uid: str = Field(min_length=1)
    event_time: AwareDatetime | None = None
    summary: str = ""
