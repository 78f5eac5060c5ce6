"""The metrics over the API: the same report as `watchfloor metrics`, as JSON or as the CSV export.

Everything is computed from the audit log by `watchfloor.metrics`; this module only reads the query
parameters, checks the caller (any authenticated role may read metrics: stakeholders see them too)
and shapes the answer. Times in `from` and `to` are ISO 8601 and must carry a timezone.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from watchfloor.api.identity import Credential, caller, needs
from watchfloor.cases import Database, FidelityPolicy, InvalidInput
from watchfloor.config import Settings
from watchfloor.metrics import MetricsConfig, MetricsQuery, compute_metrics, fidelity_report, write_csv

__all__ = ["metrics_router"]

Read = Annotated[Credential, Depends(needs("read"))]


def _time(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} is not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{name} needs a timezone (for example {value}Z)")
    return parsed


def metrics_router(database: Database, settings: Settings) -> APIRouter:
    """`GET /api/v1/metrics` (JSON or `format=csv`) and `GET /api/v1/metrics/fidelity`."""
    router = APIRouter(prefix="/api/v1", tags=["metrics"])
    config = MetricsConfig.from_config(settings.extra.get("metrics"))
    policy = FidelityPolicy.from_config(settings.extra.get("fidelity"))

    @router.get("/metrics", response_model=None)
    def metrics_route(
        credential: Read,
        start: Annotated[str | None, Query(alias="from", description="ISO 8601 with timezone")] = None,
        end: Annotated[str | None, Query(alias="to", description="ISO 8601 with timezone")] = None,
        exercises: Annotated[bool, Query(description="the drills' metrics instead of real ones")] = False,
        business_hours: Annotated[bool | None, Query(description="count business hours only")] = None,
        output: Annotated[str, Query(alias="format", pattern="^(json|csv)$")] = "json",
    ) -> dict[str, Any] | Response:
        """MTTA, MTTR, tiers, escalations, automation share and SLA breaches over a time range."""
        query = MetricsQuery(
            start=_time(start, "from"),
            end=_time(end, "to"),
            exercises=exercises,
            business_hours=business_hours,
            config=config,
        )
        with database.session() as session:
            caller(session, credential)
            report = compute_metrics(session, query)
        if output == "csv":
            out = io.StringIO()
            write_csv(report, out)
            return Response(
                out.getvalue(),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="watchfloor-metrics.csv"'},
            )
        return report.as_dict()

    @router.get("/metrics/fidelity")
    def fidelity_route(credential: Read) -> dict[str, Any]:
        """The 90% rule: each rule's and source's true-positive record and whether it is in tuning."""
        with database.session() as session:
            caller(session, credential)
            return fidelity_report(session, policy).as_dict()

    return router
