"""The `watchfloor` group and entry point.

Commands live in one module per area and are attached here. Errors from any layer arrive as
`WatchfloorError` and leave here, in one place, as a one-line reason on standard error and a non-zero
exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from watchfloor.cli import accounts as account_commands
from watchfloor.cli import canary as canary_commands
from watchfloor.cli import context as context_commands
from watchfloor.cli import detect as detect_commands
from watchfloor.cli import events as event_commands
from watchfloor.cli import exercise as exercise_commands
from watchfloor.cli import incidents as incident_commands
from watchfloor.cli import intel as intel_commands
from watchfloor.cli import major as major_commands
from watchfloor.cli import metrics as metric_commands
from watchfloor.cli import playbooks as playbook_commands
from watchfloor.cli import report as report_commands
from watchfloor.cli import tabletop as tabletop_commands
from watchfloor.cli import tokens as token_commands
from watchfloor.config import load_settings
from watchfloor.detect.patterns import use_compiled_cache
from watchfloor.errors import WatchfloorError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Installation data directory (default: $WATCHFLOOR_HOME, else ./.watchfloor).",
)
@click.version_option(package_name="watchfloor")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None) -> None:
    """Watchfloor: security operations from telemetry to remediation."""
    ctx.obj = load_settings(data_dir)
    use_compiled_cache(ctx.obj.data_dir / "cache" / "hyperscan")


for _command in (
    event_commands.ingest,
    event_commands.hunt,
    event_commands.sources,
    event_commands.formats,
    event_commands.retention,
    event_commands.serve,
    event_commands.demo,
    detect_commands.rules,
    detect_commands.detect,
    detect_commands.alerts,
    canary_commands.canary,
    incident_commands.incidents,
    incident_commands.audit,
    incident_commands.users,
    incident_commands.criticality,
    context_commands.context,
    exercise_commands.exercise,
    metric_commands.metrics,
    intel_commands.intel,
    token_commands.tokens,
    playbook_commands.playbooks,
    playbook_commands.runbooks,
    major_commands.major,
    report_commands.report,
):
    cli.add_command(_command)
cli.add_command(account_commands.setup)
incident_commands.users.add_command(account_commands.set_password_command)
exercise_commands.exercise.add_command(tabletop_commands.tabletop)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn Watchfloor errors into one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="watchfloor", standalone_mode=False)
    except WatchfloorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
