"""`watchfloor major ...`: declare a major incident, send stakeholder updates, track acks, review it.

Audiences and their channels come from `[major.audiences.NAME]` in `watchfloor.toml` (see
`watchfloor.respond.comms`). `major due` is the cadence reminder: it lists overdue updates and, with
`--notify`, posts them to `[major] reminder_channel`; run it from cron until `serve` runs it on a timer.
"""

from __future__ import annotations

import datetime as dt

import click

from watchfloor.cases import (
    InvalidInput,
    UpdateText,
    acknowledge_update,
    add_action,
    close_major,
    complete_action,
    declare_major,
    due_majors,
    list_majors,
    show_major,
    write_review,
)
from watchfloor.cases.views import jsonable
from watchfloor.cli.case_options import acting_actor, case_options, case_session
from watchfloor.cli.common import echo_json, settings_of
from watchfloor.metrics.config import parse_duration
from watchfloor.respond.comms import CommsConfig, post_update, send_reminders

__all__ = ["major"]


def _minutes(text: str, what: str) -> int:
    return int(parse_duration(text, what).total_seconds() // 60)


@click.group()
def major() -> None:
    """Major incidents: declare, update stakeholders on a cadence, acknowledge, close and review."""


@major.command("declare")
@click.option("--incident", "incident_ids", type=int, multiple=True, required=True)
@click.option("--title", required=True)
@click.option("--service", "services", multiple=True, help="Affected business service (repeatable).")
@click.option("--audience", "audiences", multiple=True, help="Audience of [major.audiences] (repeatable).")
@click.option("--cadence", default="60m", show_default=True, help="Update cadence (30m, 1h...).")
@case_options
@click.pass_context
def declare_command(
    ctx: click.Context,
    incident_ids: tuple[int, ...],
    title: str,
    services: tuple[str, ...],
    audiences: tuple[str, ...],
    cadence: str,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Declare a major incident over one or more incidents (tier 3)."""
    settings = settings_of(ctx)
    config = CommsConfig.from_settings(settings.extra, settings.data_dir)
    unknown = [a for a in audiences if a not in config.audiences]
    if unknown:
        raise InvalidInput(f"audience {', '.join(unknown)} has no [major.audiences.NAME] in watchfloor.toml")
    with case_session(ctx, db_url) as session:
        view = declare_major(
            session,
            acting_actor(session, as_user),
            incident_ids=incident_ids,
            title=title,
            services=services,
            audiences=audiences,
            cadence_minutes=_minutes(cadence, "--cadence"),
        )
    if as_json:
        echo_json(jsonable(view))
    else:
        click.echo(
            f"declared major incident {view.id}: {view.title}; first update due {view.next_update_due_at}"
        )


@major.command("update")
@click.argument("major_id", type=int)
@click.option("--what-happened", required=True)
@click.option("--impact", required=True)
@click.option("--doing", required=True)
@click.option("--need", default="")
@click.option("--next", "next_in", default=None, help="Next update in (default: the cadence).")
@case_options
@click.pass_context
def update_command(
    ctx: click.Context,
    major_id: int,
    what_happened: str,
    impact: str,
    doing: str,
    need: str,
    next_in: str | None,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Send an update to every audience of the major incident and record each delivery."""
    settings = settings_of(ctx)
    config = CommsConfig.from_settings(settings.extra, settings.data_dir)
    text = UpdateText(what_happened, impact, doing, need)
    minutes = _minutes(next_in, "--next") if next_in else None
    with case_session(ctx, db_url) as session:
        update = post_update(
            session, acting_actor(session, as_user), major_id, text, config, next_in_minutes=minutes
        )
    if as_json:
        echo_json(jsonable(update))
        return
    click.echo(f"update {update.id} (#{update.sequence}); next due {update.next_update_at}")
    for d in update.deliveries:
        click.echo(f"  {d.audience:<16} {d.status:<7} {d.channel} {d.detail}")


@major.command("ack")
@click.argument("update_id", type=int)
@click.option("--audience", required=True)
@click.option("--by", "by", required=True, help="Who of the audience read it.")
@case_options
@click.pass_context
def ack_command(
    ctx: click.Context,
    update_id: int,
    audience: str,
    by: str,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Record that an audience acknowledged an update."""
    with case_session(ctx, db_url) as session:
        delivery = acknowledge_update(
            session, acting_actor(session, as_user), update_id, audience=audience, by=by
        )
    if as_json:
        echo_json(jsonable(delivery))
    else:
        click.echo(f"update {update_id} acknowledged for {audience} by {delivery.acknowledged_by}")


@major.command("due")
@click.option("--notify", is_flag=True, help="Also post the reminder to [major] reminder_channel.")
@case_options
@click.pass_context
def due_command(
    ctx: click.Context, notify: bool, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """List major incidents whose next update is overdue (the cadence reminder)."""
    settings = settings_of(ctx)
    with case_session(ctx, db_url) as session:
        if notify:
            due = send_reminders(session, CommsConfig.from_settings(settings.extra, settings.data_dir))
        else:
            due = due_majors(session)
    if as_json:
        echo_json(
            [
                {"major": jsonable(d.major), "overdue_minutes": int(d.overdue.total_seconds() // 60)}
                for d in due
            ]
        )
        return
    for d in due:
        click.echo(
            f"major {d.major.id}: update overdue by {int(d.overdue.total_seconds() // 60)} min  "
            f"{d.major.title}"
        )
    click.echo(f"({len(due)} overdue)")


@major.command("list")
@click.option("--all", "include_closed", is_flag=True, help="Closed ones too.")
@case_options
@click.pass_context
def list_command(
    ctx: click.Context, include_closed: bool, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """List major incidents."""
    with case_session(ctx, db_url) as session:
        rows = list_majors(session, include_closed=include_closed)
    if as_json:
        echo_json(jsonable(rows))
        return
    for row in rows:
        click.echo(f"{row.id:<5} {row.state:<9} next {row.next_update_due_at or '-'}  {row.title}")


@major.command("close")
@click.argument("major_id", type=int)
@case_options
@click.pass_context
def close_command(
    ctx: click.Context, major_id: int, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """Close a major incident (tier 3); updates stop being due."""
    with case_session(ctx, db_url) as session:
        view = close_major(session, acting_actor(session, as_user), major_id)
    click.echo(f"major incident {view.id} closed") if not as_json else echo_json(jsonable(view))


@major.command("review")
@click.argument("major_id", type=int)
@click.option("--lessons", default="", help="Lessons learned (Markdown).")
@case_options
@click.pass_context
def review_command(
    ctx: click.Context, major_id: int, lessons: str, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """Write the post-incident review (Markdown) of a closed major incident and print it."""
    with case_session(ctx, db_url) as session:
        markdown = write_review(session, acting_actor(session, as_user), major_id, lessons=lessons)
    echo_json({"major": major_id, "review": markdown}) if as_json else click.echo(markdown)


@major.group("action")
def action() -> None:
    """Review action items: add, done."""


@action.command("add")
@click.argument("major_id", type=int)
@click.option("--owner", required=True)
@click.option("--due", type=click.DateTime(formats=["%Y-%m-%d"]), required=True)
@click.option("--text", required=True)
@case_options
@click.pass_context
def action_add_command(
    ctx: click.Context,
    major_id: int,
    owner: str,
    due: dt.datetime,
    text: str,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Add an action item with an owner and a due date."""
    with case_session(ctx, db_url) as session:
        item = add_action(
            session, acting_actor(session, as_user), major_id, owner=owner, due=due.date(), text=text
        )
    echo_json(jsonable(item)) if as_json else click.echo(
        f"action {item.id} added for {item.owner}, due {item.due}"
    )


@action.command("done")
@click.argument("action_id", type=int)
@case_options
@click.pass_context
def action_done_command(
    ctx: click.Context, action_id: int, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """Mark an action item done."""
    with case_session(ctx, db_url) as session:
        item = complete_action(session, acting_actor(session, as_user), action_id)
    echo_json(jsonable(item)) if as_json else click.echo(f"action {item.id} done")


@major.command("show")
@click.argument("major_id", type=int)
@case_options
@click.pass_context
def show_command(
    ctx: click.Context, major_id: int, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """Show a major incident with its updates, deliveries and action items."""
    with case_session(ctx, db_url) as session:
        detail = show_major(session, major_id)
    if as_json:
        echo_json(jsonable(detail))
        return
    m = detail.major
    click.echo(
        f"major {m.id} {m.state}: {m.title}  incidents {list(m.incident_ids)}  services {list(m.services)}"
    )
    for u in detail.updates:
        click.echo(f"  update {u.id} #{u.sequence} {u.created_at:%Y-%m-%d %H:%M} {u.text.what_happened}")
        for d in u.deliveries:
            click.echo(f"    {d.audience:<16} {d.status:<7} ack: {d.acknowledged_by or '-'}")
    for a in detail.actions:
        click.echo(f"  action {a.id} [{'x' if a.done else ' '}] {a.owner} due {a.due}: {a.text}")
