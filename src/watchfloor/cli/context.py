"""`watchfloor context import|list|resolve`: the business context incidents are prioritised by.

`import` reads a CSV or JSON file of assets, identities or business services; a file with any problem
imports nothing and every problem is printed with its file, line and field. `resolve` shows which
record a host name, address or user name from an event resolves to, and how it matched.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import click

from watchfloor.cases import actor_for, context_index, import_context, list_context
from watchfloor.cases.context_records import kind_of, record_fields, resolution_fields
from watchfloor.cli.case_options import case_session, db_option
from watchfloor.cli.common import echo_json
from watchfloor.context import (
    CRITICALITY_NAMES,
    Asset,
    BusinessService,
    ContextError,
    ContextKind,
    ContextRecord,
    Identity,
    parse_context,
)

__all__ = ["context"]

_KINDS = click.Choice([k.value for k in ContextKind])


def _describe(item: ContextRecord) -> str:
    level = CRITICALITY_NAMES[item.criticality]
    if isinstance(item, Asset):
        marks = " crown-jewel" if item.crown_jewel else ""
        where = ",".join(item.addresses) or "-"
        return (
            f"asset    {item.key:<32} {level:<8} data {item.sensitivity} {item.exposure.value:<8} "
            f"{where:<22} {item.service or '-'}{marks}"
        )
    if isinstance(item, Identity):
        marks = " VIP" if item.vip else ""
        return (
            f"identity {item.key:<32} {level:<8} data {item.sensitivity} "
            f"{','.join(item.aliases) or '-':<31} {item.service or '-'}{marks}"
        )
    assert isinstance(item, BusinessService)
    return f"service  {item.key:<32} {level:<8} owner {item.owner or '-'}  {item.description}"


@click.group()
def context() -> None:
    """Business context: assets, identities and services that set incident priority and tier."""


@context.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind", type=_KINDS, default=None, help="What the file holds (default: from its name/columns)."
)
@click.option("--as", "as_user", default=None, help="Acting user (default: $WATCHFLOOR_USER, else OS user).")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def import_command(
    ctx: click.Context, path: Path, kind: str | None, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """Import a CSV or JSON file of assets, identities or business services (all or nothing)."""
    result = parse_context(path, ContextKind(kind) if kind else None)
    if result.errors:
        for problem in result.errors:
            click.echo(f"  {problem}", err=True)
        raise ContextError(f"{len(result.errors)} problem(s) in {path}; nothing imported", None)
    user = as_user or os.environ.get("WATCHFLOOR_USER") or getpass.getuser()
    with case_session(ctx, db_url) as session:
        summary = import_context(session, actor_for(session, user), result)
    if as_json:
        echo_json(summary.as_dict())
        return
    click.echo(
        f"{summary.kind.value}: {summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged from {path}"
    )


@context.command("list")
@click.option("--kind", type=_KINDS, default=None, help="Only this kind.")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(ctx: click.Context, kind: str | None, db_url: str | None, as_json: bool) -> None:
    """List the stored assets, identities and services."""
    with case_session(ctx, db_url) as session:
        records = list_context(session, ContextKind(kind) if kind else None)
    if as_json:
        echo_json([{"kind": kind_of(r).value, **record_fields(r)} for r in records])
        return
    for item in records:
        click.echo(_describe(item))
    click.echo(f"({len(records)} record{'s' if len(records) != 1 else ''})")


@context.command("resolve")
@click.argument("value")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def resolve_command(ctx: click.Context, value: str, db_url: str | None, as_json: bool) -> None:
    """Show which asset, identity or service a host name, address or user name resolves to."""
    with case_session(ctx, db_url) as session:
        found = context_index(session).resolve(value)
    if as_json:
        echo_json([resolution_fields(r) for r in found])
        return
    if not found:
        raise ContextError(f"{value!r} resolves to no asset, identity or service")
    for match in found:
        click.echo(f"{match.entity_type.value} {value} → ({match.matched_by}) {_describe(match.record)}")
