"""`watchfloor exercise tabletop run|injects|respond|report`: tabletop exercises for business participants.

Attached under `watchfloor exercise` in `watchfloor.cli.app`. `run` starts a run of a YAML scenario and
prints the timed injects; `injects` shows the ones due so far (read them out as the clock runs);
`respond` records a participant's decision; `report` prints the after-action report with gaps and
action items.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from watchfloor.cases import (
    after_action,
    due_injects,
    parse_tabletop,
    record_response,
    render_after_action,
    start_tabletop,
)
from watchfloor.cases.views import jsonable
from watchfloor.cli.case_options import acting_actor, case_options, case_session
from watchfloor.cli.common import echo_json

__all__ = ["tabletop"]


@click.group()
def tabletop() -> None:
    """Tabletop exercises: timed injects, participants' decisions, after-action report."""


@tabletop.command("run")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@case_options
@click.pass_context
def run_command(
    ctx: click.Context, path: Path, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """Start a tabletop run of the scenario at PATH and print its inject schedule."""
    scenario = parse_tabletop(path)
    with case_session(ctx, db_url) as session:
        run_id = start_tabletop(session, acting_actor(session, as_user), scenario)
    if as_json:
        echo_json({"run": run_id, "scenario": scenario.as_dict()})
        return
    start = dt.datetime.now(dt.UTC)
    click.echo(f"tabletop run {run_id}: {scenario.name}")
    for inject in scenario.injects:
        at = start + dt.timedelta(minutes=inject.at_minutes)
        click.echo(
            f"  inject {inject.number} at +{inject.at_minutes}m ({at:%H:%M} UTC) for {inject.audience}"
        )
        click.echo(f"    {inject.text}")


@tabletop.command("injects")
@click.argument("run_id", type=int)
@case_options
@click.pass_context
def injects_command(
    ctx: click.Context, run_id: int, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """The injects whose time has come, to read out to the participants."""
    with case_session(ctx, db_url) as session:
        due = due_injects(session, run_id)
    if as_json:
        echo_json(jsonable(due))
        return
    for inject in due:
        click.echo(f"inject {inject.number} (+{inject.at_minutes}m, {inject.audience}): {inject.text}")


@tabletop.command("respond")
@click.argument("run_id", type=int)
@click.option("--inject", type=int, required=True)
@click.option("--by", "by", required=True, help="The participant.")
@click.option("--decision", required=True)
@case_options
@click.pass_context
def respond_command(
    ctx: click.Context,
    run_id: int,
    inject: int,
    by: str,
    decision: str,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Record a participant's decision in answer to an inject."""
    with case_session(ctx, db_url) as session:
        record_response(
            session, acting_actor(session, as_user), run_id, inject=inject, participant=by, decision=decision
        )
    click.echo(f"recorded {by}'s decision on inject {inject}")


@tabletop.command("report")
@click.argument("run_id", type=int)
@case_options
@click.pass_context
def report_command(
    ctx: click.Context, run_id: int, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """The after-action report (Markdown): participation, decisions, gaps and action items."""
    with case_session(ctx, db_url) as session:
        found = after_action(session, run_id)
    echo_json(jsonable(found)) if as_json else click.echo(render_after_action(found))
