"""What the commands that work on the incident database share: `--db`, `--as`, `--json`, a session.

One definition, so every command resolves the database (`--db`, else `$WATCHFLOOR_DB`, else SQLite in
the data directory) and the acting user (`--as`, else `$WATCHFLOOR_USER`, else the OS user) the same way.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from watchfloor.cases import Actor, actor_for, open_database
from watchfloor.cli.common import settings_of

__all__ = ["acting_actor", "case_options", "case_session", "db_option", "default_user"]

F = TypeVar("F", bound=Callable[..., Any])


def default_user() -> str:
    """The acting user when `--as` is not given: `$WATCHFLOOR_USER`, else the operating-system user."""
    return os.environ.get("WATCHFLOOR_USER") or getpass.getuser()


def db_option(func: F) -> F:
    """`--db URL` (envvar `WATCHFLOOR_DB`) as `db_url`."""
    return click.option(
        "--db",
        "db_url",
        envvar="WATCHFLOOR_DB",
        default=None,
        help="Incident database URL (default: $WATCHFLOOR_DB, else SQLite in the data directory).",
    )(func)


def case_options(func: F) -> F:
    """`--as`, `--db` and `--json`, on every command so they may follow the arguments."""
    func = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)
    func = db_option(func)
    return click.option(
        "--as",
        "as_user",
        default=None,
        help="Acting user (default: $WATCHFLOOR_USER, else the operating-system user).",
    )(func)


@contextmanager
def case_session(ctx: click.Context, db_url: str | None) -> Iterator[Session]:
    """One session on the installation's incident database, committed when the block succeeds."""
    database = open_database(db_url, settings_of(ctx).data_dir)
    try:
        with database.session() as session:
            yield session
    finally:
        database.close()


def acting_actor(session: Session, as_user: str | None) -> Actor:
    """The user a command acts as, checked against the users table."""
    return actor_for(session, as_user or default_user())
