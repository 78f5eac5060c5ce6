"""`watchfloor tokens create|list|revoke`: the API tokens the incident routes accept.

A token is created for a user with scopes (`read`, `write`, `admin`) and printed once: only its
SHA-256 is stored, so a lost token is revoked and replaced, never recovered. The acting user (`--as`,
else `$WATCHFLOOR_USER`, else the operating-system user) must be an admin to create or revoke tokens of
others, or to grant `admin`; each creation and revocation is an audit entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from watchfloor.cases.tokens import SCOPES, TokenView, create_token, list_tokens, revoke_token
from watchfloor.cases.views import jsonable
from watchfloor.cli.case_options import acting_actor, case_options, case_session
from watchfloor.cli.common import echo_json

__all__ = ["tokens"]

F = TypeVar("F", bound=Callable[..., Any])


def _line(token: TokenView) -> str:
    state = "active" if token.active else f"revoked {token.revoked_at:%Y-%m-%d %H:%M} by {token.revoked_by}"
    return (
        f"{token.id:<14} {token.username:<16} {','.join(token.scopes):<16} "
        f"{token.created_at:%Y-%m-%d %H:%M}  {state:<12} {token.name}"
    )


def _as_dict(token: TokenView) -> dict[str, Any]:
    return {**jsonable(token), "role": token.role.value, "active": token.active}


@click.group()
def tokens() -> None:
    """API tokens: created for a user with scopes, shown once, revocable."""


@tokens.command("create")
@click.option("--user", "username", required=True, help="The user the token acts as.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(SCOPES),
    help="read, write or admin (repeatable; admin implies the others).",
)
@click.option("--name", default="", help="What the token is for (shown in listings).")
@case_options
@click.pass_context
def create_command(
    ctx: click.Context,
    username: str,
    scopes: tuple[str, ...],
    name: str,
    as_user: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Create a token and print it once (it cannot be shown again)."""
    with case_session(ctx, db_url) as session:
        issued = create_token(session, acting_actor(session, as_user), username, scopes, name)
    if as_json:
        echo_json({**_as_dict(issued.token), "token": issued.secret})
        return
    click.echo(issued.secret)
    click.echo(
        f"token {issued.token.id} for {username} ({', '.join(issued.token.scopes)}): "
        "store it now, it is not shown again",
        err=True,
    )


@tokens.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
@case_options
@click.pass_context
def list_command(
    ctx: click.Context, username: str | None, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """List tokens (never their secrets), revoked ones included."""
    with case_session(ctx, db_url) as session:
        rows = list_tokens(session, username)
    if as_json:
        echo_json([_as_dict(row) for row in rows])
        return
    for row in rows:
        click.echo(_line(row))
    click.echo(f"({len(rows)} token{'s' if len(rows) != 1 else ''})")


@tokens.command("revoke")
@click.argument("token_id")
@case_options
@click.pass_context
def revoke_command(
    ctx: click.Context, token_id: str, as_user: str | None, db_url: str | None, as_json: bool
) -> None:
    """Revoke a token by its id: requests with it are refused (401) from now on."""
    with case_session(ctx, db_url) as session:
        view = revoke_token(session, acting_actor(session, as_user), token_id)
    if as_json:
        echo_json(_as_dict(view))
    else:
        click.echo(f"revoked {view.id} ({view.username})")
