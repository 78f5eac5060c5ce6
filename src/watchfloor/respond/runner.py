"""Executing runs so that each ends in a final state, with every step recorded and audited.

Each step attempt is its own transaction: the step's database effects, its record and its audit entry
commit together, so a crash never leaves half a step. Every step runs under its timeout: the handler
and its transaction in a worker thread (a `_CommitGuard` settles whether a late one commits), and the
part that calls other systems (connectors, the event store, threat intel) outside any transaction,
within the time left. Failed attempts are retried with exponential backoff (`backoff * 2**(attempt-1)`,
at most a minute) when the error may be transient (a connector error or timeout); a playbook or
workflow error fails at once.

A run goes pending → running → succeeded | failed, or waits for approval (and then is pending again,
or failed when the approval times out). `resume_interrupted` handles runs a crash left `running`.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases import Actor, Database
from watchfloor.cases.models import utcnow
from watchfloor.errors import WatchfloorError
from watchfloor.respond.context import incident_scope
from watchfloor.respond.errors import ConnectorError, StepTimeout
from watchfloor.respond.library import PlaybookSet
from watchfloor.respond.models import PlaybookRun, RunState, StepRun, StepState
from watchfloor.respond.playbook import Playbook, Step, StepKind
from watchfloor.respond.records import audit_run, expire_approvals, finish_run, playbook_actor
from watchfloor.respond.steps import (
    HANDLERS,
    Deferred,
    Environment,
    StepCall,
    WaitForApproval,
    step_is_idempotent,
)
from watchfloor.respond.views import RunView, run_view

__all__ = ["MAX_BACKOFF", "Runner", "StepFailed"]

MAX_BACKOFF = 60.0
_GRACE = 0.25


class StepFailed(Exception):
    """A step used up its attempts."""

    def __init__(self, step_id: str, attempts: int, message: str) -> None:
        super().__init__(message)
        self.step_id, self.attempts, self.message = step_id, attempts, message


class _Waiting(Exception):
    def __init__(self, step: Step, wait: WaitForApproval) -> None:
        super().__init__(wait.why)
        self.step, self.wait = step, wait


def _summary(value: Any, depth: int = 0) -> Any:
    """Outputs as the audit log keeps them: lists as their length below the top level."""
    if isinstance(value, Mapping):
        return {k: _summary(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return {"count": len(value)} if depth >= 1 else [_summary(v, depth + 1) for v in value]
    return value


def _with_timeout(
    call: Callable[[float], Mapping[str, Any]], left: float, timeout: float
) -> Mapping[str, Any]:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="wf-step")
    future = pool.submit(call, left)
    try:
        # A connector enforces the time left itself (and says where it hung); the watchdog, a little
        # later, covers one that does not, and store or intel reads, which cannot.
        return future.result(timeout=left + _GRACE)
    except concurrent.futures.TimeoutError:
        raise StepTimeout(f"no result within the step timeout of {timeout:g}s") from None
    finally:
        pool.shutdown(wait=False)


class _CommitGuard:
    """Settles, exactly once, whether a step's transaction commits or is abandoned at its timeout.

    The handler runs in a worker thread the runner stops waiting for at the timeout; the worker may
    still be running then (waiting on a locked database, say). Whoever takes the lock first wins: the
    worker commits and the runner takes its result, or the runner abandons and the worker rolls back, so
    a step recorded as timed out never changes an incident afterwards.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = False
        self.abandoned = False
        self.committed = False

    def claim(self) -> None:
        """Called by the worker just before its commit; raises when the runner has given up."""
        self._lock.acquire()
        self._held = True
        if self.abandoned:
            raise StepTimeout("abandoned at the step timeout")

    def release(self, committed: bool) -> None:
        """Called by the worker once its transaction ended, either way."""
        if self._held:
            self.committed, self._held = committed, False
            self._lock.release()

    def abandon(self) -> bool:
        """Called by the runner at the timeout: True when the worker committed first."""
        with self._lock:
            self.abandoned = not self.committed
            return self.committed


@dataclass
class _RunState:
    run_id: int
    uid: str
    incident_id: int | None
    dry_run: bool
    trigger: str
    approvals: dict[str, Any]
    completed: dict[str, dict[str, Any]]
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Runner:
    """Runs playbooks from one playbook set with one environment over one database."""

    database: Database
    playbooks: PlaybookSet
    env: Environment = field(default_factory=Environment)
    sleep: Callable[[float], None] = time.sleep
    backoffs: list[float] = field(default_factory=list)

    def run_pending(self, run_ids: Iterable[int] | None = None) -> list[RunView]:
        """Expire overdue approvals, then execute every pending run (or those named), oldest first."""
        with self.database.session() as session:
            expire_approvals(session)
            query = select(PlaybookRun.id).where(PlaybookRun.state == RunState.PENDING.value)
            if run_ids is not None:
                query = query.where(PlaybookRun.id.in_(list(run_ids)))
            pending = list(session.scalars(query.order_by(PlaybookRun.id)))
        return [self.execute(run_id) for run_id in pending]

    def execute(self, run_id: int) -> RunView:
        """Execute one pending run to a final state (or to waiting for approval)."""
        with self.database.session() as session:
            run = session.get(PlaybookRun, run_id)
            if run is None or run.state != RunState.PENDING.value:
                return self.view(run_id)
            playbook = self.playbooks.playbooks.get(run.playbook)
            if playbook is None or playbook.version != run.version:
                now = playbook.version if playbook else "none"
                reason = f"playbook {run.playbook} version {run.version} is no longer loaded (now: {now})"
                finish_run(session, run, RunState.FAILED, reason)
                return run_view(run)
            run.state, run.started_at = RunState.RUNNING.value, run.started_at or utcnow()
            audit_run(session, run, "playbook.run_started", {"trigger": run.trigger})
            completed = {s.step_id: dict(s.outputs) for s in run.steps if s.state == StepState.SUCCEEDED}
            state = _RunState(
                run.id, run.uid, run.incident_id, run.dry_run, run.trigger, dict(run.approvals), completed
            )
        try:
            self._walk(playbook, playbook.steps, state)
        except StepFailed as failed:
            reason = f"step {failed.step_id} failed after {failed.attempts} attempt(s): {failed.message}"
            self._end(run_id, RunState.FAILED, reason)
        except _Waiting as waiting:
            self._wait(run_id, waiting)
        except Exception as exc:  # a bug must still end the run visibly, never leave it running
            self._end(run_id, RunState.FAILED, f"internal error: {type(exc).__name__}: {exc}")
        else:
            self._end(run_id, RunState.SUCCEEDED, "")
        return self.view(run_id)

    def view(self, run_id: int) -> RunView:
        """The run as it is now."""
        with self.database.session() as session:
            run = session.get(PlaybookRun, run_id)
            if run is None:
                raise WatchfloorError(f"playbook run {run_id} does not exist")
            return run_view(run)

    def _walk(self, playbook: Playbook, steps: tuple[Step, ...], state: _RunState) -> None:
        for step in steps:
            if step.id in state.completed:
                outputs = state.completed[step.id]
            else:
                outputs = self._step(playbook, step, state)
            state.outputs[step.id] = outputs
            if step.kind is StepKind.BRANCH:
                self._walk(playbook, step.then if outputs.get("result") else step.otherwise, state)

    def _scope(self, session: Session, playbook: Playbook, state: _RunState) -> dict[str, Any]:
        scope = incident_scope(session, state.incident_id) if state.incident_id is not None else {}
        return {
            **scope,
            "steps": dict(state.outputs),
            "playbook": {"name": playbook.name, "version": playbook.version},
            "run": {"id": state.run_id, "uid": state.uid, "trigger": state.trigger},
        }

    def _step(self, playbook: Playbook, step: Step, state: _RunState) -> dict[str, Any]:
        key = f"wf-{state.uid}-{step.id}"
        idempotent = step_is_idempotent(step, self.env)
        with self.database.session() as session:
            row = session.scalars(
                select(StepRun).where(StepRun.run_id == state.run_id, StepRun.step_id == step.id)
            ).first()
            if row is None:
                row = StepRun(run_id=state.run_id, step_id=step.id, kind=step.kind.value, idempotency_key=key)
                session.add(row)
            row.state, row.error, row.finished_at = StepState.RUNNING.value, "", None
            session.flush()
            row_id, earlier = row.id, row.attempts  # attempts before a restart still count
        actor = playbook_actor(playbook.name, state.uid)
        attempts = step.retries + 1
        for attempt in range(1, attempts + 1):
            started = utcnow()
            try:
                with self.database.session() as session:
                    self._mark_attempt(session, row_id, earlier + attempt, started, idempotent)
                clock = time.monotonic()
                result = self._local(playbook, step, state, row_id, started, actor, key)
                if not isinstance(result, Deferred):
                    return result
                left = step.timeout - (time.monotonic() - clock)
                outcome = _with_timeout(result.call, round(max(left, 0.001), 3), step.timeout)
                outputs = {**result.summary, **outcome}
                with self.database.session() as session:
                    self._succeeded(session, row_id, started, outputs)
                return outputs
            except WaitForApproval as wait:
                raise _Waiting(step, wait) from None
            except WatchfloorError as exc:
                transient = isinstance(exc, ConnectorError)
                last = attempt == attempts or not transient
                with self.database.session() as session:
                    self._failed(session, row_id, started, str(exc), last)
                if last:
                    raise StepFailed(step.id, earlier + attempt, str(exc)) from None
                delay = min(step.backoff * 2 ** (attempt - 1), MAX_BACKOFF)
                self.backoffs.append(delay)
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _local(
        self,
        playbook: Playbook,
        step: Step,
        state: _RunState,
        row_id: int,
        started: dt.datetime,
        actor: Actor,
        key: str,
    ) -> dict[str, Any] | Deferred:
        """The step's handler and record in one transaction, in a worker, under the step's timeout."""
        guard = _CommitGuard()

        def work() -> dict[str, Any] | Deferred:
            committed = False
            try:
                with self.database.session() as session:
                    scope = self._scope(session, playbook, state)
                    call = StepCall(
                        session,
                        playbook,
                        step,
                        scope,
                        state.incident_id,
                        actor,
                        key,
                        state.dry_run,
                        self.env,
                        state.approvals,
                    )
                    result = HANDLERS[step.kind](call)
                    if not isinstance(result, Deferred):
                        self._succeeded(session, row_id, started, result)
                    guard.claim()
                committed = True
                return result
            finally:
                guard.release(committed)

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"wf-step-{step.id}")
        future = pool.submit(work)
        try:
            return future.result(timeout=step.timeout)
        except concurrent.futures.TimeoutError:
            if guard.abandon():
                return future.result()
            raise StepTimeout(f"no result within the step timeout of {step.timeout:g}s") from None
        finally:
            pool.shutdown(wait=False)

    def _mark_attempt(
        self, session: Session, row_id: int, attempt: int, started: dt.datetime, idempotent: bool
    ) -> None:
        row = session.get_one(StepRun, row_id)
        row.attempts = attempt
        row.attempt_log = [
            *row.attempt_log,
            {"attempt": attempt, "started_at": started.isoformat(), "idempotent": idempotent},
        ]

    def _close_attempt(self, row: StepRun, error: str) -> None:
        log = [dict(entry) for entry in row.attempt_log]
        if log:
            log[-1]["ended_at"] = utcnow().isoformat()
            log[-1]["error"] = error
        row.attempt_log = log

    def _succeeded(
        self, session: Session, row_id: int, started: dt.datetime, outputs: dict[str, Any]
    ) -> None:
        row = session.get_one(StepRun, row_id)
        self._close_attempt(row, "")
        row.state, row.outputs, row.finished_at = StepState.SUCCEEDED.value, outputs, utcnow()
        after = {
            "step": row.step_id,
            "kind": row.kind,
            "attempts": row.attempts,
            "outputs": _summary(outputs),
        }
        audit_run(session, row.run, "playbook.step_succeeded", after)

    def _failed(self, session: Session, row_id: int, started: dt.datetime, error: str, last: bool) -> None:
        row = session.get_one(StepRun, row_id)
        self._close_attempt(row, error)
        row.error = error
        if last:
            row.state, row.finished_at = StepState.FAILED.value, utcnow()
        after = {
            "step": row.step_id,
            "kind": row.kind,
            "attempt": row.attempts,
            "error": error,
            "final": last,
        }
        audit_run(session, row.run, "playbook.step_failed", after)

    def _wait(self, run_id: int, waiting: _Waiting) -> None:
        with self.database.session() as session:
            run = session.get_one(PlaybookRun, run_id)
            row = session.scalars(
                select(StepRun).where(StepRun.run_id == run_id, StepRun.step_id == waiting.step.id)
            ).one()
            self._close_attempt(row, "")
            row.state = StepState.WAITING.value
            run.state, run.waiting_step = RunState.WAITING_APPROVAL.value, waiting.step.id
            run.approval_tier = waiting.wait.tier
            run.approval_deadline = utcnow() + dt.timedelta(seconds=waiting.wait.timeout)
            run.reason = waiting.wait.why
            after = {
                "step": waiting.step.id,
                "kind": waiting.step.kind.value,
                "needs_tier": waiting.wait.tier,
                "deadline": run.approval_deadline.isoformat(),
                "why": waiting.wait.why,
            }
            audit_run(session, run, "playbook.step_waiting", after)

    def _end(self, run_id: int, state: RunState, reason: str) -> None:
        with self.database.session() as session:
            finish_run(session, session.get_one(PlaybookRun, run_id), state, reason)
