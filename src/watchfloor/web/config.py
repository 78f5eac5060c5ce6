"""The console's settings: session lifetimes and throttling from `[auth]`, SLA targets from `[metrics]`.

    [auth]
    session_idle = "30m"        # a session unused this long ends
    session_absolute = "12h"    # and every session ends this long after login
    throttle_free_failures = 5  # failed logins per (account, address) before waits start
    throttle_max_delay = "15m"  # the doubling wait stops growing here

Durations use the metrics syntax (`15m`, `4h`, `2d`). The clock is a field so tests can move time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from watchfloor.cases.models import utcnow
from watchfloor.cases.sessions import AuthPolicy
from watchfloor.config import Settings
from watchfloor.errors import ConfigError, Location
from watchfloor.metrics import MetricsConfig, parse_duration

__all__ = ["ConsoleConfig", "auth_policy"]


def auth_policy(table: Mapping[str, Any] | None) -> AuthPolicy:
    """The `[auth]` table as an `AuthPolicy`; anything missing keeps its default."""
    table = dict(table or {})
    base = AuthPolicy()
    idle = (
        parse_duration(table["session_idle"], "auth.session_idle") if "session_idle" in table else base.idle
    )
    absolute = (
        parse_duration(table["session_absolute"], "auth.session_absolute")
        if "session_absolute" in table
        else base.absolute
    )
    free = table.get("throttle_free_failures", base.free_failures)
    if not isinstance(free, int) or isinstance(free, bool) or free < 0:
        raise ConfigError("must be a whole number, 0 or more", Location(field="auth.throttle_free_failures"))
    cap = (
        parse_duration(table["throttle_max_delay"], "auth.throttle_max_delay")
        if "throttle_max_delay" in table
        else base.max_delay
    )
    if absolute < idle:
        raise ConfigError("session_absolute must be at least session_idle", Location(field="auth"))
    return AuthPolicy(idle=idle, absolute=absolute, free_failures=free, max_delay=cap)


@dataclass(slots=True)
class ConsoleConfig:
    """What the console and the session checks read; resolved once from the settings."""

    policy: AuthPolicy
    metrics: MetricsConfig
    clock: Callable[[], dt.datetime] = field(default=utcnow)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleConfig:
        """From watchfloor.toml's `[auth]` and `[metrics]` tables."""
        return cls(
            auth_policy(settings.extra.get("auth")), MetricsConfig.from_config(settings.extra.get("metrics"))
        )

    def now(self) -> dt.datetime:
        """The current time as every session check sees it."""
        return self.clock()
