"""Runbooks for tier 1: a resolved investigation turned into task templates or a playbook skeleton.

Task templates (`cases.add_task_template`) are attached to a rule: every future incident with that rule
gets the tasks, which is the tier 1 runbook. Tier 2 makes one from a closed incident's tasks and notes
with `runbooks from-incident`; with `--playbook` the same becomes a YAML skeleton in
`DATA_DIR/playbooks`, for the steps automation can take over.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases import Actor, Forbidden, InvalidInput, NotAllowed, NotFound, add_task_template
from watchfloor.cases.audit import record
from watchfloor.cases.models import Alert, Comment, Incident, Task, TaskTemplate
from watchfloor.respond.errors import PlaybookError
from watchfloor.respond.playbook import parse_playbook

__all__ = ["RunbookResult", "RunbookView", "list_runbooks", "runbook_from_incident"]

_AUTHOR_TIER = 2


@dataclass(frozen=True, slots=True)
class RunbookResult:
    """What `runbook_from_incident` made."""

    name: str
    incident_id: int
    rule_id: str
    tasks: tuple[str, ...]
    template_ids: tuple[int, ...] = ()
    playbook_path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "incident_id": self.incident_id,
            "rule_id": self.rule_id,
            "tasks": list(self.tasks),
            "template_ids": list(self.template_ids),
            "playbook_path": str(self.playbook_path) if self.playbook_path else None,
        }


@dataclass(frozen=True, slots=True)
class RunbookView:
    """The task templates attached to one rule, technique, or every incident."""

    match_kind: str
    match_value: str
    tasks: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"match_kind": self.match_kind, "match_value": self.match_value, "tasks": list(self.tasks)}


def _skeleton(
    name: str, incident: Incident, rule_id: str, rule_title: str, tasks: list[Task], notes: list[str]
) -> str:
    doc: dict[str, Any] = {
        "name": name,
        "version": 1,
        "description": f"From incident #{incident.id} ({incident.title}), verdict {incident.verdict}.",
        "trigger": {"on": "incident.created", "rule": rule_id},
        "steps": [
            {"id": "gather", "enrich": ["related_events", "prior_incidents", "business_context"]},
            {
                "id": "runbook",
                "set": {
                    "task": [{"title": t.title, "description": t.description} for t in tasks],
                    "comment": f"Runbook {name} (from incident #{incident.id}, {rule_title}): "
                    + (" / ".join(notes) if notes else "follow the tasks."),
                },
            },
        ],
        "samples": [{"rule_id": rule_id, "rule_title": rule_title, "severity": incident.severity}],
    }
    header = (
        f"# Playbook skeleton made by `watchfloor runbooks from-incident {incident.id}`.\n"
        "# Review it, then add act/notify/close steps for what automation may do; test it with\n"
        f"# `watchfloor playbooks test {name}`.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def runbook_from_incident(
    session: Session, actor: Actor, incident_id: int, name: str, playbook_dir: Path | None = None
) -> RunbookResult:
    """Turn a closed incident's tasks (and notes) into task templates for its rule, or a playbook skeleton."""
    if actor.tier < _AUTHOR_TIER:
        raise Forbidden(
            f"{actor.username} ({actor.role.value}) cannot write runbooks: it needs tier 2 or above"
        )
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    if incident.closed_at is None:
        raise NotAllowed(f"incident {incident_id} is {incident.state}: make runbooks from resolved incidents")
    alerts = session.scalars(select(Alert).where(Alert.incident_id == incident_id)).all()
    if not alerts:
        raise InvalidInput(f"incident {incident_id} has no alerts, so no rule to attach a runbook to")
    rule_id = Counter(a.rule_id for a in alerts).most_common(1)[0][0]
    rule_title = next(a.rule_title for a in alerts if a.rule_id == rule_id)
    tasks = list(session.scalars(select(Task).where(Task.incident_id == incident_id).order_by(Task.id)))
    notes = [
        c.body
        for c in session.scalars(
            select(Comment).where(Comment.incident_id == incident_id).order_by(Comment.id)
        )
        if not c.author.startswith(("playbook:", "system:"))
    ]
    if not tasks:
        raise InvalidInput(f"incident {incident_id} has no tasks to turn into a runbook")
    titles = tuple(t.title for t in tasks)
    if playbook_dir is not None:
        path = playbook_dir / f"{name}.yml"
        if path.exists():
            raise InvalidInput(f"{path} already exists")
        text = _skeleton(name, incident, rule_id, rule_title, tasks, notes)
        try:
            parse_playbook(text, path)
        except PlaybookError as exc:
            raise InvalidInput(f"cannot make playbook {name!r}: {exc}") from None
        playbook_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        result = RunbookResult(name, incident_id, rule_id, titles, (), path)
    else:
        ids = tuple(
            add_task_template(
                session,
                actor,
                "rule",
                rule_id,
                t.title,
                t.description or f"Runbook {name}, from incident #{incident_id}",
            )
            for t in tasks
        )
        result = RunbookResult(name, incident_id, rule_id, titles, ids)
    record(
        session,
        actor=actor.username,
        action="runbook.created",
        target_type="incident",
        target_id=incident_id,
        after=result.as_dict(),
        request_id=actor.request_id,
    )
    return result


def list_runbooks(session: Session) -> list[RunbookView]:
    """Task templates grouped by what they attach to."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for template in session.scalars(select(TaskTemplate).order_by(TaskTemplate.position, TaskTemplate.id)):
        grouped.setdefault((template.match_kind, template.match_value), []).append(template.title)
    return [RunbookView(kind, value, tuple(titles)) for (kind, value), titles in sorted(grouped.items())]
