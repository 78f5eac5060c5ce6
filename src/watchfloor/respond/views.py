"""Runs and steps as read by the CLI, the API and tests: plain frozen values, JSON-ready."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from watchfloor.respond.models import PlaybookRun, StepRun

__all__ = ["RunView", "StepView", "run_view"]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True, slots=True)
class StepView:
    """One step of a run."""

    step_id: str
    kind: str
    state: str
    attempts: int
    error: str
    outputs: dict[str, Any]
    attempt_log: list[Any]
    started_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def seconds(self) -> float | None:
        """How long the step took, retries and backoff included."""
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "step": self.step_id,
            "kind": self.kind,
            "state": self.state,
            "attempts": self.attempts,
            "error": self.error,
            "outputs": self.outputs,
            "attempt_log": self.attempt_log,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "seconds": self.seconds,
        }


@dataclass(frozen=True, slots=True)
class RunView:
    """One run with its steps."""

    id: int
    uid: str
    playbook: str
    version: int
    trigger: str
    incident_id: int | None
    state: str
    reason: str
    dry_run: bool
    waiting_step: str | None
    approval_tier: int | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    steps: tuple[StepView, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "uid": self.uid,
            "playbook": self.playbook,
            "version": self.version,
            "trigger": self.trigger,
            "incident_id": self.incident_id,
            "state": self.state,
            "reason": self.reason,
            "dry_run": self.dry_run,
            "waiting_step": self.waiting_step,
            "approval_tier": self.approval_tier,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at),
            "steps": [s.as_dict() for s in self.steps],
        }


def _step(row: StepRun) -> StepView:
    return StepView(
        row.step_id,
        row.kind,
        row.state,
        row.attempts,
        row.error,
        dict(row.outputs),
        list(row.attempt_log),
        row.started_at,
        row.finished_at,
    )


def run_view(run: PlaybookRun) -> RunView:
    """The view of a run row (its steps loaded)."""
    return RunView(
        run.id,
        run.uid,
        run.playbook,
        run.version,
        run.trigger,
        run.incident_id,
        run.state,
        run.reason,
        run.dry_run,
        run.waiting_step,
        run.approval_tier,
        run.created_at,
        run.finished_at,
        tuple(_step(s) for s in run.steps),
    )
