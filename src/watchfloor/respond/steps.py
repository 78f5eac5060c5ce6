"""What each kind of step does, as one handler per kind (`HANDLERS`).

A handler gets a `StepCall` (the session, the run's scope, the acting `playbook:<name>` user, the
idempotency key, dry-run or not) and returns the step's outputs, or a `Deferred` for the part that talks
to another system (a connector, the event store, threat intel): the runner calls that outside any
database transaction, within what is left of the step's timeout. The handler itself runs under the
same timeout (see `runner`).
Incident changes go through `watchfloor.cases` service functions, so they are checked, versioned and
audited like an analyst's; a playbook's closure is recorded with remediation `automated`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from watchfloor.cases import (
    Actor,
    Verdict,
    add_comment,
    add_task,
    assign,
    close,
    deescalate,
    escalate,
)
from watchfloor.cases.models import Incident, User
from watchfloor.cases.workflow import Action, next_state
from watchfloor.errors import Location
from watchfloor.respond.connectors import Connector
from watchfloor.respond.context import (
    OUTSIDE_ENRICHERS,
    EnrichSources,
    check_enrichers,
    enrich_from_database,
    enrich_from_outside,
)
from watchfloor.respond.errors import ConnectorError, PlaybookError
from watchfloor.respond.expr import evaluate
from watchfloor.respond.playbook import Playbook, Step, StepKind, parse_duration
from watchfloor.respond.template import render, render_text

__all__ = [
    "DEFAULT_APPROVAL_TIMEOUT",
    "HANDLERS",
    "Deferred",
    "Environment",
    "StepCall",
    "WaitForApproval",
    "step_is_idempotent",
]

DEFAULT_APPROVAL_TIMEOUT = 4 * 3600.0
_APPROVER_TIER = 2


@dataclass(frozen=True, slots=True)
class Environment:
    """What runs may use: connectors by name and the enrichment sources."""

    connectors: Mapping[str, Connector] = field(default_factory=dict)
    sources: EnrichSources = field(default_factory=EnrichSources)


@dataclass(frozen=True, slots=True)
class StepCall:
    """Everything one attempt of one step needs."""

    session: Session
    playbook: Playbook
    step: Step
    scope: Mapping[str, Any]
    incident_id: int | None
    actor: Actor
    key: str
    dry_run: bool
    env: Environment
    approvals: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Deferred:
    """The external part of a step, called by the runner outside a transaction with the time left.

    `call` gets the seconds left of the step's timeout and returns outputs merged over `summary`.
    """

    call: Callable[[float], Mapping[str, Any]]
    summary: Mapping[str, Any]


class WaitForApproval(Exception):
    """The step needs a person of `tier` or above to approve before it may go on."""

    def __init__(self, tier: int, timeout: float, why: str) -> None:
        super().__init__(why)
        self.tier, self.timeout, self.why = tier, timeout, why


def _incident(call: StepCall) -> Incident:
    if call.incident_id is None:
        raise PlaybookError(f"step {call.step.id} needs an incident")
    incident = call.session.get(Incident, call.incident_id)
    if incident is None:
        raise PlaybookError(f"incident {call.incident_id} does not exist")
    return incident


def _enrich(call: StepCall) -> dict[str, Any] | Deferred:
    spec = call.step.spec
    names = [str(name) for name in spec["sources"]]
    check_enrichers(names)
    window = parse_duration(spec.get("window", "1h"), call.step.location or Location())
    limit = int(spec.get("limit", 50))
    outputs = enrich_from_database(call.session, call.scope, names, limit)
    if not any(name in OUTSIDE_ENRICHERS for name in names):
        return outputs
    scope, sources = call.scope, call.env.sources
    return Deferred(lambda _timeout: enrich_from_outside(scope, sources, names, window, limit), outputs)


def _branch(call: StepCall) -> dict[str, Any]:
    return {"result": bool(evaluate(call.step.spec["if"], call.scope))}


def _approval_tier(spec: Mapping[str, Any]) -> int:
    role = str(spec.get("role", "tier2"))
    tier = int(role.removeprefix("tier")) if role.startswith("tier") else int(spec.get("tier", 2))
    return max(tier, _APPROVER_TIER)


def _approved(call: StepCall) -> Mapping[str, Any] | None:
    if call.step.id in call.approvals:
        found: Mapping[str, Any] = call.approvals[call.step.id]
        return found
    for step_id, given in call.approvals.items():
        if call.playbook.step(step_id).kind is StepKind.APPROVAL:
            return dict(given)
    return None


def _approval(call: StepCall) -> dict[str, Any]:
    tier = _approval_tier(call.step.spec)
    if call.dry_run:
        return {"would_wait_for_approval_by": f"tier{tier}"}
    given = call.approvals.get(call.step.id)
    if given is None:
        timeout = parse_duration(call.step.spec.get("timeout", "4h"), call.step.location or Location())
        raise WaitForApproval(tier, timeout, str(call.step.spec.get("reason") or "approval step"))
    return {"approved_by": given["by"], "approved_at": given["at"]}


def _connector(call: StepCall, name: str, action: str) -> Connector:
    connector = call.env.connectors.get(name)
    if connector is None:
        known = ", ".join(sorted(call.env.connectors)) or "none configured"
        raise ConnectorError(f"no connector {name!r} (known: {known}); add [connectors.{name}]")
    if action not in connector.actions():
        raise ConnectorError(f"connector {name} has no action {action!r}")
    return connector


def _external(call: StepCall, name: str, action: str, params: dict[str, Any]) -> dict[str, Any] | Deferred:
    connector = _connector(call, name, action)
    spec = connector.actions()[action]
    summary = {"connector": name, "action": action, "destructive": spec.destructive}
    if call.dry_run:
        return {**summary, "dry_run": True, "would_send": params}
    if spec.destructive and not call.playbook.allow_unattended and _approved(call) is None:
        raise WaitForApproval(
            _APPROVER_TIER, DEFAULT_APPROVAL_TIMEOUT, f"{name}.{action} is destructive and needs approval"
        )
    key = call.key
    return Deferred(lambda timeout: connector.execute(action, params, key, timeout).as_dict(), summary)


def _act(call: StepCall) -> dict[str, Any] | Deferred:
    spec = call.step.spec
    params = render(spec.get("params") or {}, call.scope)
    return _external(call, str(spec.get("connector")), str(spec.get("action")), dict(params))


def _notify(call: StepCall) -> dict[str, Any] | Deferred:
    spec = call.step.spec
    params = {
        "title": render_text(str(spec.get("title") or "Watchfloor: {{ incident.title }}"), call.scope),
        "text": render_text(str(spec.get("template") or spec.get("text") or ""), call.scope),
        "facts": render(spec.get("facts") or {}, call.scope),
        "incident_id": call.incident_id,
    }
    return _external(call, str(spec.get("channel")), "send", params)


def _set_tier(call: StepCall, incident: Incident, tier: int, note: str) -> str:
    if tier == incident.tier:
        return f"already tier {tier}"
    if call.dry_run:
        return f"would move to tier {tier}"
    mover = escalate if tier > incident.tier else deescalate
    mover(call.session, call.actor, incident.id, None, tier, note, f"playbook {call.playbook.name}")
    return f"moved to tier {tier}"


def _set(call: StepCall) -> dict[str, Any]:
    spec = render(dict(call.step.spec), call.scope)
    incident = _incident(call)
    done: dict[str, Any] = {}
    if "assign" in spec:
        user = str(spec["assign"])
        if call.session.query(User).filter(User.username == user).first() is None:
            raise PlaybookError(f"cannot assign to unknown user {user!r}")
        if not call.dry_run:
            assign(call.session, call.actor, incident.id, None, to_user=user)
        done["assigned"] = user
    if "queue" in spec:
        if not call.dry_run:
            assign(call.session, call.actor, incident.id, None, queue=str(spec["queue"]))
        done["queue"] = str(spec["queue"])
    if "tier" in spec:
        note = str(spec.get("note") or f"moved by playbook {call.playbook.name}")
        done["tier"] = _set_tier(call, incident, int(spec["tier"]), note)
    if "comment" in spec:
        if not call.dry_run:
            add_comment(call.session, call.actor, incident.id, str(spec["comment"]))
        done["comment"] = str(spec["comment"])
    tasks = spec.get("task") or spec.get("tasks") or []
    for task in tasks if isinstance(tasks, list) else [tasks]:
        title = str(task.get("title") if isinstance(task, Mapping) else task)
        description = str(task.get("description", "")) if isinstance(task, Mapping) else ""
        if not call.dry_run:
            add_task(call.session, call.actor, incident.id, title, description)
        done.setdefault("tasks", []).append(title)
    if not done:
        raise PlaybookError(f"step {call.step.id}: set needs assign, queue, tier, comment or task")
    return {"dry_run": True, **done} if call.dry_run else done


def _close(call: StepCall) -> dict[str, Any]:
    spec = render(dict(call.step.spec), call.scope)
    incident = _incident(call)
    verdict = str(spec.get("verdict") or "")
    try:
        Verdict(verdict)
    except ValueError:
        raise PlaybookError(f"step {call.step.id}: unknown verdict {verdict!r}") from None
    note = str(spec.get("note") or f"closed by playbook {call.playbook.name}")
    if call.dry_run:
        next_state(incident.state, Action.CLOSE)
        return {"dry_run": True, "would_close": incident.id, "verdict": verdict, "remediation": "automated"}
    actions = (f"playbook:{call.playbook.name}@{call.playbook.version}",)
    close(call.session, call.actor, incident.id, None, verdict, "automated", actions, note)
    return {"closed": incident.id, "verdict": verdict, "remediation": "automated", "note": note}


Handler = Callable[[StepCall], "dict[str, Any] | Deferred"]

HANDLERS: dict[StepKind, Handler] = {
    StepKind.ENRICH: _enrich,
    StepKind.BRANCH: _branch,
    StepKind.APPROVAL: _approval,
    StepKind.ACT: _act,
    StepKind.NOTIFY: _notify,
    StepKind.SET: _set,
    StepKind.CLOSE: _close,
}


def step_is_idempotent(step: Step, env: Environment) -> bool:
    """Whether repeating the step after a crash is safe.

    Database steps commit atomically with their record, so a crash leaves them undone and they may run
    again; a connector step is as safe as its action says (the idempotency key goes with every call).
    """
    if step.kind not in (StepKind.ACT, StepKind.NOTIFY):
        return True
    name = str(step.spec.get("connector") or step.spec.get("channel"))
    action = str(step.spec.get("action") or "send")
    connector = env.connectors.get(name)
    spec = connector.actions().get(action) if connector is not None else None
    return bool(spec and spec.idempotent)
