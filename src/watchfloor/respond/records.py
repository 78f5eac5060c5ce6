"""Writing runs down: queueing, finishing, expiring approvals, and the audit entries of each.

Every change to a run is an audit entry by `playbook:<name>` (or by the person who approved or
cancelled), on the run's incident when it has one, so an incident's audit trail shows what automation
did to it and why.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases import Actor, Role
from watchfloor.cases.audit import record
from watchfloor.cases.models import utcnow
from watchfloor.respond.models import PlaybookRun, RunState
from watchfloor.respond.playbook import Playbook

__all__ = ["audit_run", "expire_approvals", "finish_run", "playbook_actor", "queue_run"]


def playbook_actor(name: str, request_id: str) -> Actor:
    """The actor a playbook acts as: `playbook:<name>`, allowed to work every tier."""
    return Actor(f"playbook:{name}", Role.ADMIN, request_id)


def audit_run(
    session: Session, run: PlaybookRun, action: str, after: Mapping[str, Any], actor: str | None = None
) -> None:
    """An audit entry about a run, on its incident when it has one."""
    record(
        session,
        actor=actor or f"playbook:{run.playbook}",
        action=action,
        target_type="incident" if run.incident_id is not None else "playbook_run",
        target_id=run.incident_id if run.incident_id is not None else run.id,
        after={
            "run_id": run.id,
            "run": run.uid,
            "playbook": run.playbook,
            "version": run.version,
            "dry_run": run.dry_run,
            **after,
        },
        request_id=run.uid,
    )


def queue_run(
    session: Session,
    playbook: Playbook,
    incident_id: int | None,
    trigger: str,
    requested_by: str = "",
    dry_run: bool = False,
) -> PlaybookRun:
    """Record a pending run in the caller's transaction (it starts when `Runner.run_pending` runs)."""
    run = PlaybookRun(
        uid=uuid.uuid4().hex,
        playbook=playbook.name,
        version=playbook.version,
        trigger=trigger,
        incident_id=incident_id,
        state=RunState.PENDING.value,
        dry_run=dry_run,
        requested_by=requested_by,
        approvals={},
    )
    session.add(run)
    session.flush()
    audit_run(session, run, "playbook.run_queued", {"trigger": trigger, "requested_by": requested_by})
    return run


def finish_run(session: Session, run: PlaybookRun, state: RunState, reason: str) -> None:
    """Put a run in a final state with its reason, and audit it."""
    run.state, run.reason, run.finished_at = state.value, reason, utcnow()
    run.waiting_step = None
    audit_run(session, run, f"playbook.run_{state.value}", {"reason": reason})


def expire_approvals(session: Session, now: dt.datetime | None = None) -> int:
    """Fail runs whose approval deadline passed; how many."""
    now = now or utcnow()
    overdue = session.scalars(
        select(PlaybookRun).where(
            PlaybookRun.state == RunState.WAITING_APPROVAL.value, PlaybookRun.approval_deadline < now
        )
    ).all()
    for run in overdue:
        assert run.approval_deadline is not None
        reason = f"approval of step {run.waiting_step} timed out at {run.approval_deadline.isoformat()}"
        finish_run(session, run, RunState.FAILED, reason)
    return len(overdue)
