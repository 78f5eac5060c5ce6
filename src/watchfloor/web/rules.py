"""The rules page: every rule of the installation with its status, alert volume, fidelity and canary.

Status (active, unsupported with the reason, disabled) comes from the installation's `RuleLibrary`,
parsed once and re-parsed only when a rule file changes (a cheap `stat` check at most every
`CHECK_EVERY` seconds, so the first view of the full SigmaHQ pack takes seconds and later ones do not).
Alert volume is the count of alerts per rule id in the incident database; fidelity and demotions are
the 90% rule's own record (`metrics.fidelity_report`); test results are the canary's saved state
(`<data>/canary/state.json`: the last run's per-rule pass or fail and each rule's failure streak).
The list is filtered by status and by words in the title or id, and paged.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from watchfloor.cases import FidelityPolicy, Role
from watchfloor.cases.models import Alert
from watchfloor.config import Settings
from watchfloor.detect import CanaryState, Rule, RuleError, RuleLibrary
from watchfloor.metrics import FeedReport, FidelityReport, fidelity_report
from watchfloor.web.auth import Guard, Viewer
from watchfloor.web.render import render

__all__ = ["CHECK_EVERY", "PAGE", "RULE_ROLES", "STATUSES", "RuleRow", "rules_routes"]

PAGE = 100
CHECK_EVERY = 10.0
STATUSES = ("active", "unsupported", "disabled")
RULE_ROLES: tuple[Role, ...] = (Role.TIER2, Role.TIER3, Role.DETECTION_ENGINEER, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One rule as the page shows it."""

    id: str
    title: str
    status: str
    reason: str
    level: str
    path: str
    alerts: int
    fidelity: FeedReport | None
    canary: str
    canary_reason: str


@dataclass(frozen=True, slots=True)
class CanaryView:
    """The canary's last run, per rule, and its failure streaks (or why they cannot be read)."""

    last_run_at: str | None
    results: dict[str, tuple[bool, str]]
    failing: dict[str, str]
    error: str = ""


def _canary(settings: Settings) -> CanaryView:
    try:
        state = CanaryState.read(settings.data_dir / "canary" / "state.json")
    except RuleError as exc:
        return CanaryView(None, {}, {}, exc.message)
    results = {
        str(r.get("id")): (bool(r.get("passed")), str(r.get("reason") or "")) for r in state.last_results
    }
    failing = {rid: h.reason for rid, h in state.rules.items() if h.failing}
    return CanaryView(state.last_run_at, results, failing)


def _matches(rule: Rule, status: str, words: str) -> bool:
    if status and rule.status != status:
        return False
    text = f"{rule.title} {rule.id}".lower()
    return all(word in text for word in words.lower().split())


def rules_routes(guard: Guard, settings: Settings, policy: FidelityPolicy) -> APIRouter:
    """`/rules`."""
    router = APIRouter(include_in_schema=False)
    library = RuleLibrary.from_settings(settings)
    Engineer = Annotated[Viewer, Depends(guard.page(*RULE_ROLES))]

    def facts() -> tuple[dict[str, int], FidelityReport]:
        with guard.database.session() as session:
            rows = session.execute(select(Alert.rule_id, func.count()).group_by(Alert.rule_id))
            counts = {str(rule_id): int(n) for rule_id, n in rows}
            report = fidelity_report(session, policy, guard.config.now())
        return counts, report

    @router.get("/rules")
    def rules_page(
        request: Request,
        viewer: Engineer,
        status: Annotated[str, Query(pattern="^(|active|unsupported|disabled)$")] = "",
        q: Annotated[str, Query(max_length=200)] = "",
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Response:
        """Rules with status, alert volume, fidelity and canary results; demoted feeds on top."""
        loaded = library.current(CHECK_EVERY)
        counts, report = facts()
        rule_feeds = {f.record.feed.name: f for f in report.feeds if f.record.feed.kind == "rule"}
        canary = _canary(settings)
        totals = {s: len(loaded.by_status(s)) for s in STATUSES}
        chosen = [r for r in loaded.rules if _matches(r, status, q)]
        chosen.sort(key=lambda r: (-counts.get(r.id, 0), r.title.lower()))
        rows = []
        for rule in chosen[offset : offset + PAGE]:
            passed, why = canary.results.get(rule.id, (None, ""))
            verdict = "-" if passed is None else ("passed" if passed else "failed")
            if rule.id in canary.failing:
                verdict, why = "failing", canary.failing[rule.id] or why
            rows.append(
                RuleRow(
                    rule.id,
                    rule.title,
                    rule.status,
                    rule.reason or "",
                    rule.level or "",
                    rule.path,
                    counts.get(rule.id, 0),
                    rule_feeds.get(rule.id),
                    verdict,
                    why,
                )
            )
        return render(
            request,
            "rules.html",
            viewer,
            rows=rows,
            matched=len(chosen),
            totals=totals,
            errors=[e.message for e in loaded.errors[:20]],
            error_count=len(loaded.errors),
            demoted=[f for f in report.feeds if f.status.demoted],
            canary=canary,
            status=status,
            q=q,
            offset=offset,
            page_size=PAGE,
            statuses=STATUSES,
        )

    return router
