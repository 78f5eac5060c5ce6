"""Tabletop exercises: timed injects for business participants, their decisions, and the after-action report.

A tabletop scenario is YAML:

    name: Ransomware at payments
    injects:
      - at: 0m
        audience: executives
        text: The payments database is encrypted; customers cannot pay.
        expected: [activate the crisis team, notify legal]
      - at: 30m
        ...

A run keeps the scenario as read (so the report does not change when the file does) and every
response (`participant`, `decision`, per inject). An expected decision counts as made when a response
to that inject contains it, or contains each of its words of four letters or more, in any case. The
after-action report lists, per inject, who answered and which expected decisions were missed (the
gaps), each gap becoming an action item for the inject's audience. Runs and responses are audited
(`tabletop.started`, `tabletop.responded`) and never touch incidents, queues or metrics.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from watchfloor.cases.audit import record
from watchfloor.cases.errors import InvalidInput, NotFound
from watchfloor.cases.models import TabletopResponse, TabletopRun, utcnow
from watchfloor.cases.users import Actor
from watchfloor.errors import ConfigError, Location

__all__ = [
    "AfterAction",
    "Inject",
    "InjectResult",
    "Tabletop",
    "after_action",
    "due_injects",
    "parse_tabletop",
    "record_response",
    "render_after_action",
    "start_tabletop",
]

_OFFSET = re.compile(r"^\+?(\d+)\s*([mh]?)$")


@dataclass(frozen=True, slots=True)
class Inject:
    """A timed prompt: when (minutes after the start), to whom, what happens, what they should decide."""

    number: int
    at_minutes: int
    audience: str
    text: str
    expected: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tabletop:
    """A tabletop scenario, validated, with the file it came from."""

    name: str
    description: str
    injects: tuple[Inject, ...]
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The form stored with a run."""
        return {
            "name": self.name,
            "description": self.description,
            "injects": [
                {"at": i.at_minutes, "audience": i.audience, "text": i.text, "expected": list(i.expected)}
                for i in self.injects
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> Tabletop:
        """Read back the stored form."""
        injects = tuple(
            Inject(n, int(i["at"]), str(i["audience"]), str(i["text"]), tuple(i["expected"]))
            for n, i in enumerate(data["injects"], start=1)
        )
        return cls(str(data["name"]), str(data.get("description", "")), injects, source)


def _minutes(value: Any, where: Location) -> int:
    found = _OFFSET.match(str(value).strip())
    if found is None or isinstance(value, bool):
        raise ConfigError(f"inject time {value!r}: use minutes like 0m, +30m or 2h", where)
    return int(found.group(1)) * (60 if found.group(2) == "h" else 1)


def parse_tabletop(path: Path) -> Tabletop:
    """Read and validate a tabletop scenario; errors name the file and the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read tabletop scenario: {exc}", Location(str(path))) from exc
    if not isinstance(data, dict) or not data.get("name") or not isinstance(data.get("injects"), list):
        raise ConfigError("a tabletop scenario has a name and a list of injects", Location(str(path)))
    injects: list[Inject] = []
    for number, raw in enumerate(data["injects"], start=1):
        where = Location(str(path), field=f"injects[{number}]")
        if not isinstance(raw, dict) or not raw.get("text") or not raw.get("audience"):
            raise ConfigError("an inject has at, audience, text and expected decisions", where)
        expected = raw.get("expected") or []
        if isinstance(expected, str):
            expected = [expected]
        if not isinstance(expected, list) or not all(isinstance(e, str) and e.strip() for e in expected):
            raise ConfigError("expected is a list of decisions (text)", where)
        at = _minutes(raw.get("at", 0), where)
        if injects and at < injects[-1].at_minutes:
            raise ConfigError("injects are listed in time order", where)
        injects.append(Inject(number, at, str(raw["audience"]), str(raw["text"]).strip(), tuple(expected)))
    return Tabletop(str(data["name"]), str(data.get("description") or ""), tuple(injects), str(path))


def _run(session: Session, run_id: int) -> TabletopRun:
    run = session.get(TabletopRun, run_id)
    if run is None:
        raise NotFound(f"no tabletop run {run_id}")
    return run


def start_tabletop(
    session: Session, actor: Actor, scenario: Tabletop, *, now: dt.datetime | None = None
) -> int:
    """Start a run of the scenario now; returns its id. Any user may facilitate a tabletop."""
    now = now or utcnow()
    run = TabletopRun(
        name=scenario.name,
        source=scenario.source,
        scenario=scenario.as_dict(),
        started_by=actor.username,
        started_at=now,
    )
    session.add(run)
    session.flush()
    record(
        session,
        actor=actor.username,
        action="tabletop.started",
        target_type="tabletop",
        target_id=run.id,
        after={"name": scenario.name, "injects": len(scenario.injects), "source": scenario.source},
        request_id=actor.request_id,
        at=now,
    )
    return run.id


def due_injects(session: Session, run_id: int, now: dt.datetime | None = None) -> list[Inject]:
    """The injects whose time has come at `now`: the prompts the facilitator reads out so far."""
    run = _run(session, run_id)
    elapsed = ((now or utcnow()) - run.started_at).total_seconds() / 60
    return [i for i in Tabletop.from_dict(run.scenario).injects if i.at_minutes <= elapsed]


def record_response(
    session: Session,
    actor: Actor,
    run_id: int,
    *,
    inject: int,
    participant: str,
    decision: str,
    now: dt.datetime | None = None,
) -> None:
    """Record what a participant decided in answer to one inject."""
    now = now or utcnow()
    run = _run(session, run_id)
    count = len(run.scenario["injects"])
    if not 1 <= inject <= count:
        raise InvalidInput(f"tabletop run {run_id} has injects 1..{count}, not {inject}")
    if not participant.strip() or not decision.strip():
        raise InvalidInput("a response needs a participant (--by) and a decision")
    row = TabletopResponse(
        run_id=run_id,
        inject=inject,
        participant=participant.strip(),
        decision=decision.strip(),
        responded_at=now,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=actor.username,
        action="tabletop.responded",
        target_type="tabletop",
        target_id=run_id,
        after={"inject": inject, "participant": row.participant, "decision": row.decision},
        request_id=actor.request_id,
        at=now,
    )


@dataclass(frozen=True, slots=True)
class InjectResult:
    """One inject in the after-action report: who answered, what was decided, and the gaps."""

    inject: Inject
    responses: tuple[tuple[str, str, float], ...]  # participant, decision, minutes after the prompt
    made: tuple[str, ...]
    gaps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AfterAction:
    """The after-action report of a run."""

    run_id: int
    name: str
    started_at: dt.datetime
    results: tuple[InjectResult, ...]
    participation: tuple[tuple[str, int], ...]
    action_items: tuple[tuple[str, str], ...]  # owner (the inject's audience), action

    @property
    def gaps(self) -> int:
        """How many expected decisions nobody made."""
        return sum(len(r.gaps) for r in self.results)


def _made(expected: str, decisions: list[str]) -> bool:
    phrase = expected.lower()
    words = [w for w in re.findall(r"\w+", phrase) if len(w) >= 4]
    for decision in decisions:
        text = decision.lower()
        if phrase in text or (words and all(w in text for w in words)):
            return True
    return False


def after_action(session: Session, run_id: int) -> AfterAction:
    """Compare each inject's responses with its expected decisions; gaps become action items."""
    run = _run(session, run_id)
    scenario = Tabletop.from_dict(run.scenario, run.source)
    rows = list(
        session.scalars(
            select(TabletopResponse).where(TabletopResponse.run_id == run_id).order_by(TabletopResponse.id)
        )
    )
    results: list[InjectResult] = []
    items: list[tuple[str, str]] = []
    for inject in scenario.injects:
        prompt_at = run.started_at + dt.timedelta(minutes=inject.at_minutes)
        answers = [r for r in rows if r.inject == inject.number]
        decisions = [r.decision for r in answers]
        made = tuple(e for e in inject.expected if _made(e, decisions))
        gaps = tuple(e for e in inject.expected if e not in made)
        for gap in gaps:
            items.append((inject.audience, f"Agree who decides to {gap} (inject {inject.number})"))
        responses = tuple(
            (r.participant, r.decision, round((r.responded_at - prompt_at).total_seconds() / 60, 1))
            for r in answers
        )
        results.append(InjectResult(inject, responses, made, gaps))
    participation = Counter(r.participant for r in rows)
    return AfterAction(
        run_id,
        run.name,
        run.started_at,
        tuple(results),
        tuple(sorted(participation.items(), key=lambda p: (-p[1], p[0]))),
        tuple(items),
    )


def render_after_action(report: AfterAction) -> str:
    """The after-action report as Markdown."""
    expected = sum(len(r.inject.expected) for r in report.results)
    lines = [
        f"# After-action report: {report.name} (tabletop run {report.run_id})",
        "",
        f"Started {report.started_at:%Y-%m-%d %H:%M} UTC; {expected - report.gaps} of {expected} expected "
        f"decisions made, {report.gaps} gaps.",
        "",
        "## Participation",
        "",
    ]
    lines += [f"- {name}: {count} responses" for name, count in report.participation] or ["Nobody responded."]
    for result in report.results:
        inject = result.inject
        lines += [
            "",
            f"## Inject {inject.number} (+{inject.at_minutes}m, {inject.audience})",
            "",
            inject.text,
            "",
        ]
        if not result.responses:
            lines.append("No response.")
        for participant, decision, after in result.responses:
            lines.append(f"- {participant} (+{after:g} min): {decision}")
        lines += [f"- made: {e}" for e in result.made]
        lines += [f"- **gap**: {e}" for e in result.gaps]
    lines += ["", "## Action items", ""]
    lines += [f"- [ ] {action} (owner: {owner})" for owner, action in report.action_items] or ["None."]
    return "\n".join(lines) + "\n"
