"""What every command module shares: the resolved settings and JSON printing."""

from __future__ import annotations

import json
from typing import Any

import click

from watchfloor.config import Settings

__all__ = ["echo_json", "settings_of"]


def settings_of(ctx: click.Context) -> Settings:
    """The `Settings` the top-level group resolved once (flags > environment > toml > defaults)."""
    settings: Settings = ctx.find_root().obj
    return settings


def echo_json(value: Any) -> None:
    """Print a JSON document for `--json` output (dates and paths as text)."""
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))
