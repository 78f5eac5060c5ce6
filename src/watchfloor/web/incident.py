"""One incident: alerts and their evidence events, entities, timeline, tasks, comments, and the actions.

Each action is a plain form POST carrying the session's CSRF token and the version of the incident the
analyst was looking at, so a change made meanwhile by someone else is refused (409) instead of being
overwritten. The cases service decides what the analyst's role allows on this incident (a tier 1
analyst cannot act on a tier 3 incident: 403); success redirects back to the page (303).
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from watchfloor.cases import (
    Actor,
    CaseError,
    RemediationKind,
    Verdict,
    acknowledge,
    add_comment,
    assign,
    close,
    deescalate,
    escalate,
    list_users,
    show_incident,
)
from watchfloor.errors import QueryError
from watchfloor.store import EventStore
from watchfloor.web.auth import STAFF, Guard, Viewer
from watchfloor.web.render import render

__all__ = ["incident_routes"]

MAX_EVIDENCE = 50
_EVIDENCE_COLUMNS = (
    "time",
    "metadata_uid",
    "metadata_log_name",
    "class_name",
    "device_hostname",
    "actor_user_name",
)


def _evidence(store: EventStore, uids: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The stored events an incident's alerts point at (columns that exist), or nothing if unreadable."""
    if not uids:
        return [], []
    quoted = ", ".join("'" + uid.replace("'", "''") + "'" for uid in uids[:MAX_EVIDENCE])
    try:
        table = store.query(f"SELECT * FROM events WHERE metadata_uid IN ({quoted})", MAX_EVIDENCE)
    except QueryError:
        return [], []
    columns = [c for c in _EVIDENCE_COLUMNS if c in table.column_names]
    return columns, [{c: row.get(c) for c in columns} for row in table.to_pylist()]


Action = Callable[[Session, Actor, int, int], object]


def incident_routes(guard: Guard, store: EventStore) -> APIRouter:
    """`/incidents/{id}` and its action forms."""
    router = APIRouter(include_in_schema=False)
    Staff = Annotated[Viewer, Depends(guard.page(*STAFF))]
    Csrf = Annotated[str, Form()]
    Version = Annotated[int, Form(ge=1)]

    def page(
        request: Request, viewer: Viewer, incident_id: int, error: str = "", status: int = 200
    ) -> Response:
        with guard.database.session() as session:
            detail = show_incident(session, incident_id)
            users = [u.username for u in list_users(session)]
        uids = list(dict.fromkeys(uid for alert in detail.alerts for uid in alert.evidence_event_ids))
        columns, events = _evidence(store, uids)
        entities = sorted({entity for alert in detail.alerts for entity in alert.entities})
        return render(
            request,
            "incident.html",
            viewer,
            status,
            detail=detail,
            item=detail.incident,
            entities=entities,
            evidence_columns=columns,
            evidence=events,
            evidence_ids=uids,
            users=users,
            verdicts=[v.value for v in Verdict],
            remediations=[r.value for r in RemediationKind],
            error=error,
        )

    def act(
        request: Request, viewer: Viewer, incident_id: int, token: str, action: Action, version: int
    ) -> Response:
        guard.check_csrf(request, viewer, token)
        try:
            with guard.database.session() as session:
                action(session, viewer.actor, incident_id, version)
        except CaseError as exc:
            return page(request, viewer, incident_id, exc.message, exc.http_status)
        return RedirectResponse(f"/incidents/{incident_id}", 303)

    @router.get("/incidents/{incident_id}")
    def incident_page(request: Request, viewer: Staff, incident_id: int) -> Response:
        """Everything about one incident, with the actions the viewer may take."""
        return page(request, viewer, incident_id)

    @router.post("/incidents/{incident_id}/ack")
    def ack(
        request: Request, viewer: Staff, incident_id: int, version: Version, csrf_token: Csrf = ""
    ) -> Response:
        """Acknowledge (take) a new incident."""
        return act(request, viewer, incident_id, csrf_token, acknowledge, version)

    @router.post("/incidents/{incident_id}/assign")
    def assign_to(
        request: Request,
        viewer: Staff,
        incident_id: int,
        version: Version,
        to: Annotated[str, Form(max_length=128)] = "",
        csrf_token: Csrf = "",
    ) -> Response:
        """Assign to a person (the viewer when left empty)."""

        def run(session: Session, actor: Actor, iid: int, ver: int) -> object:
            return assign(session, actor, iid, ver, to or actor.username)

        return act(request, viewer, incident_id, csrf_token, run, version)

    def tier_form(path: str, move: Callable[..., object], what: str) -> None:
        @router.post(path, name=path.rsplit("/", 1)[-1])
        def route(
            request: Request,
            viewer: Staff,
            incident_id: int,
            version: Version,
            tier: Annotated[int, Form(ge=1, le=3)],
            note: Annotated[str, Form(max_length=10_000)] = "",
            csrf_token: Csrf = "",
        ) -> Response:
            def run(session: Session, actor: Actor, iid: int, ver: int) -> object:
                return move(session, actor, iid, ver, tier, note)

            return act(request, viewer, incident_id, csrf_token, run, version)

        route.__doc__ = what

    tier_form("/incidents/{incident_id}/escalate", escalate, "Escalate to a higher tier with a handoff note.")
    tier_form("/incidents/{incident_id}/deescalate", deescalate, "De-escalate to a lower tier with a note.")

    @router.post("/incidents/{incident_id}/close")
    def close_form(
        request: Request,
        viewer: Staff,
        incident_id: int,
        version: Version,
        verdict: Annotated[str, Form(max_length=32)],
        remediation: Annotated[str, Form(max_length=16)] = "",
        note: Annotated[str, Form(max_length=10_000)] = "",
        csrf_token: Csrf = "",
    ) -> Response:
        """Close with a verdict and the remediation kind."""

        def run(session: Session, actor: Actor, iid: int, ver: int) -> object:
            policy = getattr(request.app.state, "fidelity", None)  # `[fidelity]`, set by create_app
            return close(session, actor, iid, ver, verdict, remediation or None, (), note, fidelity=policy)

        return act(request, viewer, incident_id, csrf_token, run, version)

    @router.post("/incidents/{incident_id}/comment")
    def comment(
        request: Request,
        viewer: Staff,
        incident_id: int,
        body: Annotated[str, Form(max_length=20_000)] = "",
        csrf_token: Csrf = "",
    ) -> Response:
        """Add a comment (no version needed: it does not change the incident)."""

        def run(session: Session, actor: Actor, iid: int, _ver: int) -> object:
            return add_comment(session, actor, iid, body)

        return act(request, viewer, incident_id, csrf_token, run, 1)

    return router
