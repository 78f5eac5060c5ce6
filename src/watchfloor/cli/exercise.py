"""`watchfloor exercise run|report|scenarios`: drills that replay attack telemetry through detection.

`run` takes a built-in scenario name or a folder (or file) of supported telemetry, and prints which
steps were detected, ATT&CK coverage and the drill's MTTA and MTTR (`--json` for the whole report).
The drill's incidents are exercise incidents: `watchfloor incidents list --exercises` shows them, the
real queues and `watchfloor metrics` do not.
"""

from __future__ import annotations

import click

from watchfloor.cli.case_options import db_option
from watchfloor.cli.common import echo_json, settings_of
from watchfloor.exercises import SCENARIOS, exercise_report, render, run_exercise

__all__ = ["exercise"]


@click.group()
def exercise() -> None:
    """Practise: replay attack telemetry as a drill, kept apart from real queues and metrics."""


@exercise.command("run")
@click.argument("scenario_or_path")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def run_command(ctx: click.Context, scenario_or_path: str, db_url: str | None, as_json: bool) -> None:
    """Replay SCENARIO_OR_PATH (a built-in scenario, or a folder of telemetry) and report the drill."""
    report = run_exercise(settings_of(ctx), scenario_or_path, db_url)
    if as_json:
        echo_json(report.as_dict())
        return
    for line in render(report):
        click.echo(line)


@exercise.command("report")
@click.argument("run_id")
@db_option
@click.pass_context
def report_command(ctx: click.Context, run_id: str, db_url: str | None) -> None:
    """Print a past drill's report (JSON) with its MTTA and MTTR recomputed now."""
    echo_json(exercise_report(settings_of(ctx), run_id, db_url))


@exercise.command("scenarios")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def scenarios_command(as_json: bool) -> None:
    """List the built-in scenarios and their steps."""
    if as_json:
        echo_json(
            {
                name: [{"step": s.name, "techniques": list(s.techniques)} for s in scenario.steps]
                for name, scenario in SCENARIOS.items()
            }
        )
        return
    for name, scenario in SCENARIOS.items():
        click.echo(f"{name}: {scenario.description}")
        for step in scenario.steps:
            click.echo(f"  {','.join(step.techniques):<10} {step.name}")
