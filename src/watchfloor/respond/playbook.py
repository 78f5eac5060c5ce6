"""Playbooks as typed values: a trigger, steps, and the rules each step runs under.

A playbook is a YAML file (see docs/playbooks.md). Loading validates everything that can be checked
before a run: the step kinds, unique step ids, expressions and templates, the trigger's vocabulary, the
durations. Each problem names the file and the field, so `playbooks list` and `playbooks test` catch a
broken playbook before an incident does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from watchfloor.errors import Location
from watchfloor.respond.errors import PlaybookError
from watchfloor.respond.expr import check_expression
from watchfloor.respond.template import check_template

__all__ = [
    "ENRICHMENTS",
    "SEVERITIES",
    "STEP_KINDS",
    "Playbook",
    "Step",
    "StepKind",
    "Trigger",
    "TriggerEvent",
    "parse_duration",
    "parse_playbook",
]

SEVERITIES = ("informational", "low", "medium", "high", "critical")
ENRICHMENTS = ("related_events", "prior_incidents", "business_context", "intel")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")


class TriggerEvent(StrEnum):
    """What starts a playbook."""

    ALERT_CREATED = "alert.created"
    INCIDENT_CREATED = "incident.created"
    INCIDENT_CHANGED = "incident.changed"
    MANUAL = "manual"


class StepKind(StrEnum):
    """What a step does; the key naming it in YAML (`if` for a branch)."""

    ENRICH = "enrich"
    BRANCH = "if"
    ACT = "act"
    APPROVAL = "approval"
    NOTIFY = "notify"
    SET = "set"
    CLOSE = "close"


STEP_KINDS = tuple(StepKind)


def parse_duration(value: Any, where: Location) -> float:
    """Seconds from `30`, `30s`, `500ms`, `5m`, `4h` or `1d`."""
    match = _DURATION.match(str(value))
    if isinstance(value, bool) or match is None:
        raise PlaybookError(f"invalid duration {value!r} (like 30s, 5m, 4h)", where)
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class Trigger:
    """When a playbook runs: the event and the conditions every one of which must hold."""

    on: TriggerEvent
    rules: tuple[str, ...] = ()
    severity_min: str | None = None
    entities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tier: int | None = None
    queue: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    when: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One step: its kind and parameters, and the timeout, retries and backoff it runs under."""

    id: str
    kind: StepKind
    spec: Mapping[str, Any]
    timeout: float = 30.0
    retries: int = 0
    backoff: float = 1.0
    then: tuple[Step, ...] = ()
    otherwise: tuple[Step, ...] = ()
    location: Location | None = None

    def walk(self) -> list[Step]:
        """The step and every step nested in its branches, in document order."""
        found = [self]
        for child in (*self.then, *self.otherwise):
            found.extend(child.walk())
        return found


@dataclass(frozen=True, slots=True)
class Playbook:
    """A named, versioned playbook; `source` is the file it came from (`builtin:` for shipped ones)."""

    name: str
    version: int
    description: str
    trigger: Trigger
    steps: tuple[Step, ...]
    allow_unattended: bool = False
    samples: tuple[Mapping[str, Any], ...] = ()
    source: str = ""

    def all_steps(self) -> list[Step]:
        """Every step, branches included, in document order."""
        return [s for step in self.steps for s in step.walk()]

    def step(self, step_id: str) -> Step:
        """The step with this id."""
        for step in self.all_steps():
            if step.id == step_id:
                return step
        raise PlaybookError(f"playbook {self.name} has no step {step_id!r}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary for `playbooks list --json`."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "trigger": self.trigger.on.value,
            "allow_unattended": self.allow_unattended,
            "steps": [{"id": s.id, "kind": s.kind.value} for s in self.all_steps()],
            "source": self.source,
        }


def _strings(value: Any, where: Location) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, (str, int)) for item in items):
        raise PlaybookError("expected a string or a list of strings", where)
    return tuple(str(item) for item in items)


def _trigger(doc: Any, path: str) -> Trigger:
    where = Location(path, field="trigger")
    if not isinstance(doc, Mapping):
        raise PlaybookError("trigger must be a mapping with `on:`", where)
    known = {"on", "rule", "rules", "severity_min", "entities", "tier", "queue", "context", "when"}
    unknown = {str(k) for k in doc if k is not True} - known
    if unknown:
        raise PlaybookError(f"unknown trigger fields {sorted(unknown)} (known: {sorted(known)})", where)
    # YAML 1.1 reads a bare `on` key as True.
    event = doc.get("on", doc.get(True))
    try:
        on = TriggerEvent(str(event))
    except ValueError:
        raise PlaybookError(f"unknown trigger {event!r} ({', '.join(TriggerEvent)})", where) from None
    severity = doc.get("severity_min")
    if severity is not None and str(severity).lower() not in SEVERITIES:
        raise PlaybookError(f"unknown severity {severity!r} ({', '.join(SEVERITIES)})", where)
    entities = doc.get("entities") or {}
    if not isinstance(entities, Mapping):
        raise PlaybookError("trigger.entities maps an entity kind to patterns", where)
    when = doc.get("when")
    if when is not None:
        check_expression(str(when))
    tier = doc.get("tier")
    return Trigger(
        on=on,
        rules=_strings(doc.get("rules", doc.get("rule")), where),
        severity_min=str(severity).lower() if severity else None,
        entities={str(k): _strings(v, where) for k, v in entities.items()},
        tier=int(tier) if tier is not None else None,
        queue=str(doc["queue"]) if doc.get("queue") else None,
        context=dict(doc.get("context") or {}),
        when=str(when) if when is not None else None,
    )


_COMMON = {"id", "timeout", "retries", "backoff", "then", "else", "name"}


def _step(doc: Any, path: str, where_field: str, seen: set[str]) -> Step:
    where = Location(path, field=where_field)
    if not isinstance(doc, Mapping):
        raise PlaybookError("a step is a mapping", where)
    kinds = [k for k in STEP_KINDS if k.value in doc]
    if len(kinds) != 1:
        raise PlaybookError(f"a step has exactly one of {', '.join(STEP_KINDS)}", where)
    kind = kinds[0]
    extra = set(doc) - _COMMON - {kind.value}
    if extra and kind is not StepKind.ENRICH:
        raise PlaybookError(f"unknown step fields {sorted(extra)}", where)
    step_id = str(doc.get("id") or "")
    if not _NAME.match(step_id):
        raise PlaybookError(f"step id {step_id!r}: lower-case letters, digits, '-', '_' or '.'", where)
    if step_id in seen:
        raise PlaybookError(f"step id {step_id!r} is used twice", where)
    seen.add(step_id)
    spec: dict[str, Any]
    if kind is StepKind.BRANCH:
        check_expression(str(doc["if"]))
        spec = {"if": str(doc["if"])}
    elif kind is StepKind.ENRICH:
        sources = doc["enrich"]
        names = list(_strings(sources, where))
        unknown = sorted(set(names) - set(ENRICHMENTS))
        if unknown:
            raise PlaybookError(f"unknown enrichment {unknown} (known: {', '.join(ENRICHMENTS)})", where)
        spec = {"sources": names, **{k: doc[k] for k in extra}}
    else:
        body = doc[kind.value]
        if not isinstance(body, Mapping):
            raise PlaybookError(f"`{kind.value}:` takes a mapping", where)
        check_template(body)
        spec = dict(body)
    if kind is not StepKind.BRANCH and ("then" in doc or "else" in doc):
        raise PlaybookError("only an `if:` step has then/else", where)
    retries = doc.get("retries", 0)
    if not isinstance(retries, int) or not 0 <= retries <= 10:
        raise PlaybookError("retries is a whole number from 0 to 10", where)
    return Step(
        id=step_id,
        kind=kind,
        spec=spec,
        timeout=parse_duration(doc.get("timeout", "30s"), where),
        retries=retries,
        backoff=parse_duration(doc.get("backoff", "1s"), where),
        then=_steps(doc.get("then") or [], path, f"{where_field}.then", seen),
        otherwise=_steps(doc.get("else") or [], path, f"{where_field}.else", seen),
        location=where,
    )


def _steps(docs: Any, path: str, where_field: str, seen: set[str]) -> tuple[Step, ...]:
    if not isinstance(docs, Sequence) or isinstance(docs, str):
        raise PlaybookError("steps is a list", Location(path, field=where_field))
    return tuple(_step(doc, path, f"{where_field}[{i}]", seen) for i, doc in enumerate(docs))


def parse_playbook(text: str, path: str | Path) -> Playbook:
    """Parse and validate one playbook document."""
    where = str(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise PlaybookError(f"not YAML: {exc}", Location(where, None if line is None else line + 1)) from None
    if not isinstance(doc, Mapping):
        raise PlaybookError("a playbook is a mapping", Location(where))
    name = str(doc.get("name") or "")
    if not _NAME.match(name):
        raise PlaybookError(f"playbook name {name!r} is missing or malformed", Location(where, field="name"))
    version = doc.get("version", 1)
    if not isinstance(version, int) or version < 1:
        raise PlaybookError("version is a whole number from 1", Location(where, field="version"))
    samples = doc.get("samples") or []
    if not isinstance(samples, list) or not all(isinstance(s, Mapping) for s in samples):
        raise PlaybookError("samples is a list of alerts", Location(where, field="samples"))
    steps = _steps(doc.get("steps") or [], where, "steps", set())
    if not steps:
        raise PlaybookError("a playbook needs at least one step", Location(where, field="steps"))
    return Playbook(
        name=name,
        version=version,
        description=str(doc.get("description") or ""),
        trigger=_trigger(doc.get("trigger"), where),
        steps=steps,
        allow_unattended=bool(doc.get("allow_unattended", False)),
        samples=tuple(samples),
        source=where,
    )
