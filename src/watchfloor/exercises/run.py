"""`watchfloor exercise run`: replay attack telemetry through the installation's own detection, as a drill.

A run lives in `<data>/exercises/<run>/`: the scenario's files (`telemetry/`), its own event store
(`events/`) and alert store (`alerts/`), and `report.json`. Events are shifted to now and marked
(`replay.ShiftingSink`), detected with the installation's active rules (its rule library, placeholders
and suppressions), and the alerts go to the installation's incident database marked `is_exercise`:
they group only with other exercise incidents, the default queue lists leave them out, and metrics
count them only when asked for exercises (`MetricsQuery(exercises=True)`), which is what the drill's
MTTA and MTTR are computed from. Analysts work the drill's incidents like real ones;
`watchfloor exercise report RUN` recomputes the clocks afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session

from watchfloor.cases import from_detection, open_database, receive_alerts
from watchfloor.config import Settings
from watchfloor.detect import Alert, AlertStore, RuleLibrary, run_detection
from watchfloor.errors import ConfigError
from watchfloor.exercises.replay import ShiftingSink
from watchfloor.exercises.report import Clock, ExerciseReport, StepResult
from watchfloor.exercises.scenario import SCENARIOS, START, Step
from watchfloor.ingest import ingest_paths
from watchfloor.metrics import MetricsQuery, compute_metrics
from watchfloor.store import EventStore, open_store

__all__ = ["drill_clocks", "exercise_report", "exercises_dir", "run_exercise"]

_TECHNIQUE = re.compile(r"(?<![a-z0-9])t(\d{4}(?:\.\d{3})?)(?![0-9])", re.IGNORECASE)
_RUN_ID = re.compile(r"^[0-9TZ]+-[0-9a-f]{6}$")


def exercises_dir(settings: Settings) -> Path:
    """Where an installation keeps its exercise runs."""
    return settings.data_dir / "exercises"


def _folder_steps(paths: list[str], folder: Path) -> list[Step]:
    """A folder replay: one step per file read, its expected technique from a `T1234` in its name."""
    steps = []
    for name in sorted(paths):
        relative = Path(name).relative_to(folder).as_posix() if Path(name).is_relative_to(folder) else name
        techniques = tuple(sorted({f"T{m.upper()}" for m in _TECHNIQUE.findall(Path(name).name)}))
        steps.append(Step(relative, name, techniques))
    return steps


def _origins(store: EventStore, alerts: list[Alert]) -> dict[str, str]:
    """Evidence event uid → the file it was read from."""
    uids = sorted({uid for alert in alerts for uid in alert.event_uids})
    found: dict[str, str] = {}
    for start in range(0, len(uids), 1000):
        listed = ", ".join("'" + u.replace("'", "''") + "'" for u in uids[start : start + 1000])
        sql = f"SELECT metadata_uid, metadata_origin FROM events WHERE metadata_uid IN ({listed})"
        for row in store.query(sql).to_pylist():
            found[row["metadata_uid"]] = row["metadata_origin"]
    return found


def _step_results(steps: list[Step], alerts: list[Alert], origins: dict[str, str]) -> tuple[StepResult, ...]:
    by_file: dict[str, list[Alert]] = {}
    for alert in alerts:
        for path in {origins.get(uid, "") for uid in alert.event_uids}:
            by_file.setdefault(Path(path).name if path else "", []).append(alert)
    results = []
    for step in steps:
        mine = by_file.get(Path(step.file).name, [])
        results.append(
            StepResult(
                step.name,
                Path(step.file).name,
                step.techniques,
                len(mine),
                tuple(sorted({a.rule_id for a in mine})),
                tuple(sorted({t.upper() for a in mine for t in a.techniques})),
            )
        )
    return tuple(results)


def drill_clocks(
    session: Session, incidents: tuple[int, ...], now: dt.datetime | None = None
) -> tuple[Clock, Clock]:
    """MTTA and MTTR of a drill's incidents, from the metrics of exercise incidents only."""
    report = compute_metrics(session, MetricsQuery(group_by=(), exercises=True, now=now))
    wanted = set(incidents)
    rows = [r for r in report.rows if r.id in wanted]
    return (
        Clock.of(r.mtta_s for r in rows if r.mtta_s is not None),
        Clock.of(r.mttr_s for r in rows if r.mttr_s is not None),
    )


def run_exercise(
    settings: Settings, target: str, db_url: str | None = None, now: dt.datetime | None = None
) -> ExerciseReport:
    """Replay a built-in scenario (by name) or a folder or file of telemetry as an exercise."""
    now = now or dt.datetime.now(dt.UTC)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    root = exercises_dir(settings) / run_id
    scenario = SCENARIOS.get(target)
    if scenario is not None:
        inputs = scenario.write(root / "telemetry", START)
    else:
        path = Path(target).expanduser()
        if not path.exists():
            known = ", ".join(sorted(SCENARIOS))
            raise ConfigError(f"{target!r} is neither a built-in scenario ({known}) nor an existing path")
        inputs = [path]
    store = open_store(root / "events")
    sink = ShiftingSink(store, run_id)
    summary = ingest_paths(inputs, sink, root / "quarantine")
    shift = sink.offset(now)
    events = sink.finish(now)
    if scenario is not None:
        steps = [replace(s, file=str(root / "telemetry" / s.file)) for s in scenario.steps]
    else:
        read = [f.path for f in summary.files if f.error is None and f.events]
        steps = _folder_steps(read, Path(target).expanduser())
    detection = run_detection(store, RuleLibrary.from_settings(settings), AlertStore(root / "alerts"))
    alerts = detection.alerts
    incoming = [replace(a, is_exercise=True) for a in from_detection(detection.new_alerts, now)]
    database = open_database(db_url, settings.data_dir)
    try:
        with database.session() as session:
            intake = receive_alerts(session, incoming)
            opened = intake.opened
            mtta, mttr = drill_clocks(session, opened, now)
    finally:
        database.close()
    report = ExerciseReport(
        run_id=run_id,
        target=target,
        events=events,
        shift_s=shift.total_seconds(),
        rules_active=len(detection.loaded.by_status("active")),
        steps=_step_results(steps, alerts, _origins(store, alerts)),
        alerts=len(alerts),
        incidents=opened,
        mtta=mtta,
        mttr=mttr,
        errors=tuple(str(f.error) for f in summary.errors),
    )
    (root / "report.json").write_text(json.dumps(report.as_dict(), indent=2), encoding="utf-8")
    return report


def exercise_report(settings: Settings, run_id: str, db_url: str | None = None) -> dict[str, object]:
    """A past run's report with its MTTA and MTTR recomputed now (after analysts worked the drill)."""
    if not _RUN_ID.match(run_id):
        raise ConfigError(f"{run_id!r} is not an exercise run id")
    path = exercises_dir(settings) / run_id / "report.json"
    if not path.is_file():
        raise ConfigError(f"no exercise run {run_id} in {exercises_dir(settings)}")
    stored: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    incidents = tuple(int(i) for i in stored.get("incidents", []))  # type: ignore[attr-defined]
    database = open_database(db_url, settings.data_dir)
    try:
        with database.session() as session:
            mtta, mttr = drill_clocks(session, incidents)
    finally:
        database.close()
    stored["mtta"] = {"count": mtta.count, "mean_s": mtta.mean_s, "median_s": mtta.median_s}
    stored["mttr"] = {"count": mttr.count, "mean_s": mttr.mean_s, "median_s": mttr.median_s}
    return stored
