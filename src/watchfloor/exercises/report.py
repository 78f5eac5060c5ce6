"""What a drill shows: which steps were detected, ATT&CK coverage, and MTTA/MTTR of its incidents.

Values only (frozen dataclasses with `as_dict` for `--json`) and `render`, the text report. Techniques
are compared in upper case, and an alert "covers" an expected technique when it names the technique,
its parent or one of its sub-techniques (T1003 covers T1003.001 and the other way round).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Clock", "ExerciseReport", "StepResult", "covers", "render"]


def covers(found: str, expected: str) -> bool:
    """True when an alert's technique `found` counts for `expected` (same, parent or sub-technique)."""
    a, b = found.upper(), expected.upper()
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of the replay: what it should trigger, and the alerts its events raised."""

    name: str
    file: str
    expected: tuple[str, ...]
    alerts: int
    rule_ids: tuple[str, ...]
    techniques: tuple[str, ...]

    @property
    def detected(self) -> bool:
        """Any alert came from this step's events."""
        return self.alerts > 0

    @property
    def technique_detected(self) -> bool | None:
        """An alert of this step carries the expected technique (None when no technique is expected)."""
        if not self.expected:
            return None
        return any(covers(t, e) for t in self.techniques for e in self.expected)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "file": self.file,
            "expected_techniques": list(self.expected),
            "alerts": self.alerts,
            "rule_ids": list(self.rule_ids),
            "techniques": list(self.techniques),
            "detected": self.detected,
            "technique_detected": self.technique_detected,
        }


@dataclass(frozen=True, slots=True)
class Clock:
    """Mean and median seconds of one drill clock, over the incidents that have stopped it."""

    count: int
    mean_s: float | None
    median_s: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Clock:
        """The clock over these durations."""
        items = list(values)
        if not items:
            return cls(0, None, None)
        return cls(len(items), statistics.fmean(items), statistics.median(items))

    def text(self) -> str:
        """`12m 5s (median 10m, 3 incidents)`, or a note that nobody has stopped this clock yet."""
        if self.mean_s is None or self.median_s is None:
            return "not yet (no incident of this drill has got there)"
        return f"{_duration(self.mean_s)} (median {_duration(self.median_s)}, {self.count} incidents)"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {rest}s" if minutes else f"{rest}s"


@dataclass(frozen=True, slots=True)
class ExerciseReport:
    """The drill's report, kept beside its telemetry (`<data>/exercises/<run>/report.json`)."""

    run_id: str
    target: str
    events: int
    shift_s: float
    rules_active: int
    steps: tuple[StepResult, ...]
    alerts: int
    incidents: tuple[int, ...]
    mtta: Clock
    mttr: Clock
    errors: tuple[str, ...] = ()

    @property
    def expected(self) -> tuple[str, ...]:
        """Every technique the scenario's steps should trigger, sorted."""
        return tuple(sorted({t.upper() for s in self.steps for t in s.expected}))

    @property
    def seen(self) -> tuple[str, ...]:
        """Every technique the drill's alerts carried, sorted."""
        return tuple(sorted({t.upper() for s in self.steps for t in s.techniques}))

    @property
    def covered(self) -> tuple[str, ...]:
        """Expected techniques some alert covers."""
        return tuple(e for e in self.expected if any(covers(t, e) for t in self.seen))

    @property
    def missed(self) -> tuple[str, ...]:
        """Expected techniques no alert covers: the gaps the drill found."""
        return tuple(e for e in self.expected if e not in self.covered)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for `--json` and report.json."""
        return {
            "run_id": self.run_id,
            "target": self.target,
            "events": self.events,
            "shift_s": self.shift_s,
            "rules_active": self.rules_active,
            "alerts": self.alerts,
            "steps": [s.as_dict() for s in self.steps],
            "steps_detected": sum(1 for s in self.steps if s.detected),
            "coverage": {
                "expected": list(self.expected),
                "detected": list(self.covered),
                "missed": list(self.missed),
                "other": [t for t in self.seen if not any(covers(t, e) for e in self.expected)],
            },
            "incidents": list(self.incidents),
            "mtta": {"count": self.mtta.count, "mean_s": self.mtta.mean_s, "median_s": self.mtta.median_s},
            "mttr": {"count": self.mttr.count, "mean_s": self.mttr.mean_s, "median_s": self.mttr.median_s},
            "errors": list(self.errors),
        }


def render(report: ExerciseReport) -> list[str]:
    """The report as lines of text."""
    lines = [
        f"exercise {report.run_id}: {report.target}",
        f"  {report.events} events replayed (shifted {_duration(abs(report.shift_s))} to now), "
        f"{report.rules_active} active rules, {report.alerts} alerts",
        "",
        "steps:",
    ]
    for step in report.steps:
        mark = "DETECTED" if step.detected else "missed  "
        expected = ",".join(step.expected) or "-"
        rules = ", ".join(step.rule_ids) or "-"
        lines.append(f"  [{mark}] {step.name}  expected {expected}: {step.alerts} alerts  rules {rules}")
    detected = sum(1 for s in report.steps if s.detected)
    lines.append(f"  {detected} of {len(report.steps)} steps detected")
    share = f"{len(report.covered)}/{len(report.expected)}" if report.expected else "no expected techniques"
    lines += [
        "",
        f"ATT&CK coverage: {share}",
        f"  detected: {', '.join(report.covered) or '-'}",
        f"  missed:   {', '.join(report.missed) or '-'}",
        f"  also seen: {', '.join(t for t in report.seen if t not in report.covered) or '-'}",
        "",
        f"incidents (exercise only, not in real queues or metrics): {len(report.incidents)}",
        f"  MTTA: {report.mtta.text()}",
        f"  MTTR: {report.mttr.text()}",
    ]
    lines += [f"  problem: {e}" for e in report.errors]
    return lines
