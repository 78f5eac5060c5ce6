"""`watchfloor report targets`: business intelligence from the SOC's closed incidents."""

from __future__ import annotations

import click

from watchfloor.cases import render_targets_markdown, unexpected_targets
from watchfloor.cli.case_options import case_session
from watchfloor.cli.common import echo_json

__all__ = ["report"]


@click.group()
def report() -> None:
    """Reports for the business from what the SOC saw."""


@report.command("targets")
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print Markdown (the default is text).")
@click.option("--db", "db_url", envvar="WATCHFLOOR_DB", default=None, help="Incident database URL.")
@click.pass_context
def targets_command(
    ctx: click.Context, days: int, as_json: bool, as_markdown: bool, db_url: str | None
) -> None:
    """Entities attacks reached that were not thought valuable, and sensitive data touched."""
    with case_session(ctx, db_url) as session:
        found = unexpected_targets(session, days=days)
    if as_json:
        echo_json(found.as_dict())
        return
    if as_markdown:
        click.echo(render_targets_markdown(found))
        return
    click.echo(f"{found.incidents} true-positive incidents in the last {days} days")
    for title, rows in (
        ("unexpected targets", found.unexpected),
        ("sensitive data touched", found.sensitive),
    ):
        click.echo(f"{title}: {len(rows)}")
        for f in rows:
            click.echo(f"  {f.kind:<5} {f.value:<32} {f.reason}  incidents {list(f.incident_ids)}")
