"""The tier queues (tier 1, 2, 3 and tuning): severity, state, owner and age against the SLA.

The page renders the first view on the server; `/console/api/queue` answers the same rows as JSON for
the page's periodic refresh. Age is measured from when the incident was opened, against the
acknowledgement target while it waits for someone and against the remediation target after that (the
SLA targets of the metrics configuration).
"""

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from watchfloor.cases import TUNING_QUEUE, IncidentFilter, IncidentSummary, Severity, list_incidents
from watchfloor.metrics import MetricsConfig, format_duration
from watchfloor.web.auth import STAFF, Guard, Viewer
from watchfloor.web.render import render

__all__ = ["TABS", "QueueRow", "queue_routes", "queue_rows"]

TABS: dict[str, str] = {"tier1": "Tier 1", "tier2": "Tier 2", "tier3": "Tier 3", TUNING_QUEUE: "Tuning"}
PAGE = 200


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One incident as a queue shows it."""

    id: int
    title: str
    severity: str
    priority: str
    state: str
    tier: int
    assignee: str
    alerts: int
    age_s: float
    sla: str
    sla_target_s: float
    breached: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON for the refresh endpoint."""
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "priority": self.priority,
            "state": self.state,
            "tier": self.tier,
            "assignee": self.assignee,
            "alerts": self.alerts,
            "age": format_duration(self.age_s),
            "sla": self.sla,
            "target": format_duration(self.sla_target_s),
            "breached": self.breached,
        }


def _row(item: IncidentSummary, config: MetricsConfig, now: dt.datetime) -> QueueRow:
    try:
        target = config.sla[Severity(item.severity)]
    except (KeyError, ValueError):
        target = config.sla[Severity.MEDIUM]
    waiting = item.acknowledged_at is None
    clock, limit = ("ack", target.ack) if waiting else ("remediate", target.remediate)
    age = (now - item.created_at).total_seconds()
    return QueueRow(
        item.id,
        item.title,
        item.severity,
        item.priority or "-",
        item.state,
        item.tier,
        item.assignee or "",
        item.alert_count,
        age,
        clock,
        limit.total_seconds(),
        age > limit.total_seconds(),
    )


def queue_rows(guard: Guard, tab: str) -> list[QueueRow]:
    """The open incidents of one tab, most severe first."""
    if tab == TUNING_QUEUE:
        wanted = IncidentFilter(queue=TUNING_QUEUE, limit=PAGE)
    else:
        wanted = IncidentFilter(tier=int(tab.removeprefix("tier")), limit=PAGE)
    with guard.database.session() as session:
        items = list_incidents(session, wanted)
    now = guard.config.now()
    return [_row(item, guard.config.metrics, now) for item in items]


def queue_routes(guard: Guard) -> APIRouter:
    """`/queues` and its JSON twin `/console/api/queue`."""
    router = APIRouter(include_in_schema=False)
    Staff = Annotated[Viewer, Depends(guard.page(*STAFF))]
    StaffData = Annotated[Viewer, Depends(guard.data(*STAFF))]
    Tab = Annotated[str, Query(pattern=f"^({'|'.join(TABS)})$")]

    @router.get("/queues")
    def queues(request: Request, viewer: Staff, tab: Tab = "tier1") -> Response:
        """The queue page, one tab at a time."""
        rows = queue_rows(guard, tab)
        return render(request, "queues.html", viewer, tab=tab, tabs=TABS, rows=rows)

    @router.get("/console/api/queue")
    def queue_data(viewer: StaffData, tab: Tab = "tier1") -> dict[str, Any]:
        """The rows of one tab, for the page's refresh every few seconds."""
        return {"tab": tab, "rows": [row.as_dict() for row in queue_rows(guard, tab)]}

    return router
