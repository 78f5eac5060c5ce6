"""The hand-off from intake to automation, for the callers of `receive_alerts` (detect, demo, streaming).

Two calls around the intake transaction: `queue` inside it (the runs owed are stored with the
incidents), `run` after it commits (each step in its own transaction, connectors outside any).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from watchfloor.cases import Database, IntakeResult
from watchfloor.config import Settings
from watchfloor.respond.environment import environment_for
from watchfloor.respond.library import PlaybookSet, load_playbooks
from watchfloor.respond.runner import Runner
from watchfloor.respond.steps import Environment
from watchfloor.respond.triggers import on_incidents_changed
from watchfloor.respond.views import RunView

__all__ = ["Automation"]


@dataclass(frozen=True, slots=True)
class Automation:
    """The playbooks and environment of one installation."""

    playbooks: PlaybookSet
    env: Environment

    @classmethod
    def for_settings(cls, settings: Settings) -> Automation:
        """Built-in and DATA_DIR playbooks (broken files are skipped; `playbooks list` names them)."""
        return cls(load_playbooks(settings.data_dir), environment_for(settings))

    def queue(self, session: Session, intake: IntakeResult) -> list[int]:
        """Inside the intake transaction: queue the runs the new and changed incidents trigger."""
        changed = [p.incident_id for p in intake.joined]
        return on_incidents_changed(session, intake.opened, changed, self.playbooks)

    def run(self, database: Database, run_ids: list[int]) -> list[RunView]:
        """After the intake commit: execute the queued runs."""
        return Runner(database, self.playbooks, self.env).run_pending(run_ids) if run_ids else []
