"""When playbooks start: matching triggers against incidents that intake created or changed.

Callers (the `detect` command, the demo, the streaming service) call `on_incidents_changed` in the same
transaction as intake, so the promise of a run is stored atomically with the incidents; the runs are
then executed by `Runner.run_pending` outside that transaction.

`alert.created` fires for every incident that received alerts (created or changed); `incident.created`
only for new incidents; `incident.changed` only for existing incidents that received alerts. A
playbook runs at most once per incident for `incident.created`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.respond.context import incident_scope
from watchfloor.respond.expr import FUNCTIONS as _FUNCTIONS
from watchfloor.respond.expr import evaluate
from watchfloor.respond.library import PlaybookSet, load_playbooks
from watchfloor.respond.models import PlaybookRun
from watchfloor.respond.playbook import SEVERITIES, Playbook, Trigger, TriggerEvent
from watchfloor.respond.records import queue_run

__all__ = ["matches", "on_incidents_changed"]

_glob = _FUNCTIONS["glob"]


def _events(created: bool) -> set[TriggerEvent]:
    return {
        TriggerEvent.ALERT_CREATED,
        TriggerEvent.INCIDENT_CREATED if created else TriggerEvent.INCIDENT_CHANGED,
    }


def _context_holds(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) and any(c in expected for c in "*?["):
        return bool(_glob(actual, expected))
    return bool(expected == actual)


def matches(trigger: Trigger, scope: Mapping[str, Any]) -> bool:
    """Whether every condition of the trigger holds for the incident scope."""
    incident = scope["incident"]
    if trigger.rules:
        names = [*scope["rules"], *scope["rule_titles"]]
        if not any(_glob(names, pattern) for pattern in trigger.rules):
            return False
    if trigger.severity_min:
        rank = SEVERITIES.index(incident["severity"]) if incident["severity"] in SEVERITIES else 2
        if rank < SEVERITIES.index(trigger.severity_min):
            return False
    for kind, patterns in trigger.entities.items():
        values = scope["entities"].get(kind) or []
        if not any(_glob(values, pattern) for pattern in patterns):
            return False
    if trigger.tier is not None and incident["tier"] != trigger.tier:
        return False
    if trigger.queue is not None and incident["queue"] != trigger.queue:
        return False
    for path, expected in trigger.context.items():
        if not _context_holds(expected, evaluate(path, scope)):
            return False
    return trigger.when is None or bool(evaluate(trigger.when, scope))


def _already(session: Session, playbook: Playbook, incident_id: int, trigger: str) -> bool:
    found = session.scalars(
        select(PlaybookRun.id).where(
            PlaybookRun.playbook == playbook.name,
            PlaybookRun.incident_id == incident_id,
            PlaybookRun.trigger == trigger,
        )
    ).first()
    return found is not None


def on_incidents_changed(
    session: Session,
    created_ids: Iterable[int],
    changed_ids: Iterable[int],
    playbooks: PlaybookSet | None = None,
    *,
    dry_run: bool = False,
) -> list[int]:
    """Queue a run of each matching playbook (default: the built-ins) per incident; the run ids queued."""
    playbooks = playbooks if playbooks is not None else load_playbooks(None)
    created = list(dict.fromkeys(created_ids))
    changed = [i for i in dict.fromkeys(changed_ids) if i not in set(created)]
    ordered = sorted(playbooks.playbooks.values(), key=lambda p: p.name)
    listening = {is_new: [p for p in ordered if p.trigger.on in _events(is_new)] for is_new in (True, False)}
    queued: list[int] = []
    for incident_id, is_new in [*((i, True) for i in created), *((i, False) for i in changed)]:
        if not listening[is_new]:
            continue  # the scope reads every alert of the incident: only built when a trigger can use it
        scope = incident_scope(session, incident_id)
        for playbook in listening[is_new]:
            event = playbook.trigger.on
            if not matches(playbook.trigger, scope):
                continue
            if event is TriggerEvent.INCIDENT_CREATED and _already(
                session, playbook, incident_id, event.value
            ):
                continue
            queued.append(queue_run(session, playbook, incident_id, event.value, dry_run=dry_run).id)
    return queued
