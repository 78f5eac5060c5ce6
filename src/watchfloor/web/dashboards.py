"""The metrics dashboard (every role) and the read-only business overview (stakeholders' landing page).

Both read `compute_metrics` (which reads the audit log only) over the last `days` days; the trend, the
remediation split and each rule's fidelity (the 90% rule's record, `metrics.fidelity_report`) are
server-rendered SVG. Neither page offers any action.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from watchfloor.cases import FidelityPolicy, IncidentFilter, Severity, count_incidents, stakeholder_page
from watchfloor.cases.models import Alert
from watchfloor.metrics import FidelityReport, MetricsQuery, MetricsReport, compute_metrics, fidelity_report
from watchfloor.web.auth import ALL_ROLES, Guard, Viewer
from watchfloor.web.chart import BarChart, Chart, bar_chart, line_chart
from watchfloor.web.render import render

__all__ = ["MAX_FIDELITY_BARS", "dashboard_routes", "fidelity_chart", "remediation_chart", "trend_chart"]

MAX_FIDELITY_BARS = 25


def trend_chart(report: MetricsReport) -> Chart:
    """MTTA and MTTR (mean, minutes) per day."""
    daily = report.daily
    return line_chart(
        [p.period for p in daily],
        [("MTTA", "mtta", [p.mtta.mean for p in daily]), ("MTTR", "mttr", [p.mttr.mean for p in daily])],
    )


def remediation_chart(report: MetricsReport) -> BarChart:
    """Remediations done by people and by playbooks, side by side."""
    manual, automated = report.remediation.manual, report.remediation.automated
    if not manual and not automated:
        return bar_chart([])
    return bar_chart(
        [("manual", manual, str(manual), "manual"), ("automated", automated, str(automated), "automated")]
    )


def fidelity_chart(report: FidelityReport, titles: Mapping[str, str] | None = None) -> BarChart:
    """The true-positive rate of each rule with counted verdicts (lowest first), against the threshold.

    Bars are labelled with the rule's title where `titles` (rule id to title) knows it, else its id.
    """
    titles = titles or {}
    rated = [f for f in report.feeds if f.record.feed.kind == "rule" and f.record.rate is not None]
    rated.sort(key=lambda f: (f.record.rate or 0.0, f.record.feed.name))
    items = [
        (
            titles.get(f.record.feed.name, f.record.feed.name),
            f.record.rate or 0.0,
            f"{(f.record.rate or 0.0) * 100:.0f}% of {f.record.verdicts}",
            "demoted" if f.status.demoted else "rate",
        )
        for f in rated[:MAX_FIDELITY_BARS]
    ]
    threshold = report.policy.threshold
    return bar_chart(items, 1.0, (threshold, f"{threshold * 100:.0f}%"))


def dashboard_routes(guard: Guard, policy: FidelityPolicy | None = None) -> APIRouter:
    """`/metrics` and `/overview`."""
    router = APIRouter(include_in_schema=False)
    Anyone = Annotated[Viewer, Depends(guard.page(*ALL_ROLES))]
    Days = Annotated[int, Query(ge=1, le=366)]

    def report(days: int) -> MetricsReport:
        now = guard.config.now()
        query = MetricsQuery(
            start=now - dt.timedelta(days=days), end=now, config=guard.config.metrics, now=now
        )
        with guard.database.session() as session:
            return compute_metrics(session, query)

    @router.get("/metrics")
    def metrics_page(request: Request, viewer: Anyone, days: Days = 30) -> Response:
        """MTTA and MTTR with their daily trend, remediation by people and automation, escalations."""
        found = report(days)
        with guard.database.session() as session:
            fidelity = fidelity_report(session, policy, guard.config.now())
            titles = {
                str(rule_id): str(title)
                for rule_id, title in session.execute(select(Alert.rule_id, Alert.rule_title).distinct())
            }
        return render(
            request,
            "metrics.html",
            viewer,
            report=found,
            chart=trend_chart(found),
            remediation=remediation_chart(found),
            fidelity=fidelity_chart(fidelity, titles),
            days=days,
        )

    @router.get("/overview")
    def overview(request: Request, viewer: Anyone, days: Days = 30) -> Response:
        """Open incidents by severity and the headline figures: what a business leader needs, read-only."""
        with guard.database.session() as session:
            open_by_severity = [
                (s.value, count_incidents(session, IncidentFilter(severity=s.value)))
                for s in reversed(Severity)
            ]
            majors = [m for m in stakeholder_page(session) if not m.major.is_exercise]
        exact = [
            (name, total - (open_by_severity[i - 1][1] if i else 0))
            for i, (name, total) in enumerate(open_by_severity)
        ]
        found = report(days)
        return render(
            request, "overview.html", viewer, report=found, open_counts=exact, days=days, majors=majors
        )

    return router
