"""Command-line commands for incident management: `incidents ...`, `audit verify`, `users`, `criticality`.

Click objects attached to the main `watchfloor` group in `watchfloor.cli.app`. Each command opens the
incident database (`--db URL`, else `$WATCHFLOOR_DB`, else SQLite in the data directory), acts as the
user named by `--as` (else `$WATCHFLOOR_USER`, else the operating-system user), and prints text or, with
`--json`, JSON. Failures are `WatchfloorError`s, which the entry point prints as one line.

Updates accept `--expect-version N` so that a script which read an incident can refuse to overwrite a
newer change (exit 1 with a conflict); without it the command acts on the incident as it is now.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from watchfloor.cases import (
    Actor,
    FidelityPolicy,
    IncidentFilter,
    IncidentSummary,
    NotFound,
    Role,
    acknowledge,
    add_comment,
    add_user,
    assign,
    close,
    contain,
    deescalate,
    escalate,
    investigate,
    list_criticality,
    list_incidents,
    list_users,
    remediate,
    reopen,
    set_criticality,
    show_incident,
    verify,
)
from watchfloor.cases.views import jsonable
from watchfloor.cli.case_options import acting_actor, case_options, case_session, default_user
from watchfloor.cli.common import settings_of
from watchfloor.errors import WatchfloorError

__all__ = ["audit", "criticality", "incidents", "users"]

F = TypeVar("F", bound=Callable[..., Any])


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


def _line(item: IncidentSummary) -> str:
    who = item.assignee or "-"
    return (
        f"#{item.id:<6} {item.state:<13} tier{item.tier} {item.queue:<8} {item.severity:<13} "
        f"{who:<12} {item.alert_count:>4} alerts  v{item.version}  {item.title}"
    )


def _done(as_json: bool, item: IncidentSummary, message: str) -> None:
    if as_json:
        _echo_json(item)
    else:
        click.echo(f"{message}: {_line(item)}")


@click.group()
def incidents() -> None:
    """Work the incident queues: list, show, acknowledge, assign, escalate, close."""


@incidents.command("list")
@click.option("--state", "states", multiple=True, help="Only these states (default: every open state).")
@click.option("--tier", type=click.IntRange(1, 3), default=None)
@click.option("--queue", default=None)
@click.option("--severity", default=None, help="Minimum severity (informational .. critical).")
@click.option("--assignee", default=None)
@click.option("--sort", default="severity", show_default=True, help="severity, newest, oldest, last_alert.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0)
@click.option("--exercises", is_flag=True, help="List exercise incidents (left out otherwise).")
@case_options
@click.pass_context
def list_command(
    ctx: click.Context,
    states: tuple[str, ...],
    tier: int | None,
    queue: str | None,
    severity: str | None,
    assignee: str | None,
    sort: str,
    limit: int,
    offset: int,
    exercises: bool,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """List incidents in the queues, worst first."""
    wanted = IncidentFilter(states, tier, queue, severity, assignee, exercises, sort, limit, offset)
    with case_session(ctx, db_url) as session:
        rows = list_incidents(session, wanted)
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        click.echo(_line(row))
    click.echo(f"({len(rows)} incident{'s' if len(rows) != 1 else ''})")


@incidents.command("show")
@click.argument("incident_id", type=int)
@case_options
@click.pass_context
def show_command(
    ctx: click.Context, incident_id: int, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """Show one incident with its alerts, escalations, tasks and evidence."""
    with case_session(ctx, db_url) as session:
        detail = show_incident(session, incident_id)
    if as_json:
        _echo_json(detail)
        return
    click.echo(_line(detail.incident))
    for alert in detail.alerts:
        click.echo(
            f"  alert {alert.event_time:%Y-%m-%d %H:%M:%S} {alert.severity:<8} "
            f"{alert.rule_title} [{alert.uid}]"
        )
    for esc in detail.escalations:
        click.echo(
            f"  {esc.direction} tier{esc.from_tier}->tier{esc.to_tier} by {esc.actor}: {esc.handoff_note}"
        )
    for task in detail.tasks:
        click.echo(f"  task [{'x' if task.done else ' '}] {task.title}")
    for comment in detail.comments:
        click.echo(f"  comment {comment.author}: {comment.body}")


def _version_option(func: F) -> F:
    return click.option(
        "--expect-version",
        type=int,
        default=None,
        help="Refuse (conflict) unless the incident is at this version.",
    )(func)


@incidents.command("ack")
@click.argument("incident_id", type=int)
@_version_option
@case_options
@click.pass_context
def ack_command(
    ctx: click.Context,
    incident_id: int,
    expect_version: int | None,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Acknowledge a new incident (you become its assignee if it had none)."""
    with case_session(ctx, db_url) as session:
        row = acknowledge(session, acting_actor(session, as_user), incident_id, expect_version)
        item = IncidentSummary.of(row)
    _done(as_json, item, "acknowledged")


_STEPS: dict[str, Callable[[Session, Actor, int, int | None], Any]] = {
    "investigate": investigate,
    "contain": contain,
}


def _step_command(name: str) -> None:
    @incidents.command(name)
    @click.argument("incident_id", type=int)
    @_version_option
    @case_options
    @click.pass_context
    def command(
        ctx: click.Context,
        incident_id: int,
        expect_version: int | None,
        as_user: str | None,
        db_url: str | None,
        as_json: bool,
    ) -> None:
        with case_session(ctx, db_url) as session:
            row = _STEPS[name](session, acting_actor(session, as_user), incident_id, expect_version)
            item = IncidentSummary.of(row)
        _done(as_json, item, f"{item.state}")

    command.help = (
        f"Move the incident to {name} ({'investigating' if name == 'investigate' else 'contained'})."
    )


for _name in _STEPS:
    _step_command(_name)


@incidents.command("assign")
@click.argument("incident_id", type=int)
@click.option("--to", "to_user", default=None, help="User to assign to.")
@click.option("--queue", default=None, help="Or put it back in a queue of its tier.")
@_version_option
@case_options
@click.pass_context
def assign_command(
    ctx: click.Context,
    incident_id: int,
    to_user: str | None,
    queue: str | None,
    expect_version: int | None,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Assign an incident to a person (who may work its tier) or to a queue."""
    with case_session(ctx, db_url) as session:
        row = assign(session, acting_actor(session, as_user), incident_id, expect_version, to_user, queue)
        item = IncidentSummary.of(row)
    _done(as_json, item, "assigned")


def _tier_command(name: str, func: Callable[..., Any], help_text: str) -> None:
    @incidents.command(name, help=help_text)
    @click.argument("incident_id", type=int)
    @click.option("--to-tier", type=int, required=True)
    @click.option("--note", required=True, help="Handoff note for the receiving tier.")
    @click.option("--reason", default="", help="Why (defaults to the note).")
    @_version_option
    @case_options
    @click.pass_context
    def command(
        ctx: click.Context,
        incident_id: int,
        to_tier: int,
        note: str,
        reason: str,
        expect_version: int | None,
        as_user: str | None,
        db_url: str | None,
        as_json: bool,
    ) -> None:
        with case_session(ctx, db_url) as session:
            record = func(
                session, acting_actor(session, as_user), incident_id, expect_version, to_tier, note, reason
            )
            detail = show_incident(session, incident_id)
        if as_json:
            escalation = next(e for e in detail.escalations if e.id == record.id)
            _echo_json({"incident": detail.incident, "escalation": escalation})
        else:
            click.echo(f"{name}d tier{record.from_tier} -> tier{record.to_tier}: {_line(detail.incident)}")


_tier_command("escalate", escalate, "Escalate to a higher tier with a handoff note.")
_tier_command("deescalate", deescalate, "De-escalate to a lower tier with a handoff note.")


@incidents.command("remediate")
@click.argument("incident_id", type=int)
@click.option("--remediation", type=click.Choice(["manual", "automated"]), required=True)
@click.option("--action", "actions", multiple=True, help="An action taken (repeatable).")
@_version_option
@case_options
@click.pass_context
def remediate_command(
    ctx: click.Context,
    incident_id: int,
    remediation: str,
    actions: tuple[str, ...],
    expect_version: int | None,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Record that the threat was removed, manually or by automation."""
    with case_session(ctx, db_url) as session:
        row = remediate(
            session, acting_actor(session, as_user), incident_id, expect_version, remediation, actions
        )
        item = IncidentSummary.of(row)
    _done(as_json, item, "remediated")


@incidents.command("close")
@click.argument("incident_id", type=int)
@click.option(
    "--verdict", default=None, help="true_positive, benign_true_positive, false_positive_logic, ..."
)
@click.option("--remediation", type=click.Choice(["manual", "automated"]), default=None)
@click.option("--action", "actions", multiple=True, help="An action taken (repeatable).")
@click.option("--note", default="")
@_version_option
@case_options
@click.pass_context
def close_command(
    ctx: click.Context,
    incident_id: int,
    verdict: str | None,
    remediation: str | None,
    actions: tuple[str, ...],
    note: str,
    expect_version: int | None,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Close with a verdict and how it was remediated."""
    with case_session(ctx, db_url) as session:
        actor = acting_actor(session, as_user)
        policy = FidelityPolicy.from_config(settings_of(ctx).extra.get("fidelity"))
        row = close(session, actor, incident_id, expect_version, verdict, remediation, actions, note, policy)
        item = IncidentSummary.of(row)
    _done(as_json, item, "closed")


@incidents.command("reopen")
@click.argument("incident_id", type=int)
@click.option("--reason", required=True)
@_version_option
@case_options
@click.pass_context
def reopen_command(
    ctx: click.Context,
    incident_id: int,
    reason: str,
    expect_version: int | None,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Reopen a closed incident for more investigation."""
    with case_session(ctx, db_url) as session:
        row = reopen(session, acting_actor(session, as_user), incident_id, expect_version, reason)
        item = IncidentSummary.of(row)
    _done(as_json, item, "reopened")


@incidents.command("comment")
@click.argument("incident_id", type=int)
@click.argument("text")
@case_options
@click.pass_context
def comment_command(
    ctx: click.Context, incident_id: int, text: str, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """Add a comment."""
    with case_session(ctx, db_url) as session:
        view = add_comment(session, acting_actor(session, as_user), incident_id, text)
    if as_json:
        _echo_json(view)
    else:
        click.echo(f"comment {view.id} added to incident {incident_id}")


@click.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command("verify")
@case_options
@click.pass_context
def verify_command(ctx: click.Context, as_user: str | None, db_url: str | None, as_json: bool) -> None:
    """Recompute the hash chain; exit 1 naming the first broken entry."""
    with case_session(ctx, db_url) as session:
        result = verify(session)
    if as_json:
        _echo_json(result.as_dict())
    elif result.ok:
        click.echo(f"audit log intact: {result.entries} entries, last hash {result.last_hash}")
    if not result.ok:
        raise WatchfloorError(f"audit log broken at entry {result.broken_seq}: {result.reason}")


@click.group()
def users() -> None:
    """People who act on incidents (the first one added may be added by anyone)."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", "display_name", default="")
@case_options
@click.pass_context
def users_add(
    ctx: click.Context,
    username: str,
    role: str,
    display_name: str,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Add a user."""
    with case_session(ctx, db_url) as session:
        try:
            actor = acting_actor(session, as_user)
        except NotFound:
            actor = Actor(as_user or default_user(), Role.STAKEHOLDER)  # allowed only for the very first user
        view = add_user(session, actor, username, role, display_name)
    if as_json:
        _echo_json(view)
    else:
        click.echo(f"added {view.username} ({view.role.value})")


@users.command("list")
@case_options
@click.pass_context
def users_list(ctx: click.Context, as_user: str | None, db_url: str | None, as_json: bool) -> None:
    """List users."""
    with case_session(ctx, db_url) as session:
        rows = list_users(session)
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row.username:<20} {row.role.value:<20} {row.display_name}")


@click.group()
def criticality() -> None:
    """Assets and identities marked critical; business-critical ones route incidents to tier 2."""


@criticality.command("set")
@click.argument("entity_type", type=click.Choice(["host", "user", "ip", "process"]))
@click.argument("value")
@click.option("--level", default="business_critical", show_default=True)
@click.option("--service", "business_service", default="")
@case_options
@click.pass_context
def criticality_set(
    ctx: click.Context,
    entity_type: str,
    value: str,
    level: str,
    business_service: str,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Mark an asset or identity."""
    with case_session(ctx, db_url) as session:
        view = set_criticality(
            session, acting_actor(session, as_user), entity_type, value, level, business_service
        )
    if as_json:
        _echo_json(view)
    else:
        click.echo(f"{view.entity_type.value} {view.value} is {view.criticality.value}")


@criticality.command("list")
@case_options
@click.pass_context
def criticality_list(ctx: click.Context, as_user: str | None, db_url: str | None, as_json: bool) -> None:
    """List the criticality table."""
    with case_session(ctx, db_url) as session:
        rows = list_criticality(session)
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row.entity_type.value:<8} {row.value:<40} {row.criticality.value:<18} {row.business_service}"
        )
