"""Event times from the many ways producers write them, always to UTC microseconds."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["parse_time", "parse_times"]

_TS = pa.timestamp("us", tz="UTC")
_EPOCH = re.compile(r"^\d{9,10}(\.\d+)?$|^\d{12,19}$")
_EXTRA_FORMATS = (
    "%d/%b/%Y:%H:%M:%S %z",  # web servers
    "%b %d %Y %H:%M:%S",  # CEF rt
    "%m/%d/%Y %I:%M:%S %p",  # Windows exports
    "%m/%d/%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
)
_ZONE = re.compile(r"(?:Z|[+-]\d\d:?\d\d)\s*$")
_MIN = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)
_MAX = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _from_epoch(text: str) -> dt.datetime | None:
    value = float(text)
    digits = len(text.split(".")[0])
    if digits >= 18:
        value /= 1e9
    elif digits >= 15:
        value /= 1e6
    elif digits >= 12:
        value /= 1e3
    return dt.datetime.fromtimestamp(value, dt.UTC)


def parse_time(text: str | None) -> dt.datetime | None:
    """One timestamp: ISO 8601 (with 'Z', offsets, spaces, up to nanoseconds), epoch, or common forms."""
    if not text:
        return None
    text = text.strip()
    result: dt.datetime | None = None
    if _EPOCH.match(text):
        result = _from_epoch(text)
    else:
        iso = text.replace("Z", "+00:00") if text.endswith("Z") else text
        fraction = re.search(r"\.(\d{7,})", iso)
        if fraction:  # Python reads at most microseconds
            iso = iso.replace(fraction.group(0), "." + fraction.group(1)[:6])
        try:
            result = dt.datetime.fromisoformat(iso)
        except ValueError:
            for fmt in _EXTRA_FORMATS:
                try:
                    result = dt.datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
    if result is None:
        return None
    if result.tzinfo is None:
        result = result.replace(tzinfo=dt.UTC)
    result = result.astimezone(dt.UTC)
    return result if _MIN <= result <= _MAX else None


def _zoned(column: pa.Array) -> pa.Array:
    return pc.cast(column, _TS)


def _naive(column: pa.Array) -> pa.Array:
    return pc.cast(pc.cast(column, pa.timestamp("us")), _TS)


def parse_times(column: pa.Array) -> pa.Array:
    """A whole column: Arrow's parser first (fast), Python's for what it cannot read."""
    if column.null_count == len(column):
        return pa.nulls(len(column), _TS)
    # A failed cast costs far more than a successful one, so try first the one the values suggest.
    first = column.drop_null()[0].as_py()
    casts = (_zoned, _naive) if isinstance(first, str) and _ZONE.search(first) else (_naive, _zoned)
    for cast in casts:
        try:
            return cast(column)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    cache: dict[str, dt.datetime | None] = {}
    out: list[dt.datetime | None] = []
    for value in column.to_pylist():
        if value is None:
            out.append(None)
            continue
        parsed = cache.get(value, _MIN)
        if parsed is _MIN:
            parsed = cache[value] = parse_time(value)
        out.append(parsed)
    return pa.array(out, _TS)
