"""Major-incident stakeholder communication: a plain-language template per audience, sent via channels.

Audiences are configured in `watchfloor.toml`:

    [major.audiences.executives]
    channel = "slack:exec-room"        # the [connectors.exec-room] Slack connector
    [major.audiences.legal]
    channel = "email:counsel@corp.example"   # the [major] email_connector, to this address
    template = "legal"                 # optional; default: the audience name, else `default`

A channel is `KIND:TARGET`. For `slack`, `teams`, `webhook` and `connector`, TARGET names a
`[connectors.NAME]` (its type must match the kind, except for `connector`); for `email`, TARGET is an
address and the message goes through the email connector named by `[major] email_connector` (or the
only one configured). Templates are Jinja2 text files, `<name>.txt.j2`, looked up first in
`DATA_DIR/templates/major/`, then in the package (`default`, `executives`, `legal`).

`post_update` records the update (`cases.record_update`), renders and sends one copy per audience, and
records each delivery, sent or failed, so a dead channel is visible on the stakeholder page and in the
review rather than lost. `send_reminders` tells the lead's channel which updates are overdue; the CLI
runs it with `major due --notify` (a timer under `watchfloor serve` can call it later).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy.orm import Session

from watchfloor.cases import Actor
from watchfloor.cases.major import (
    DueMajor,
    MajorView,
    UpdateText,
    UpdateView,
    due_majors,
    major_row,
    record_delivery,
    record_update,
    show_major,
)
from watchfloor.errors import ConfigError, Location
from watchfloor.respond.connectors import Connector, connectors_from_config
from watchfloor.respond.errors import RespondError
from watchfloor.respond.notify import EmailChannel

__all__ = [
    "SEND_TIMEOUT",
    "Audience",
    "CommsConfig",
    "post_update",
    "render_update",
    "send_reminders",
]

SEND_TIMEOUT = 15.0
_PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates" / "major"
_CHANNEL_KINDS = ("connector", "email", "slack", "teams", "webhook")


@dataclass(frozen=True, slots=True)
class Audience:
    """A stakeholder group: where its updates go and which template speaks to it."""

    name: str
    channel: str
    template: str


@dataclass(frozen=True, slots=True)
class CommsConfig:
    """The `[major]` table and the connectors, resolved once for a command."""

    audiences: Mapping[str, Audience]
    connectors: Mapping[str, Connector]
    connector_config: Mapping[str, Mapping[str, Any]]
    email_connector: str | None
    reminder_channel: str | None
    template_dir: Path | None

    @classmethod
    def from_settings(cls, extra: Mapping[str, Any], data_dir: Path | None = None) -> CommsConfig:
        """Read `[major]` and `[connectors]` from the settings' extra table; errors name the field."""
        section = extra.get("major") or {}
        if not isinstance(section, Mapping):
            raise ConfigError("[major] must be a table", Location(field="major"))
        raw = section.get("audiences") or {}
        if not isinstance(raw, Mapping):
            raise ConfigError(
                "[major.audiences] must be a table of tables", Location(field="major.audiences")
            )
        audiences: dict[str, Audience] = {}
        for name, table in raw.items():
            where = Location(field=f"major.audiences.{name}")
            if not isinstance(table, Mapping) or not table.get("channel"):
                raise ConfigError('an audience needs channel = "KIND:TARGET"', where)
            channel = str(table["channel"])
            if channel.split(":", 1)[0] not in _CHANNEL_KINDS or ":" not in channel:
                raise ConfigError(
                    f"channel {channel!r}: use one of {', '.join(_CHANNEL_KINDS)} then :TARGET", where
                )
            audiences[str(name)] = Audience(str(name), channel, str(table.get("template") or name))
        connectors = extra.get("connectors") or {}
        reminder = section.get("reminder_channel")
        return cls(
            audiences=audiences,
            connectors=connectors_from_config(extra),
            connector_config={str(k): v for k, v in connectors.items() if isinstance(v, Mapping)},
            email_connector=str(section["email_connector"]) if section.get("email_connector") else None,
            reminder_channel=str(reminder) if reminder else None,
            template_dir=data_dir / "templates" / "major" if data_dir is not None else None,
        )

    def channel(self, spec: str) -> Connector:
        """The connector a `KIND:TARGET` channel sends through."""
        kind, _, target = spec.partition(":")
        if kind == "email":
            return self._email(target)
        connector = self.connectors.get(target)
        if connector is None:
            raise ConfigError(
                f"channel {spec!r}: no [connectors.{target}]", Location(field=f"connectors.{target}")
            )
        configured = str(self.connector_config.get(target, {}).get("type") or "")
        if kind != "connector" and configured != kind:
            raise ConfigError(
                f"channel {spec!r}: [connectors.{target}] is of type {configured!r}, not {kind!r}",
                Location(field=f"connectors.{target}.type"),
            )
        return connector

    def _email(self, address: str) -> Connector:
        names = [n for n, c in self.connector_config.items() if c.get("type") == "email"]
        name = self.email_connector or (names[0] if len(names) == 1 else None)
        if name is None or name not in self.connector_config:
            raise ConfigError(
                "email audiences need [major] email_connector = NAME of an email connector",
                Location(field="major.email_connector"),
            )
        return EmailChannel.from_config(name, {**self.connector_config[name], "to": [address]})

    def environment(self) -> jinja2.Environment:
        """Templates from the data directory first, then the package's own."""
        paths = [str(p) for p in (self.template_dir, _PACKAGE_TEMPLATES) if p is not None]
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(paths),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain text for chat and mail, never HTML
            keep_trailing_newline=True,
        )


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_update(
    environment: jinja2.Environment, major: MajorView, update: UpdateView, audience: Audience
) -> tuple[str, str]:
    """The title and text one audience gets: its own template if there is one, else `default`."""
    template = environment.select_template([f"{audience.template}.txt.j2", "default.txt.j2"])
    text = template.render(
        major=major,
        update=update,
        text=update.text,
        audience=audience.name,
        next_update=_when(update.next_update_at),
        sent_at=_when(update.created_at),
    )
    prefix = "[EXERCISE] " if major.is_exercise else ""
    return f"{prefix}Major incident {major.id}: {major.title} (update {update.sequence})", text


def post_update(
    session: Session,
    actor: Actor,
    major_id: int,
    text: UpdateText,
    config: CommsConfig,
    *,
    next_in_minutes: int | None = None,
    now: dt.datetime | None = None,
) -> UpdateView:
    """Record an update, send one rendered copy to each audience, and record every delivery."""
    major_row(session, major_id)  # NotFound before anything is written
    update = record_update(session, actor, major_id, text, next_in_minutes=next_in_minutes, now=now)
    major = show_major(session, major_id).major
    environment = config.environment()
    for name in major.audiences:
        audience = config.audiences.get(name) or Audience(name, "", name)
        title, body = render_update(environment, major, update, audience)
        status, detail = "sent", ""
        try:
            if not audience.channel:
                raise ConfigError(f"no [major.audiences.{name}] channel configured")
            connector = config.channel(audience.channel)
            result = connector.execute(
                "send",
                {"title": title, "text": body, "facts": {"major": major.id, "update": update.sequence}},
                f"major-{major.id}-update-{update.id}-{name}",
                SEND_TIMEOUT,
            )
            detail = ", ".join(f"{k}={v}" for k, v in result.as_dict().items())
        except (RespondError, ConfigError) as exc:
            status, detail = "failed", str(exc)
        record_delivery(
            session,
            actor,
            update.id,
            audience=name,
            channel=audience.channel or "-",
            status=status,
            detail=detail,
            text=body,
            now=now,
        )
    return show_major(session, major_id).updates[-1]


def send_reminders(session: Session, config: CommsConfig, now: dt.datetime | None = None) -> list[DueMajor]:
    """Tell the `[major] reminder_channel` about every overdue update; returns the overdue ones."""
    due = due_majors(session, now)
    if due and config.reminder_channel:
        lines = [
            f"Major incident {d.major.id} ({d.major.title}): update overdue by "
            f"{int(d.overdue.total_seconds() // 60)} min"
            for d in due
        ]
        stamp = int((now or dt.datetime.now(dt.UTC)).timestamp() // 60)
        config.channel(config.reminder_channel).execute(
            "send",
            {"title": "Major-incident updates due", "text": "\n".join(lines)},
            f"major-reminder-{stamp}",
            SEND_TIMEOUT,
        )
    return due
