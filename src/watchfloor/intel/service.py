"""What the CLI, the API and `serve` call: pull feeds, match, record sightings, learn from verdicts.

Settings come from `[intel]` in watchfloor.toml: `decay` (none, linear, exponential), `lifetime_days`,
`half_life_days`, `min_confidence`, `window_days` (retro-hunt window, default 30) and
`credentials.<feed>` (see `feeds`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pyarrow as pa

from watchfloor.config import Settings
from watchfloor.errors import Location
from watchfloor.intel.errors import IntelError
from watchfloor.intel.feeds import PullResult, credentials_for, pull_feed
from watchfloor.intel.match import IndicatorIndex, IntelMatch
from watchfloor.intel.retro import retro_hunt
from watchfloor.intel.scoring import ScoringPolicy
from watchfloor.intel.store import IntelStore, Sighting
from watchfloor.store import EventStore

__all__ = [
    "IntelLookupService",
    "hunt",
    "intel_store",
    "live_index",
    "policy_of",
    "pull",
    "record_sightings",
    "record_verdicts",
]


_LIVE_COLUMNS = ("type", "value", "feed", "match_key", "tlp", "confidence")


def intel_store(settings: Settings) -> IntelStore:
    """The installation's intel store, `DATA/intel/`."""
    return IntelStore(settings.data_dir / "intel")


def policy_of(settings: Settings) -> ScoringPolicy:
    """The `[intel]` scoring settings (defaults where absent)."""
    table = settings.extra.get("intel", {})
    if not isinstance(table, Mapping):
        raise IntelError("[intel] must be a table", Location(field="intel"))
    known = {"decay", "lifetime_days", "half_life_days", "min_confidence", "window_days"}
    values: dict[str, Any] = {k: v for k, v in table.items() if k in known}
    try:
        return ScoringPolicy(**values)
    except TypeError as exc:
        raise IntelError(f"[intel]: {exc}", Location(field="intel")) from exc


def pull(settings: Settings, name: str | None = None, now: dt.datetime | None = None) -> list[PullResult]:
    """Fetch every feed (or the one named) now."""
    store = intel_store(settings)
    feeds = [store.feed(name)] if name else store.feeds()
    return [pull_feed(store, feed, credentials_for(settings.extra, feed.name), now) for feed in feeds]


def live_index(settings: Settings, now: dt.datetime | None = None) -> IndicatorIndex:
    """The live indicators in memory, ready for `match_batch` (empty when intel was never set up)."""
    store = intel_store(settings)
    if not store.exists():
        return IndicatorIndex(pa.table({n: pa.array([], pa.string()) for n in _LIVE_COLUMNS}))
    return IndicatorIndex(store.live(policy_of(settings), now))


def hunt(
    settings: Settings, events: EventStore, since: dt.datetime | None = None, now: dt.datetime | None = None
) -> list[IntelMatch]:
    """Retro-hunt every live indicator over the window (`since`, else `window_days` back from now)."""
    when = now or dt.datetime.now(dt.UTC)
    start = since or when - dt.timedelta(days=policy_of(settings).window_days)
    return retro_hunt(events, live_index(settings, when), start)


def record_sightings(
    store: IntelStore, matches: Iterable[IntelMatch], alert_uid: Callable[[IntelMatch], str | None]
) -> int:
    """Record each match as a sighting with the alert it raised; returns how many were new."""
    sightings = [
        Sighting(m.indicator_type, m.indicator, m.feed, m.event_uid, m.time, m.source, m.field, alert_uid(m))
        for m in matches
    ]
    return store.add_sightings(sightings)


def record_verdicts(store: IntelStore, verdicts: Iterable[tuple[str, bool]]) -> int:
    """Feed incident verdicts back: (alert uid, true positive?) for intel alerts (see `scoring`)."""
    return store.record_verdicts(verdicts)


class IntelLookupService:
    """What intel knows about one observable, for enrichment (respond's `IntelLookup` protocol)."""

    name = "watchfloor-intel"

    def __init__(self, settings: Settings) -> None:
        self._store = intel_store(settings)
        self._policy = policy_of(settings)

    def lookup(self, kind: str, value: str) -> Mapping[str, Any] | None:
        """Every feed's statement of `value` with its confidence now, or None when no feed names it."""
        if not self._store.exists():
            return None
        rows = self._store.search(value, self._policy)
        if not rows:
            return None
        return {
            "value": value,
            "kind": kind,
            "max_confidence": max(int(r["confidence"]) for r in rows),
            "statements": [
                {k: r[k] for k in ("type", "feed", "confidence", "tlp", "status", "description")}
                for r in rows
            ],
        }
