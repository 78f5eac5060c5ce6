"""Run the demo: fresh data directory, sample telemetry in, detection with the demo rules, hunts out."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from watchfloor.cases import IncomingAlert, from_detection, list_incidents, open_database, receive_alerts
from watchfloor.config import Settings
from watchfloor.demo.scenario import write_scenario
from watchfloor.detect import AlertStore, RuleLibrary, run_detection
from watchfloor.errors import ConfigError
from watchfloor.ingest import ingest_paths
from watchfloor.respond import RunView
from watchfloor.respond.handoff import Automation
from watchfloor.store import open_store

__all__ = ["COMPLIANCE_JOB_ALERT", "DEMO_HUNTS", "DEMO_RULES", "run_demo"]

#: Sigma rules written for the scenario (the SigmaHQ pack can be added with `watchfloor rules load`).
DEMO_RULES = Path(__file__).parent / "rules"

#: The known benign pattern the built-in `resolve-known-benign` playbook closes: the nightly compliance
#: job reads /etc/shadow through sudo as `ansible` on a configuration-management host, which the demo's
#: sudo rule flags like an attacker's read.
COMPLIANCE_JOB_ALERT = IncomingAlert(
    uid="demo-compliance-job-2026-11-23",
    rule_id="7c1f0b8e-2d4a-4c55-9a0e-6b3f1d2e9a05",
    rule_title="Sudo Used to Read the Shadow Password File",
    severity="high",
    event_time=dt.datetime(2026, 11, 23, 2, 0, 5, tzinfo=dt.UTC),
    techniques=("attack.t1003.008",),
    hosts=("cfgmgmt-01",),
    users=("ansible",),
    source="syslog",
)

DEMO_HUNTS = (
    (
        "Process launches by parent",
        "SELECT time, device_hostname, process_parent_process_name AS parent, process_name, "
        "process_cmd_line FROM events WHERE class_uid = 1007 AND activity_id = 1 ORDER BY time",
    ),
    (
        "Events per source and class",
        "SELECT metadata_log_name, class_name, count(*) AS n FROM events GROUP BY ALL ORDER BY n DESC",
    ),
)


def _run_line(run: RunView) -> str:
    closed = [step.outputs for step in run.steps if "closed" in step.outputs]
    what = (
        f"closed #{closed[0]['closed']} as {closed[0]['verdict']}, remediation {closed[0]['remediation']}"
        if closed
        else ", ".join(step.step_id for step in run.steps)
    )
    return f"  run {run.id:<3} {run.playbook:<22} incident #{run.incident_id:<3} {run.state}: {what}"


def run_demo(settings: Settings, echo: Callable[[str], None], reset: bool = False) -> None:
    """Ingest the built-in scenario into a fresh data directory and print what a hunter would see."""
    root = settings.data_dir
    if root.exists() and any(root.iterdir()):
        if not reset:
            raise ConfigError(f"{root} is not empty; use another --data-dir, or --reset to start over")
        shutil.rmtree(root)
    files = write_scenario(root / "demo-telemetry")
    store = open_store(settings.events_dir)
    summary = ingest_paths(files, store, settings.quarantine_dir)
    echo(f"data directory: {root}")
    by_source = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_source.items()))
    echo(f"ingested {summary.events} events from {len(files)} sample files: {by_source}")
    for result in summary.errors:
        echo(f"  not ingested: {result.error}")
    library = RuleLibrary(root / "rules")
    library.add(DEMO_RULES)
    run = run_detection(open_store(settings.events_dir), library, AlertStore(root / "alerts"))
    echo(f"detection: {len(run.loaded.by_status('active'))} active rules raised {len(run.new_alerts)} alerts")
    titles = Counter(alert.rule_title for alert in run.new_alerts)
    for title, count in sorted(titles.items(), key=lambda item: (-item[1], item[0])):
        echo(f"  {count:>3}  {title}")
    database = open_database(None, root)
    automation = Automation.for_settings(settings)
    try:
        with database.session() as session:
            intake = receive_alerts(session, from_detection(run.new_alerts))
            queued = automation.queue(session, intake)
            queue = list_incidents(session)
        playbook_runs = automation.run(database, queued)
        with database.session() as session:
            queued = automation.queue(session, receive_alerts(session, [COMPLIANCE_JOB_ALERT]))
        benign_runs = automation.run(database, queued)
    finally:
        database.close()
    echo(f"\nincident management: {len(intake.opened)} incidents opened, ready to triage")
    for item in queue:
        echo(
            f"  #{item.id:<3} tier {item.tier}  {item.severity:<9} {item.alert_count:>3} alerts  {item.title}"
        )
    echo(f"  (watchfloor --data-dir {root} incidents list / incidents show ID)")
    echo("\nautomation: built-in playbooks (watchfloor playbooks runs / playbooks show RUN)")
    for playbook_run in playbook_runs:
        echo(_run_line(playbook_run))
    echo("  the nightly compliance job's alert arrives (sudo reads /etc/shadow as ansible on cfgmgmt-01):")
    for playbook_run in benign_runs:
        echo(_run_line(playbook_run))
    for title, sql in DEMO_HUNTS:
        table = store.query(sql)
        echo(f"\n== {title}\n-- {sql}")
        for row in table.to_pylist():
            echo("  " + " | ".join("" if v is None else str(v) for v in row.values()))
