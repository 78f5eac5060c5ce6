"""`watchfloor setup` and `watchfloor users set-password`: console passwords from the command line.

`setup` creates the installation's first administrator with a random one-time password, printed this
once and never stored in clear; the console makes them choose their own at first login. It refuses
once an administrator can log in, so running it again can never reset anyone. `users set-password`
lets an administrator give a user a new one-time password (or a chosen one, read from a prompt or from
standard input, never from the command line where `ps` and shell history would see it).
"""

from __future__ import annotations

import getpass
import os
import sys

import click

from watchfloor.cases import actor_for, open_database
from watchfloor.cases.models import utcnow
from watchfloor.cases.passwords import bootstrap_admin, set_password
from watchfloor.cases.sessions import end_user_sessions
from watchfloor.cli.common import settings_of

__all__ = ["set_password_command", "setup"]

_DB_OPTION = click.option(
    "--db",
    "db_url",
    envvar="WATCHFLOOR_DB",
    default=None,
    help="Incident database URL (default: $WATCHFLOOR_DB, else SQLite in the data directory).",
)


@click.command()
@click.option("--admin", "username", default="admin", show_default=True, help="The administrator's name.")
@_DB_OPTION
@click.pass_context
def setup(ctx: click.Context, username: str, db_url: str | None) -> None:
    """Create the first administrator and print their one-time password (once)."""
    database = open_database(db_url, settings_of(ctx).data_dir)
    try:
        with database.session() as session:
            password = bootstrap_admin(session, username)
    finally:
        database.close()
    click.echo(f"administrator: {username}")
    click.echo(f"one-time password: {password}")
    click.echo("it is shown only now; log in to the console and choose your own password")


@click.command("set-password")
@click.argument("username")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the new password from standard input.")
@click.option("--prompt", "from_prompt", is_flag=True, help="Type the new password (not echoed).")
@click.option("--as", "as_user", default=None, help="Acting administrator (default: $WATCHFLOOR_USER).")
@_DB_OPTION
@click.pass_context
def set_password_command(
    ctx: click.Context,
    username: str,
    from_stdin: bool,
    from_prompt: bool,
    as_user: str | None,
    db_url: str | None,
) -> None:
    """Give USERNAME a new password: a printed one-time password unless --stdin or --prompt."""
    chosen: str | None = None
    if from_stdin:
        chosen = sys.stdin.readline().rstrip("\n")
    elif from_prompt:
        chosen = click.prompt("new password", hide_input=True, confirmation_prompt=True)
    database = open_database(db_url, settings_of(ctx).data_dir)
    try:
        with database.session() as session:
            actor = actor_for(session, as_user or os.environ.get("WATCHFLOOR_USER") or getpass.getuser())
            generated = set_password(session, actor, username, chosen, must_change=chosen is None)
            ended = end_user_sessions(session, username, utcnow(), "password_reset")
    finally:
        database.close()
    if ended:
        click.echo(f"ended {ended} console session(s) of {username}")
    if generated is not None:
        click.echo(f"one-time password for {username}: {generated}")
        click.echo("it is shown only now; it must be changed at the first login")
    else:
        click.echo(f"password set for {username}")
