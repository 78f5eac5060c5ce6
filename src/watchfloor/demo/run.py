"""Run the demo: fresh data directory, sample telemetry in, detection with the demo rules, hunts out."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from watchfloor.cases import from_detection, list_incidents, open_database, receive_alerts
from watchfloor.config import Settings
from watchfloor.demo.scenario import write_scenario
from watchfloor.detect import AlertStore, RuleLibrary, run_detection
from watchfloor.errors import ConfigError
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore, open_store

__all__ = ["DEMO_HUNTS", "DEMO_RULES", "run_demo"]

#: Sigma rules written for the scenario (the SigmaHQ pack can be added with `watchfloor rules load`).
DEMO_RULES = Path(__file__).parent / "rules"

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
    run = run_detection(DuckDBEventStore(settings.events_dir), library, AlertStore(root / "alerts"))
    echo(f"detection: {len(run.loaded.by_status('active'))} active rules raised {len(run.new_alerts)} alerts")
    titles = Counter(alert.rule_title for alert in run.new_alerts)
    for title, count in sorted(titles.items(), key=lambda item: (-item[1], item[0])):
        echo(f"  {count:>3}  {title}")
    database = open_database(None, root)
    try:
        with database.session() as session:
            intake = receive_alerts(session, from_detection(run.new_alerts))
            queue = list_incidents(session)
    finally:
        database.close()
    echo(f"\nincident management: {len(intake.opened)} incidents opened, ready to triage")
    for item in queue:
        echo(
            f"  #{item.id:<3} tier {item.tier}  {item.severity:<9} {item.alert_count:>3} alerts  {item.title}"
        )
    echo(f"  (watchfloor --data-dir {root} incidents list / incidents show ID)")
    for title, sql in DEMO_HUNTS:
        table = store.query(sql)
        echo(f"\n== {title}\n-- {sql}")
        for row in table.to_pylist():
            echo("  " + " | ".join("" if v is None else str(v) for v in row.values()))
