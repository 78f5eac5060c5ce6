"""`playbooks test`: run a playbook against alerts in a throwaway database, every action in dry-run.

The alerts are the installation's recorded alerts (from its incident database) when any incident they
form matches the playbook's trigger, else the playbook's own `samples:`. They go through the real
intake (grouping, routing) into a temporary SQLite database, and the playbook runs there with
`dry_run`: connectors are not called (what would have been sent is shown) and incident changes are
checked (verdicts, workflow, users) but not made. Reads (enrichment from the event store) are real.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases import IncomingAlert, open_database, receive_alerts
from watchfloor.cases.models import Alert
from watchfloor.respond.context import incident_scope
from watchfloor.respond.errors import PlaybookError
from watchfloor.respond.library import PlaybookSet
from watchfloor.respond.models import RunState
from watchfloor.respond.playbook import Playbook
from watchfloor.respond.records import queue_run
from watchfloor.respond.runner import Runner
from watchfloor.respond.steps import Environment
from watchfloor.respond.triggers import matches
from watchfloor.respond.views import RunView

__all__ = ["TestReport", "recorded_alerts", "sample_alerts", "test_playbook"]

_RECORDED_LIMIT = 2_000


@dataclass(frozen=True, slots=True)
class TestReport:
    """What testing one playbook showed."""

    __test__ = False  # not a pytest class

    playbook: str
    version: int
    alerts_from: str
    runs: tuple[RunView, ...]
    note: str = ""

    @property
    def ok(self) -> bool:
        """Every run ended succeeded."""
        return all(run.state == RunState.SUCCEEDED for run in self.runs)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "playbook": self.playbook,
            "version": self.version,
            "alerts_from": self.alerts_from,
            "ok": self.ok,
            "note": self.note,
            "runs": [run.as_dict() for run in self.runs],
        }


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in (value if isinstance(value, list) else [value]))


def sample_alerts(playbook: Playbook) -> list[IncomingAlert]:
    """The playbook's `samples:` as alerts (uid and time filled in when missing)."""
    alerts = []
    now = dt.datetime.now(dt.UTC)
    for index, doc in enumerate(playbook.samples):
        uid = str(doc.get("uid") or hashlib.sha256(f"{playbook.name}:{index}".encode()).hexdigest()[:32])
        when = doc.get("event_time")
        event_time = dt.datetime.fromisoformat(str(when)) if when else now
        try:
            alerts.append(
                IncomingAlert(
                    uid=uid,
                    rule_id=str(doc.get("rule_id") or "sample"),
                    rule_title=str(doc.get("rule_title") or doc.get("rule_id") or "sample"),
                    severity=str(doc.get("severity") or "medium"),
                    event_time=event_time if event_time.tzinfo else event_time.replace(tzinfo=dt.UTC),
                    hosts=_strings(doc.get("hosts")),
                    users=_strings(doc.get("users")),
                    ips=_strings(doc.get("ips")),
                    processes=_strings(doc.get("processes")),
                    source=str(doc.get("source") or "sample"),
                )
            )
        except Exception as exc:
            raise PlaybookError(f"{playbook.source}: sample {index}: {exc}") from None
    return alerts


def recorded_alerts(session: Session, limit: int = _RECORDED_LIMIT) -> list[IncomingAlert]:
    """The newest alerts of an installation, back in the form intake takes."""
    rows = session.scalars(select(Alert).order_by(Alert.id.desc()).limit(limit)).all()
    alerts = []
    for row in rows:
        kinds: dict[str, list[str]] = {}
        for entity in row.entities:
            kinds.setdefault(entity.kind, []).append(entity.value)
        alerts.append(
            IncomingAlert(
                uid=row.uid,
                rule_id=row.rule_id,
                rule_title=row.rule_title,
                severity=row.severity,
                event_time=row.event_time,
                techniques=tuple(row.techniques),
                tactics=tuple(row.tactics),
                hosts=tuple(kinds.get("host", ())),
                users=tuple(kinds.get("user", ())),
                ips=tuple(kinds.get("ip", ())),
                processes=tuple(kinds.get("process", ())),
                evidence_event_ids=tuple(row.evidence_event_ids),
                source=row.source,
                correlation_key=row.correlation_key,
                is_exercise=row.is_exercise,
            )
        )
    return alerts


def _matching(workdir: Path, playbook: Playbook, alerts: Sequence[IncomingAlert]) -> list[int]:
    database = open_database(None, workdir)
    try:
        with database.session() as session:
            intake = receive_alerts(session, alerts)
            return [
                i
                for i in dict.fromkeys(intake.opened)
                if matches(playbook.trigger, incident_scope(session, i))
            ]
    finally:
        database.close()


def test_playbook(
    playbook: Playbook, recorded: Sequence[IncomingAlert], env: Environment, limit: int = 20
) -> TestReport:
    """Dry-run `playbook` on the recorded alerts, else on its samples; at most `limit` incidents."""
    with tempfile.TemporaryDirectory(prefix="watchfloor-playbook-test-") as tmp:
        alerts_from, alerts = "recorded alerts", list(recorded)
        chosen = _matching(Path(tmp) / "recorded", playbook, alerts) if alerts else []
        workdir = Path(tmp) / "recorded"
        if not chosen:
            alerts_from, alerts, workdir = "samples", sample_alerts(playbook), Path(tmp) / "samples"
            chosen = _matching(workdir, playbook, alerts) if alerts else []
        if not chosen:
            note = "no recorded alert or sample matches the trigger" if alerts else "no alerts and no samples"
            return TestReport(playbook.name, playbook.version, alerts_from, (), note)
        database = open_database(None, workdir)
        try:
            with database.session() as session:
                ids = [
                    queue_run(session, playbook, i, playbook.trigger.on.value, "playbooks test", True).id
                    for i in chosen[:limit]
                ]
            runner = Runner(database, PlaybookSet({playbook.name: playbook}), env, sleep=lambda _s: None)
            runs = tuple(runner.run_pending(ids))
        finally:
            database.close()
    note = f"{len(chosen)} matching incidents, {len(runs)} tested" if len(chosen) > limit else ""
    return TestReport(playbook.name, playbook.version, alerts_from, runs, note)
