"""How long a clock ran: wall-clock seconds, or only the business hours between two instants.

Business time is counted day by day in the configured zone: each working day contributes the overlap of
its window (for example 09:00 to 17:00 local) with the interval. The window's ends are converted to UTC
per day, so a day on which daylight saving changes is still exactly its local hours.
"""

from __future__ import annotations

import datetime as dt

from watchfloor.metrics.config import BusinessHours

__all__ = ["business_seconds", "elapsed"]


def business_seconds(start: dt.datetime, end: dt.datetime, hours: BusinessHours) -> float:
    """Seconds of business time in [start, end); 0 when end is not after start."""
    if end <= start:
        return 0.0
    zone = hours.zone
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date() + dt.timedelta(days=1)
    total = 0.0
    while day <= last:
        if day.weekday() in hours.days:
            opens = dt.datetime.combine(day, hours.start, zone).astimezone(dt.UTC)
            closes = dt.datetime.combine(day, hours.end, zone).astimezone(dt.UTC)
            overlap = (min(end, closes) - max(start, opens)).total_seconds()
            total += max(0.0, overlap)
        day += dt.timedelta(days=1)
    return total


def elapsed(start: dt.datetime, end: dt.datetime, hours: BusinessHours | None) -> float:
    """Seconds from start to end: all of them, or only business ones when `hours` is given."""
    if hours is not None:
        return business_seconds(start, end, hours)
    return max(0.0, (end - start).total_seconds())
