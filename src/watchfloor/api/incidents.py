"""`/api/v1/incidents`, `/api/v1/alerts`, `/api/v1/audit`: incident management over HTTP.

Thin: every route validates its input, opens the request's one database session, identifies the caller
by token (`identity.caller`), calls the same cases service the CLI calls, and shapes the answer. The
service decides and records; nothing here changes data itself.

Optimistic concurrency: `GET /incidents/{id}` answers with `ETag: "<id>-<version>"`. Every route that
changes an incident's fields (acknowledge, workflow steps, assign, tier changes, close, reopen) requires
that value in `If-Match`: without it 428, and 412 with the current version when the incident changed
since it was read, in which case nothing was written. Responses carry the new ETag. Case work that adds
records beside the incident (comments, tasks, observables, timeline pins) does not change its version;
for those `If-Match` is optional and checked when given.

Service errors become statuses in one place (`case_error_response`): invalid input 422, unknown
incident 404, forbidden 403, a refused transition 409, a stale version 412, a bad token 401.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from watchfloor.api.identity import Credential, caller, needs
from watchfloor.api.schemas import (
    AlertOut,
    AlertPage,
    AssignIn,
    AuditVerifyOut,
    CloseIn,
    CommentIn,
    CommentOut,
    IncidentDetailOut,
    IncidentOut,
    IncidentPage,
    IncidentSort,
    ObservableIn,
    ObservableOut,
    PinIn,
    Problem,
    RemediateIn,
    ReopenIn,
    TaskIn,
    TaskOut,
    TierChangeIn,
    TierChangeOut,
    TimelineOut,
)
from watchfloor.cases import (
    Actor,
    CaseError,
    Conflict,
    Database,
    IncidentFilter,
    IncidentSummary,
    Severity,
    State,
    acknowledge,
    add_comment,
    add_observable,
    add_task,
    assign,
    close,
    complete_task,
    contain,
    count_incidents,
    deescalate,
    escalate,
    investigate,
    list_incidents,
    pin_event,
    remediate,
    reopen,
    show_incident,
    verify,
)
from watchfloor.cases.incidents import load_incident
from watchfloor.cases.tokens import InvalidToken
from watchfloor.errors import Location

__all__ = ["PreconditionRequired", "case_error_response", "etag", "incidents_router"]

MAX_PAGE = 1000
_ETAG = re.compile(r'^(?:W/)?"?(\d+)-(\d+)"?$')

Read = Annotated[Credential, Depends(needs("read"))]
Write = Annotated[Credential, Depends(needs("write"))]
Admin = Annotated[Credential, Depends(needs("admin"))]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The incident\'s ETag as last read, e.g. `"42-3"`; required (428 without).',
    ),
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (401, 403, 404, 409, 412, 428)
}


class PreconditionRequired(CaseError):
    """An update came without a usable `If-Match`: the API refuses to change an incident blindly."""

    http_status = 428


def etag(incident_id: int, version: int) -> str:
    """The strong entity tag of an incident at a version: what `If-Match` must echo."""
    return f'"{incident_id}-{version}"'


def _code(exc: Exception) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def case_error_response(_request: Request, exc: Exception) -> JSONResponse:
    """A `CaseError` as its HTTP status and a `Problem` body (installed on the app by `create_app`)."""
    assert isinstance(exc, CaseError)
    problem = Problem(detail=exc.message, code=_code(exc), field=exc.location.field if exc.location else None)
    headers: dict[str, str] = {}
    code = exc.http_status
    if isinstance(exc, InvalidToken):
        headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, Conflict) and exc.current_version is not None:
        code, problem.code, problem.current_version = 412, "precondition_failed", exc.current_version
    return JSONResponse(problem.model_dump(), status_code=code, headers=headers)


def _expected(if_match: str | None, incident_id: int, *, required: bool = True) -> int | None:
    """The version `If-Match` names for this incident; a tag of another incident never matches (-1)."""
    if not if_match:
        if not required:
            return None
        raise PreconditionRequired(
            "send If-Match with the incident's ETag (GET /api/v1/incidents/{id}) so no change is lost",
            Location(field="If-Match"),
        )
    if if_match.strip() == "*":
        raise PreconditionRequired(
            "If-Match: * is not accepted: send the incident's ETag", Location(field="If-Match")
        )
    for candidate in if_match.split(","):
        match = _ETAG.match(candidate.strip())
        if match and int(match.group(1)) == incident_id:
            return int(match.group(2))
    return -1


def _page_link(request: Request, offset: int, limit: int, total: int) -> str | None:
    if offset + limit >= total:
        return None
    return str(request.url.include_query_params(offset=offset + limit, limit=limit))


def _link_header(response: Response, next_url: str | None) -> None:
    if next_url is not None:
        response.headers["Link"] = f'<{next_url}>; rel="next"'


def incidents_router(database: Database) -> APIRouter:
    """The incident routes over one opened database; every route needs a token with its scope."""
    router = APIRouter(prefix="/api/v1", responses=_ERRORS)

    @contextmanager
    def work(credential: Credential) -> Iterator[tuple[Session, Actor]]:
        """The request's one session (committed on success) and its authenticated actor."""
        with database.session() as session:
            yield session, caller(session, credential)

    def changed(response: Response, item: IncidentSummary) -> IncidentOut:
        response.headers["ETag"] = etag(item.id, item.version)
        return IncidentOut.model_validate(item)

    @router.get("/incidents", response_model=IncidentPage, tags=["incidents"])
    def list_route(
        request: Request,
        response: Response,
        credential: Read,
        state: Annotated[list[State] | None, Query(description="Repeatable; default: open ones.")] = None,
        tier: Annotated[int | None, Query(ge=1, le=3)] = None,
        queue: str | None = None,
        severity: Annotated[Severity | None, Query(description="Minimum severity.")] = None,
        assignee: str | None = None,
        exercise: Annotated[bool, Query(description="Exercise incidents instead of real ones.")] = False,
        sort: IncidentSort = IncidentSort.SEVERITY,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> IncidentPage:
        """A queue, filtered, sorted and paginated; `next` (and the `Link` header) give the next page."""
        wanted = IncidentFilter(
            states=tuple(s.value for s in state or ()),
            tier=tier,
            queue=queue,
            severity=severity.value if severity else None,
            assignee=assignee,
            is_exercise=exercise,
            sort=sort.value,
            limit=limit,
            offset=offset,
        )
        with work(credential) as (session, _actor):
            rows = list_incidents(session, wanted)
            total = count_incidents(session, wanted)
        next_url = _page_link(request, offset, limit, total)
        _link_header(response, next_url)
        items = [IncidentOut.model_validate(row) for row in rows]
        return IncidentPage(items=items, total=total, limit=limit, offset=offset, next=next_url)

    @router.get("/incidents/{incident_id}", response_model=IncidentDetailOut, tags=["incidents"])
    def show_route(incident_id: int, response: Response, credential: Read) -> IncidentDetailOut:
        """Everything about one incident; the `ETag` header is what updates send in `If-Match`."""
        with work(credential) as (session, _actor):
            detail = show_incident(session, incident_id)
        response.headers["ETag"] = etag(incident_id, detail.incident.version)
        return IncidentDetailOut.model_validate(detail)

    Step = Callable[[Session, Actor, int, int | None], Any]

    def step_route(path: str, step: Step, summary: str) -> None:
        name = path.rsplit("/", 1)[-1]

        @router.post(path, response_model=IncidentOut, tags=["workflow"], summary=summary, name=name)
        def route(
            incident_id: int, response: Response, credential: Write, if_match: IfMatch = None
        ) -> IncidentOut:
            version = _expected(if_match, incident_id)
            with work(credential) as (session, actor):
                item = IncidentSummary.of(step(session, actor, incident_id, version))
            return changed(response, item)

    step_route("/incidents/{incident_id}/ack", acknowledge, "Acknowledge a new incident")
    step_route("/incidents/{incident_id}/investigate", investigate, "Start investigating")
    step_route("/incidents/{incident_id}/contain", contain, "Record containment")

    @router.post("/incidents/{incident_id}/remediate", response_model=IncidentOut, tags=["workflow"])
    def remediate_route(
        incident_id: int, body: RemediateIn, response: Response, credential: Write, if_match: IfMatch = None
    ) -> IncidentOut:
        """Record that the threat was removed, manually or by automation, and with which actions."""
        version = _expected(if_match, incident_id)
        with work(credential) as (session, actor):
            row = remediate(session, actor, incident_id, version, body.remediation.value, tuple(body.actions))
            item = IncidentSummary.of(row)
        return changed(response, item)

    @router.post("/incidents/{incident_id}/close", response_model=IncidentOut, tags=["workflow"])
    def close_route(
        incident_id: int,
        body: CloseIn,
        request: Request,
        response: Response,
        credential: Write,
        if_match: IfMatch = None,
    ) -> IncidentOut:
        """Close with a verdict and how it was remediated (required unless already recorded)."""
        version = _expected(if_match, incident_id)
        remediation = body.remediation.value if body.remediation else None
        with work(credential) as (session, actor):
            row = close(
                session,
                actor,
                incident_id,
                version,
                body.verdict.value,
                remediation,
                tuple(body.actions),
                body.note,
                fidelity=getattr(request.app.state, "fidelity", None),  # `[fidelity]`, set by create_app
            )
            item = IncidentSummary.of(row)
        return changed(response, item)

    @router.post("/incidents/{incident_id}/reopen", response_model=IncidentOut, tags=["workflow"])
    def reopen_route(
        incident_id: int, body: ReopenIn, response: Response, credential: Write, if_match: IfMatch = None
    ) -> IncidentOut:
        """Reopen a closed incident for more investigation (the verdict is cleared)."""
        version = _expected(if_match, incident_id)
        with work(credential) as (session, actor):
            item = IncidentSummary.of(reopen(session, actor, incident_id, version, body.reason))
        return changed(response, item)

    @router.post("/incidents/{incident_id}/assign", response_model=IncidentOut, tags=["workflow"])
    def assign_route(
        incident_id: int, body: AssignIn, response: Response, credential: Write, if_match: IfMatch = None
    ) -> IncidentOut:
        """Assign to a person who may work the incident's tier, or put it back in its tier's queue."""
        version = _expected(if_match, incident_id)
        with work(credential) as (session, actor):
            row = assign(session, actor, incident_id, version, body.to, body.queue)
            item = IncidentSummary.of(row)
        return changed(response, item)

    def tier_route(path: str, move: Callable[..., Any], summary: str) -> None:
        name = path.rsplit("/", 1)[-1]

        @router.post(path, response_model=TierChangeOut, tags=["workflow"], summary=summary, name=name)
        def route(
            incident_id: int,
            body: TierChangeIn,
            response: Response,
            credential: Write,
            if_match: IfMatch = None,
        ) -> TierChangeOut:
            version = _expected(if_match, incident_id)
            with work(credential) as (session, actor):
                record = move(session, actor, incident_id, version, body.to_tier, body.note, body.reason)
                detail = show_incident(session, incident_id)
            escalation = next(e for e in detail.escalations if e.id == record.id)
            response.headers["ETag"] = etag(incident_id, detail.incident.version)
            return TierChangeOut.model_validate(
                {"incident": detail.incident, "escalation": escalation}, from_attributes=True
            )

    tier_route("/incidents/{incident_id}/escalate", escalate, "Escalate to a higher tier with a note")
    tier_route("/incidents/{incident_id}/deescalate", deescalate, "De-escalate to a lower tier with a note")

    def check_version(session: Session, incident_id: int, if_match: str | None) -> None:
        """Optional `If-Match` on case work: refuse (412) if the incident moved on since it was read."""
        version = _expected(if_match, incident_id, required=False)
        if version is not None:
            load_incident(session, incident_id, version)  # `Conflict` naming the current version

    @router.post(
        "/incidents/{incident_id}/comments",
        response_model=CommentOut,
        status_code=status.HTTP_201_CREATED,
        tags=["case work"],
    )
    def comment_route(
        incident_id: int, body: CommentIn, credential: Write, if_match: IfMatch = None
    ) -> CommentOut:
        """Add a comment (allowed on closed incidents too; stakeholders only read)."""
        with work(credential) as (session, actor):
            check_version(session, incident_id, if_match)
            view = add_comment(session, actor, incident_id, body.body)
        return CommentOut.model_validate(view)

    @router.post(
        "/incidents/{incident_id}/tasks",
        response_model=TaskOut,
        status_code=status.HTTP_201_CREATED,
        tags=["case work"],
    )
    def task_route(incident_id: int, body: TaskIn, credential: Write, if_match: IfMatch = None) -> TaskOut:
        """Add a task by hand (tasks from runbook templates are added when alerts arrive)."""
        with work(credential) as (session, actor):
            check_version(session, incident_id, if_match)
            view = add_task(session, actor, incident_id, body.title, body.description)
        return TaskOut.model_validate(view)

    @router.post("/tasks/{task_id}/complete", response_model=TaskOut, tags=["case work"])
    def complete_route(task_id: int, credential: Write) -> TaskOut:
        """Mark a task done (409 if it already is)."""
        with work(credential) as (session, actor):
            view = complete_task(session, actor, task_id)
        return TaskOut.model_validate(view)

    @router.post(
        "/incidents/{incident_id}/observables",
        response_model=ObservableOut,
        status_code=status.HTTP_201_CREATED,
        tags=["case work"],
    )
    def observable_route(
        incident_id: int, body: ObservableIn, credential: Write, if_match: IfMatch = None
    ) -> ObservableOut:
        """Add an observable (409 if the incident already has it)."""
        with work(credential) as (session, actor):
            check_version(session, incident_id, if_match)
            view = add_observable(session, actor, incident_id, body.kind, body.value, body.note)
        return ObservableOut.model_validate(view)

    @router.post(
        "/incidents/{incident_id}/timeline",
        response_model=TimelineOut,
        status_code=status.HTTP_201_CREATED,
        tags=["case work"],
    )
    def pin_route(incident_id: int, body: PinIn, credential: Write, if_match: IfMatch = None) -> TimelineOut:
        """Pin a store event (by uid) to the incident's timeline."""
        with work(credential) as (session, actor):
            check_version(session, incident_id, if_match)
            view = pin_event(session, actor, incident_id, body.event_uid, body.event_time, body.summary)
        return TimelineOut.model_validate(view)

    @router.get("/alerts", response_model=AlertPage, tags=["alerts"])
    def alerts_route(
        request: Request,
        response: Response,
        credential: Read,
        incident: Annotated[int, Query(description="The incident whose alerts to list.")],
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> AlertPage:
        """An incident's alerts, oldest event first, paginated like the incident list."""
        with work(credential) as (session, _actor):
            alerts = show_incident(session, incident).alerts
        next_url = _page_link(request, offset, limit, len(alerts))
        _link_header(response, next_url)
        items = [AlertOut.model_validate(a) for a in alerts[offset : offset + limit]]
        return AlertPage(items=items, total=len(alerts), limit=limit, offset=offset, next=next_url)

    @router.get("/audit/verify", response_model=AuditVerifyOut, tags=["audit"])
    def audit_route(credential: Admin) -> AuditVerifyOut:
        """Recompute the audit log's hash chain (admin scope: it reads the whole log)."""
        with work(credential) as (session, _actor):
            result = verify(session)
        return AuditVerifyOut.model_validate(result.as_dict())

    return router
