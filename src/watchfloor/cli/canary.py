"""`watchfloor canary run|status`: prove now that every rule with samples still alerts, or show the record.

`run` injects each active rule's positive samples into the installation's store (marked synthetic),
runs detection over just those parts, reports each rule and hands the health alerts of newly failing
rules to the `health` queue; it exits 1 when any rule failed. `status` prints the canary's state:
the last run, each rule's last success and failure, each source's expected interval and silence.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from watchfloor.api.canary import HealthHandoff, canary_monitor
from watchfloor.cli.common import echo_json, settings_of
from watchfloor.detect import CanaryState, RuleError
from watchfloor.store import open_store

__all__ = ["canary"]


@click.group()
def canary() -> None:
    """Canaries: synthetic events that prove rules still alert, and silent-source checks."""


@canary.command("run")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def canary_run(ctx: click.Context, as_json: bool) -> None:
    """Inject every rule's positive samples now, detect over them, report pass or fail per rule."""
    settings = settings_of(ctx)
    monitor = canary_monitor(settings, open_store(settings.events_dir), synchronous=True)
    injection, results, health = monitor.run_once(dt.datetime.now(dt.UTC))
    if health:
        handoff = HealthHandoff(settings)
        try:
            handoff(health)
        finally:
            handoff.close()
    failed = [r for r in results if not r.passed]
    if as_json:
        echo_json(
            {
                "run_id": injection.run_id,
                "events": injection.events,
                "parts": list(injection.parts),
                "rules": [r.as_dict() for r in results],
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "health_alerts": [a.rule_id for a in health],
            }
        )
    else:
        for result in results:
            mark = "PASS" if result.passed else "FAIL"
            why = f"  ({result.reason})" if result.reason else ""
            click.echo(f"{mark}  {result.rule_id}  {result.title}{why}")
        click.echo(
            f"canary {injection.run_id}: {len(results)} rules, {len(results) - len(failed)} passed, "
            f"{len(failed)} failed; {injection.events} synthetic events; "
            f"{len(health)} health alerts raised"
        )
    if failed:
        names = ", ".join(r.rule_id for r in failed[:3]) + (", ..." if len(failed) > 3 else "")
        raise RuleError(f"{len(failed)} of {len(results)} canaries failed: {names}")


def _status(state: CanaryState) -> dict[str, Any]:
    doc = state.to_json()
    return {
        "last_run": doc["last_run"],
        "last_run_at": doc["last_run_at"],
        "pending": doc["pending"]["run_id"] if doc["pending"] else None,
        "last_results": doc["last_results"],
        "rules": doc["rules"],
        "sources": doc["sources"],
        "log": doc["log"][-50:],
    }


@canary.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def canary_status(ctx: click.Context, as_json: bool) -> None:
    """Show the canary's record: last run, each rule's state, each source's silence."""
    settings = settings_of(ctx)
    doc = _status(CanaryState.read(settings.data_dir / "canary" / "state.json"))
    if as_json:
        echo_json(doc)
        return
    click.echo(f"last run: {doc['last_run'] or 'never'} at {doc['last_run_at'] or '-'}")
    for rule_id, record in doc["rules"].items():
        state = "FAILING" if record["failing"] else "ok"
        detail = f"  ({record['reason']})" if record["failing"] else ""
        click.echo(
            f"{state:<8} {rule_id}  {record['title']}  last success {record['last_success'] or '-'}, "
            f"last failure {record['last_failure'] or '-'}{detail}"
        )
    for name, record in doc["sources"].items():
        expected = f"{record['expected']:g}s" if record["expected"] is not None else "unknown"
        state = "SILENT" if record["silent_since"] else "ok"
        click.echo(
            f"{state:<8} source {name}  expected every {expected} "
            f"({'learned' if record['learned'] else 'configured'}), last part {record['last_part']}"
        )
