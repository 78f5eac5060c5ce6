"""Playbook runs and their steps, stored in the incident database next to the incidents they act on.

The tables are created by migration 0005 (`cases/migrations/versions/v0005_playbook_runs.py`). A run's
state is always one of `RunState`; every step keeps its attempts (start, end, error), outputs and
timings, so a run can be explained, resumed after a crash, or shown as failed with its reason.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from watchfloor.cases.models import Base, utcnow

__all__ = ["FINAL_STATES", "PlaybookRun", "RunState", "StepRun", "StepState"]


class RunState(StrEnum):
    """Where a run is; the last three are final."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED})


class StepState(StrEnum):
    """Where a step is."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    WAITING = "waiting"


class PlaybookRun(Base):
    """One execution of one playbook version, usually on one incident."""

    __tablename__ = "playbook_runs"
    __table_args__ = (Index("ix_playbook_runs_state", "state", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    playbook: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(32))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True, default=None)
    state: Mapped[str] = mapped_column(String(32))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(128), default="")
    waiting_step: Mapped[str | None] = mapped_column(String(128), default=None)
    approval_tier: Mapped[int | None] = mapped_column(Integer, default=None)
    approval_deadline: Mapped[dt.datetime | None] = mapped_column(default=None)
    approvals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    steps: Mapped[list[StepRun]] = relationship(back_populates="run", order_by="StepRun.id")


class StepRun(Base):
    """One step of a run: its attempts, outputs, error and timings."""

    __tablename__ = "playbook_step_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("playbook_runs.id"), index=True)
    step_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_log: Mapped[list[Any]] = mapped_column(JSON, default=list)
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    run: Mapped[PlaybookRun] = relationship(back_populates="steps")
