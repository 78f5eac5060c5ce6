"""Playbooks under `watchfloor serve`: runs a crash interrupted are settled at start-up, pending ones run.

The streaming hand-off queues runs inside the intake transaction and executes them after it commits
(`respond.Automation`), exactly as `watchfloor detect` does. What a crash left behind is handled here,
before new alerts arrive: a run caught `running` is made pending again when the step in flight is safe
to repeat, else failed with the reason, so no run stays hanging (`respond.resume_interrupted`). The
pending runs then execute on a background thread, so a slow connector never delays the listeners.

Major incidents owe their audiences updates on a cadence: `MajorReminders` checks every
`[major] reminder_interval` (default 5 minutes, "0" turns it off) and tells the `reminder_channel`
about every overdue update, as `watchfloor major due --notify` does from cron.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from watchfloor.cases import open_database
from watchfloor.config import CONFIG_FILE_NAME, Settings
from watchfloor.errors import Location
from watchfloor.respond import Runner, resume_interrupted
from watchfloor.respond.comms import CommsConfig, send_reminders
from watchfloor.respond.handoff import Automation
from watchfloor.respond.playbook import parse_duration

__all__ = ["MajorReminders", "recover_playbooks"]

log = logging.getLogger(__name__)


def recover_playbooks(settings: Settings, echo: Callable[[str], None]) -> threading.Thread:
    """Settle interrupted runs now; return the started thread that executes every pending run."""
    database = open_database(settings.db or None, settings.data_dir)
    with database.session() as session:
        recovered = resume_interrupted(session)
    if recovered:
        echo(f"playbooks: {len(recovered)} run(s) interrupted by the last stop were resumed or failed")
    automation = Automation.for_settings(settings)

    def run_pending() -> None:
        try:
            runs = Runner(database, automation.playbooks, automation.env).run_pending()
            if runs:
                log.warning("playbooks: %d pending run(s) executed after start-up", len(runs))
        except Exception:  # a broken connector must not take the server down; the run records why
            log.exception("pending playbook runs failed at start-up")
        finally:
            database.close()

    thread = threading.Thread(target=run_pending, name="watchfloor-playbooks-recovery", daemon=True)
    thread.start()
    return thread


class MajorReminders:
    """A thread that sends the overdue-update reminders of major incidents while `serve` runs."""

    def __init__(self, settings: Settings) -> None:
        table = settings.extra.get("major", {})
        raw = table.get("reminder_interval", "5m") if isinstance(table, dict) else "5m"
        where = Location(str(settings.data_dir / CONFIG_FILE_NAME), field="major.reminder_interval")
        self.interval = 0.0 if str(raw) == "0" else parse_duration(raw, where)
        self.settings = settings
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="watchfloor-major-reminders", daemon=True)

    def start(self) -> None:
        """Start checking (nothing happens when the interval is 0)."""
        if self.interval > 0:
            self.thread.start()

    def stop(self) -> None:
        """Stop after the current check."""
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)

    def check(self) -> int:
        """One check now: the number of major incidents whose update is overdue."""
        database = open_database(self.settings.db or None, self.settings.data_dir)
        try:
            config = CommsConfig.from_settings(self.settings.extra, self.settings.data_dir)
            with database.session() as session:
                return len(send_reminders(session, config))
        finally:
            database.close()

    def _loop(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.check()
            except Exception:  # a broken channel is logged and retried at the next interval
                log.exception("major-incident reminders failed")
