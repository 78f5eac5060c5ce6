"""What people and start-up do to runs: approve, cancel, list, and recover after a crash.

Approval is by a person of the tier the run asks for (tier 2 or above: a tier 1 analyst, a stakeholder
or a detection engineer cannot approve a destructive action). After a restart, `resume_interrupted`
finds runs a crash left `running`: if the step that was in flight is idempotent (its attempt says so)
the run goes back to pending and resumes from its last completed step; otherwise it is failed with the
reason "interrupted by restart", never left hanging.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases import Actor
from watchfloor.cases.models import utcnow
from watchfloor.respond.errors import ApprovalError
from watchfloor.respond.models import FINAL_STATES, PlaybookRun, RunState, StepRun, StepState
from watchfloor.respond.records import audit_run, expire_approvals, finish_run
from watchfloor.respond.views import RunView, run_view

__all__ = ["INTERRUPTED", "Recovery", "approve", "cancel", "list_runs", "resume_interrupted", "show_run"]

INTERRUPTED = "interrupted by restart"


def _run(session: Session, run_id: int) -> PlaybookRun:
    run = session.get(PlaybookRun, run_id)
    if run is None:
        raise ApprovalError(f"playbook run {run_id} does not exist")
    return run


def approve(session: Session, actor: Actor, run_id: int) -> RunView:
    """Approve the step a run waits on; the run becomes pending and continues on the next `run_pending`."""
    expire_approvals(session)
    run = _run(session, run_id)
    if run.state != RunState.WAITING_APPROVAL.value:
        raise ApprovalError(f"run {run_id} is {run.state}, not waiting for approval{_why(run)}")
    needed = run.approval_tier or 2
    if actor.tier < needed:
        raise ApprovalError(
            f"{actor.username} ({actor.role.value}) cannot approve run {run_id}: "
            f"it needs tier {needed} or above"
        )
    step = run.waiting_step or ""
    now = utcnow()
    run.approvals = {**run.approvals, step: {"by": actor.username, "at": now.isoformat()}}
    run.state, run.waiting_step, run.reason = RunState.PENDING.value, None, ""
    audit_run(
        session, run, "playbook.approved", {"step": step, "approved_by": actor.username}, actor.username
    )
    return run_view(run)


def _why(run: PlaybookRun) -> str:
    return f" ({run.reason})" if run.reason else ""


def cancel(session: Session, actor: Actor, run_id: int, reason: str) -> RunView:
    """Stop a run that has not ended (pending or waiting for approval)."""
    run = _run(session, run_id)
    if RunState(run.state) in FINAL_STATES or run.state == RunState.RUNNING.value:
        raise ApprovalError(f"run {run_id} is {run.state}: only pending or waiting runs can be cancelled")
    finish_run(session, run, RunState.CANCELLED, f"cancelled by {actor.username}: {reason}")
    return run_view(run)


def list_runs(session: Session, limit: int = 100, playbook: str | None = None) -> list[RunView]:
    """The newest runs first."""
    query = select(PlaybookRun).order_by(PlaybookRun.id.desc()).limit(limit)
    if playbook:
        query = query.where(PlaybookRun.playbook == playbook)
    return [run_view(r) for r in session.scalars(query)]


def show_run(session: Session, run_id: int) -> RunView:
    """One run with its steps."""
    return run_view(_run(session, run_id))


@dataclass(frozen=True, slots=True)
class Recovery:
    """What start-up did with one interrupted run."""

    run_id: int
    state: RunState
    reason: str


def resume_interrupted(session: Session) -> list[Recovery]:
    """Make every run left `running` pending again (idempotent step in flight) or failed (otherwise)."""
    done: list[Recovery] = []
    for run in session.scalars(select(PlaybookRun).where(PlaybookRun.state == RunState.RUNNING.value)).all():
        in_flight = session.scalars(
            select(StepRun).where(StepRun.run_id == run.id, StepRun.state == StepState.RUNNING.value)
        ).all()
        unsafe = [s.step_id for s in in_flight if s.attempt_log and not s.attempt_log[-1].get("idempotent")]
        if unsafe:
            reason = f"{INTERRUPTED} during step {', '.join(unsafe)}, which is not safe to repeat"
            for step in in_flight:
                step.state, step.error, step.finished_at = StepState.FAILED.value, INTERRUPTED, utcnow()
            finish_run(session, run, RunState.FAILED, reason)
            done.append(Recovery(run.id, RunState.FAILED, reason))
            continue
        run.state = RunState.PENDING.value
        steps = [s.step_id for s in run.steps if s.state == StepState.SUCCEEDED.value]
        reason = f"{INTERRUPTED}; resuming after {steps[-1] if steps else 'the start'}"
        audit_run(session, run, "playbook.run_resumed", {"reason": reason, "completed_steps": steps})
        done.append(Recovery(run.id, RunState.PENDING, reason))
    return done
