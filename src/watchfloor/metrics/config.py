"""Metrics configuration: SLA targets per severity, business hours, and where the MTTA clock starts.

Read from the `[metrics]` table of `watchfloor.toml` (reached through `Settings.extra`):

    [metrics]
    mtta_from = "opened"            # or "first_alert"
    business_hours_only = false     # count only business time in every clock

    [metrics.sla]
    critical = { ack = "15m", remediate = "4h" }

    [metrics.business_hours]
    days = ["mon", "tue", "wed", "thu", "fri"]
    start = "09:00"
    end = "17:00"
    timezone = "Europe/Berlin"

Severities not named keep the defaults in `DEFAULT_SLA`.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from watchfloor.cases import Severity
from watchfloor.errors import ConfigError, Location

__all__ = [
    "DAY_NAMES",
    "DEFAULT_SLA",
    "MTTA_STARTS",
    "BusinessHours",
    "MetricsConfig",
    "SlaTarget",
    "format_duration",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MTTA_STARTS = ("opened", "first_alert")


def parse_duration(text: str | int | float, where: str) -> dt.timedelta:
    """`"15m"`, `"4h"`, `"2d"`, `"1w"` or a number of seconds, as a timedelta."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        found = _DURATION.match(str(text))
        if found is None:
            raise ConfigError(f"invalid duration {text!r} (like 15m, 4h, 2d)", Location(field=where))
        seconds = float(found.group(1)) * _UNIT_SECONDS[found.group(2)]
    if seconds <= 0:
        raise ConfigError(f"duration {text!r} must be positive", Location(field=where))
    return dt.timedelta(seconds=seconds)


def format_duration(seconds: float | None) -> str:
    """A short human form of a number of seconds (`1h05m`, `42s`); `-` for none."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """How long an incident of one severity may wait for acknowledgement, and then for remediation."""

    ack: dt.timedelta
    remediate: dt.timedelta


def _sla(ack: str, remediate: str) -> SlaTarget:
    return SlaTarget(parse_duration(ack, "ack"), parse_duration(remediate, "remediate"))


DEFAULT_SLA: dict[Severity, SlaTarget] = {
    Severity.CRITICAL: _sla("15m", "4h"),
    Severity.HIGH: _sla("30m", "8h"),
    Severity.MEDIUM: _sla("4h", "24h"),
    Severity.LOW: _sla("8h", "3d"),
    Severity.INFORMATIONAL: _sla("24h", "7d"),
}


def _clock_time(text: Any, where: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(text))
    except ValueError:
        raise ConfigError(f"invalid time of day {text!r} (HH:MM)", Location(field=where)) from None


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """The working week: weekdays (0 = Monday) and a daily window in a time zone."""

    days: frozenset[int] = frozenset(range(5))
    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(17, 0)
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ConfigError("business hours must end after they start", Location(field="business_hours"))
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {self.timezone!r}", Location(field="timezone")) from None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The zone the window is read in (daylight saving included)."""
        return zoneinfo.ZoneInfo(self.timezone)

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> BusinessHours:
        """From `[metrics.business_hours]`: days (names), start, end, timezone."""
        names = [str(d).lower()[:3] for d in table.get("days", DAY_NAMES[:5])]
        bad = [n for n in names if n not in DAY_NAMES]
        if bad:
            raise ConfigError(f"unknown day(s) {', '.join(bad)}", Location(field="business_hours.days"))
        return cls(
            frozenset(DAY_NAMES.index(n) for n in names),
            _clock_time(table.get("start", "09:00"), "business_hours.start"),
            _clock_time(table.get("end", "17:00"), "business_hours.end"),
            str(table.get("timezone", "UTC")),
        )


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """Everything `compute_metrics` takes from configuration."""

    sla: Mapping[Severity, SlaTarget] = field(default_factory=lambda: dict(DEFAULT_SLA))
    business_hours: BusinessHours = field(default_factory=BusinessHours)
    business_hours_only: bool = False
    mtta_from: str = "opened"

    def __post_init__(self) -> None:
        if self.mtta_from not in MTTA_STARTS:
            known = ", ".join(MTTA_STARTS)
            raise ConfigError(f"unknown mtta_from {self.mtta_from!r} ({known})", Location(field="mtta_from"))

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> MetricsConfig:
        """From the `[metrics]` table; anything missing keeps its default."""
        table = dict(table or {})
        sla = dict(DEFAULT_SLA)
        for name, targets in dict(table.get("sla", {})).items():
            try:
                severity = Severity(str(name).lower())
            except ValueError:
                raise ConfigError(f"unknown severity {name!r}", Location(field="metrics.sla")) from None
            if not isinstance(targets, Mapping):
                raise ConfigError(
                    "expected {ack = ..., remediate = ...}", Location(field=f"metrics.sla.{name}")
                )
            base = sla[severity]
            sla[severity] = SlaTarget(
                parse_duration(targets["ack"], f"metrics.sla.{name}.ack") if "ack" in targets else base.ack,
                parse_duration(targets["remediate"], f"metrics.sla.{name}.remediate")
                if "remediate" in targets
                else base.remediate,
            )
        hours = BusinessHours.from_config(dict(table.get("business_hours", {})))
        return cls(
            sla, hours, bool(table.get("business_hours_only", False)), str(table.get("mtta_from", "opened"))
        )
