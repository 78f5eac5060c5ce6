"""Command-line commands for response automation: `playbooks ...` and `runbooks ...`.

`playbooks list|test|run|runs|show|approve|cancel|recover` and `runbooks list|from-incident`. Commands
that act name the acting user with `--as` (else `$WATCHFLOOR_USER`, else the operating-system user) on
the incident database given by `--db` (else `$WATCHFLOOR_DB`, else SQLite in the data directory).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from watchfloor.cases import Database, actor_for, open_database
from watchfloor.cli.common import echo_json, settings_of
from watchfloor.config import Settings
from watchfloor.respond import (
    RespondError,
    Runner,
    RunView,
    approve,
    cancel,
    list_runbooks,
    list_runs,
    load_playbooks,
    playbooks_dir,
    queue_run,
    resume_interrupted,
    runbook_from_incident,
    show_run,
    test_playbook,
)
from watchfloor.respond.environment import environment_for
from watchfloor.respond.testing import recorded_alerts

__all__ = ["playbooks", "runbooks"]

F = TypeVar("F", bound=Callable[..., Any])


def _db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_url",
        envvar="WATCHFLOOR_DB",
        default=None,
        help="Incident database URL (default: $WATCHFLOOR_DB, else SQLite in the data directory).",
    )(func)


def _as_option(func: F) -> F:
    return click.option("--as", "as_user", default=None, help="Acting user (default: $WATCHFLOOR_USER).")(
        func
    )


def _user(as_user: str | None) -> str:
    return as_user or os.environ.get("WATCHFLOOR_USER") or getpass.getuser()


@contextmanager
def _database(settings: Settings, db_url: str | None) -> Iterator[Database]:
    database = open_database(db_url or settings.db, settings.data_dir)
    try:
        yield database
    finally:
        database.close()


@contextmanager
def _session(settings: Settings, db_url: str | None) -> Iterator[Session]:
    with _database(settings, db_url) as database, database.session() as session:
        yield session


def _echo_run(run: RunView) -> None:
    where = f"incident #{run.incident_id}" if run.incident_id is not None else "no incident"
    dry = " (dry run)" if run.dry_run else ""
    click.echo(f"run {run.id} {run.playbook} v{run.version} on {where}: {run.state}{dry}")
    if run.reason:
        click.echo(f"  reason: {run.reason}")
    for step in run.steps:
        took = f" {step.seconds:.2f}s" if step.seconds is not None else ""
        click.echo(f"  [{step.state:<9}] {step.step_id} ({step.kind}) attempts {step.attempts}{took}")
        if step.error:
            click.echo(f"      error: {step.error}")
        for key, value in step.outputs.items():
            shown = f"{len(value)} items" if isinstance(value, list) else str(value)
            click.echo(f"      {key}: {shown[:300]}")


@click.group()
def playbooks() -> None:
    """Response playbooks: list, test (dry run), run on an incident, approve, and their runs."""


@playbooks.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """The built-in playbooks and the installation's (DATA_DIR/playbooks)."""
    found = load_playbooks(settings_of(ctx).data_dir)
    if as_json:
        echo_json(
            {
                "playbooks": [p.as_dict() for p in found.playbooks.values()],
                "errors": [str(e) for e in found.errors],
            }
        )
    else:
        for playbook in found.playbooks.values():
            steps = len(playbook.all_steps())
            alone = ", may act alone" if playbook.allow_unattended else ""
            click.echo(
                f"{playbook.name:<28} v{playbook.version:<3} on {playbook.trigger.on.value:<17} "
                f"{steps} steps{alone}  [{playbook.source}]"
            )
        for error in found.errors:
            click.echo(f"error: {error}", err=True)
    if found.errors:
        raise RespondError(f"{len(found.errors)} playbook file(s) do not load")


@playbooks.command("test")
@click.argument("name", required=False)
@_db_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def test_command(ctx: click.Context, name: str | None, db_url: str | None, as_json: bool) -> None:
    """Dry-run playbooks on recorded alerts (else their samples); exit 1 if a step fails."""
    settings = settings_of(ctx)
    found = load_playbooks(settings.data_dir)
    chosen = [found.get(name)] if name else list(found.playbooks.values())
    with _session(settings, db_url) as session:
        recorded = recorded_alerts(session)
    env = environment_for(settings)
    reports = [test_playbook(playbook, recorded, env) for playbook in chosen]
    if as_json:
        echo_json([r.as_dict() for r in reports])
    else:
        for report in reports:
            verdict = "ok" if report.ok else "FAILED"
            click.echo(
                f"== {report.playbook} v{report.version}: {verdict} (alerts from {report.alerts_from})"
            )
            if report.note:
                click.echo(f"  {report.note}")
            for run in report.runs:
                _echo_run(run)
    failed = [r.playbook for r in reports if not r.ok]
    if failed or found.errors:
        raise RespondError(f"playbook test failed: {', '.join(failed) or 'broken playbook files'}")


@playbooks.command("run")
@click.argument("name")
@click.option("--incident", "incident_id", type=int, required=True)
@click.option(
    "--dry-run", is_flag=True, help="Call no connector and change no incident; show what would be done."
)
@_as_option
@_db_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def run_command(
    ctx: click.Context,
    name: str,
    incident_id: int,
    dry_run: bool,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Run one playbook on one incident now."""
    settings = settings_of(ctx)
    found = load_playbooks(settings.data_dir)
    playbook = found.get(name)
    with _database(settings, db_url) as database:
        with database.session() as session:
            actor = actor_for(session, _user(as_user))
            run_id = queue_run(session, playbook, incident_id, "manual", actor.username, dry_run).id
        view = Runner(database, found, environment_for(settings)).execute(run_id)
    if as_json:
        echo_json(view.as_dict())
    else:
        _echo_run(view)
    if view.state == "failed":
        raise RespondError(f"run {view.id} failed: {view.reason}")


@playbooks.command("runs")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--playbook", default=None)
@_db_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs_command(
    ctx: click.Context, limit: int, playbook: str | None, db_url: str | None, as_json: bool
) -> None:
    """The newest runs with their state and reason."""
    with _session(settings_of(ctx), db_url) as session:
        runs = list_runs(session, limit, playbook)
    if as_json:
        echo_json([r.as_dict() for r in runs])
        return
    for run in runs:
        reason = f"  {run.reason}" if run.reason else ""
        on = f"#{run.incident_id}" if run.incident_id is not None else "-"
        click.echo(f"{run.id:>6} {run.state:<17} {run.playbook} v{run.version} {on} {run.trigger}{reason}")


@playbooks.command("show")
@click.argument("run_id", type=int)
@_db_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show_command(ctx: click.Context, run_id: int, db_url: str | None, as_json: bool) -> None:
    """One run, step by step: attempts, outputs, errors, timings."""
    with _session(settings_of(ctx), db_url) as session:
        run = show_run(session, run_id)
    if as_json:
        echo_json(run.as_dict())
    else:
        _echo_run(run)


@playbooks.command("approve")
@click.argument("run_id", type=int)
@_as_option
@_db_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def approve_command(
    ctx: click.Context, run_id: int, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """Approve the step a run waits on (tier 2 or above), then let the run continue."""
    settings = settings_of(ctx)
    found = load_playbooks(settings.data_dir)
    with _database(settings, db_url) as database:
        with database.session() as session:
            approve(session, actor_for(session, _user(as_user)), run_id)
        view = Runner(database, found, environment_for(settings)).execute(run_id)
    if as_json:
        echo_json(view.as_dict())
    else:
        _echo_run(view)


@playbooks.command("cancel")
@click.argument("run_id", type=int)
@click.option("--reason", required=True)
@_as_option
@_db_option
@click.pass_context
def cancel_command(
    ctx: click.Context, run_id: int, reason: str, as_user: str | None, db_url: str | None
) -> None:
    """Cancel a pending run or one waiting for approval."""
    with _session(settings_of(ctx), db_url) as session:
        view = cancel(session, actor_for(session, _user(as_user)), run_id, reason)
    _echo_run(view)


@playbooks.command("recover")
@_db_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def recover_command(ctx: click.Context, db_url: str | None, as_json: bool) -> None:
    """After a crash: resume runs left running (idempotent step in flight) or fail them, then run pending."""
    settings = settings_of(ctx)
    found = load_playbooks(settings.data_dir)
    with _database(settings, db_url) as database:
        with database.session() as session:
            recovered = resume_interrupted(session)
        views = Runner(database, found, environment_for(settings)).run_pending()
    if as_json:
        echo_json(
            {
                "recovered": [
                    {"run_id": r.run_id, "state": r.state.value, "reason": r.reason} for r in recovered
                ],
                "runs": [v.as_dict() for v in views],
            }
        )
        return
    for item in recovered:
        click.echo(f"run {item.run_id}: {item.state.value} ({item.reason})")
    for view in views:
        _echo_run(view)


@click.group()
def runbooks() -> None:
    """Runbooks for tier 1: task lists attached to rules, made from resolved incidents."""


@runbooks.command("list")
@_db_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runbooks_list(ctx: click.Context, db_url: str | None, as_json: bool) -> None:
    """Task templates by the rule, technique or `any` they attach to."""
    with _session(settings_of(ctx), db_url) as session:
        books = list_runbooks(session)
    if as_json:
        echo_json([b.as_dict() for b in books])
        return
    for book in books:
        click.echo(f"{book.match_kind} {book.match_value or '*'}:")
        for index, title in enumerate(book.tasks, 1):
            click.echo(f"  {index}. {title}")


@runbooks.command("from-incident")
@click.argument("incident_id", type=int)
@click.option("--name", required=True, help="Runbook (or playbook) name.")
@click.option("--playbook", "as_playbook", is_flag=True, help="Write a playbook skeleton instead.")
@_as_option
@_db_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runbooks_from_incident(
    ctx: click.Context,
    incident_id: int,
    name: str,
    as_playbook: bool,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Turn a resolved incident's tasks into a runbook for its rule (tier 2 or above)."""
    settings = settings_of(ctx)
    folder = playbooks_dir(settings.data_dir) if as_playbook else None
    with _session(settings, db_url) as session:
        result = runbook_from_incident(session, actor_for(session, _user(as_user)), incident_id, name, folder)
    if as_json:
        echo_json(result.as_dict())
        return
    where = f"playbook skeleton {result.playbook_path}" if result.playbook_path else "task templates"
    click.echo(f"runbook {name} for rule {result.rule_id}: {len(result.tasks)} tasks as {where}")
