"""The intel store: feeds, indicators, sightings and verdicts in one DuckDB file, `DATA/intel/intel.duckdb`.

Why DuckDB: a million indicators are upserted from Arrow in one set-based statement (`INSERT ... ON
CONFLICT`) and read back as one Arrow table for matching, with the effective confidence (decay and
verdict feedback) computed in the same query; it is already the event store's engine, needs no server,
and the file is a single unit to back up. Each operation opens the file, works and closes it, so the
CLI and a running `serve` take turns instead of holding a lock.

Indicators are keyed by (type, value, feed): the same value in two feeds is two statements with their
own confidence and TLP, and a feed's newest statement of a value replaces its older one (first seen is
kept, last seen is the latest). Sightings are keyed by (indicator, event): one event seen twice by
detection is one sighting.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from watchfloor.errors import Location
from watchfloor.intel.errors import IntelError
from watchfloor.intel.indicators import MATCH_KEY, Indicator
from watchfloor.intel.scoring import ScoringPolicy

__all__ = ["INDICATOR_SCHEMA", "FeedInfo", "IntelStore", "Sighting"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    name VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, location VARCHAR NOT NULL, collection VARCHAR,
    options VARCHAR NOT NULL DEFAULT '{}', added TIMESTAMP NOT NULL, last_pull TIMESTAMP,
    cursor VARCHAR, last_count INTEGER, last_error VARCHAR);
CREATE TABLE IF NOT EXISTS indicators (
    type VARCHAR NOT NULL, value VARCHAR NOT NULL, feed VARCHAR NOT NULL, match_key VARCHAR NOT NULL,
    confidence INTEGER NOT NULL, tlp VARCHAR NOT NULL, first_seen TIMESTAMP, last_seen TIMESTAMP,
    valid_until TIMESTAMP, status VARCHAR NOT NULL, description VARCHAR, origin VARCHAR,
    updated TIMESTAMP NOT NULL, PRIMARY KEY (type, value, feed));
CREATE TABLE IF NOT EXISTS sightings (
    type VARCHAR NOT NULL, value VARCHAR NOT NULL, feed VARCHAR NOT NULL, event_uid VARCHAR NOT NULL,
    time TIMESTAMP, source VARCHAR, field VARCHAR, alert_uid VARCHAR, recorded TIMESTAMP NOT NULL,
    PRIMARY KEY (type, value, feed, event_uid));
CREATE TABLE IF NOT EXISTS verdicts (
    alert_uid VARCHAR PRIMARY KEY, true_positive BOOLEAN NOT NULL, recorded TIMESTAMP NOT NULL);
"""

INDICATOR_SCHEMA = pa.schema(
    [
        ("type", pa.string()),
        ("value", pa.string()),
        ("feed", pa.string()),
        ("match_key", pa.string()),
        ("confidence", pa.int32()),
        ("tlp", pa.string()),
        ("first_seen", pa.timestamp("us")),
        ("last_seen", pa.timestamp("us")),
        ("valid_until", pa.timestamp("us")),
        ("status", pa.string()),
        ("description", pa.string()),
        ("origin", pa.string()),
        ("updated", pa.timestamp("us")),
    ]
)


def _naive(when: dt.datetime | None) -> dt.datetime | None:
    """UTC without a zone, as stored (DuckDB TIMESTAMP)."""
    if when is None:
        return None
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def _aware(when: Any) -> dt.datetime | None:
    return when.replace(tzinfo=dt.UTC) if isinstance(when, dt.datetime) else None


@dataclass(frozen=True, slots=True)
class FeedInfo:
    """One configured feed, its last pull and its counts (indicators live now, sightings, verdicts)."""

    name: str
    kind: str
    location: str
    collection: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    added: dt.datetime | None = None
    last_pull: dt.datetime | None = None
    cursor: str | None = None
    last_count: int | None = None
    last_error: str | None = None
    indicators: int = 0
    sightings: int = 0
    true_positives: int = 0
    false_positives: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON form `intel list --json` prints (never any credential: none is stored here)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "location": self.location,
            "collection": self.collection,
            "last_pull": self.last_pull.isoformat() if self.last_pull else None,
            "last_count": self.last_count,
            "last_error": self.last_error,
            "indicators": self.indicators,
            "sightings": self.sightings,
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
        }


@dataclass(frozen=True, slots=True)
class Sighting:
    """An indicator seen in one stored event (and the alert it raised, once detection made one)."""

    type: str
    value: str
    feed: str
    event_uid: str
    time: dt.datetime | None
    source: str | None
    field: str | None
    alert_uid: str | None = None


def _effective_sql(policy: ScoringPolicy, now: dt.datetime) -> str:
    """`scoring.effective_confidence` as SQL over `i` (indicators), `iv` and `fv` (verdict counts)."""
    stamp = _naive(now)
    age = f"epoch(TIMESTAMP '{stamp}' - coalesce(i.last_seen, i.first_seen, i.updated)) / 86400.0"
    age = f"greatest(0.0, {age})"
    if policy.decay == "none":
        decay = "1.0"
    elif policy.decay == "linear":
        decay = f"greatest(0.0, 1.0 - {age} / {float(policy.lifetime_days)})"
    else:
        decay = f"pow(0.5, {age} / {float(policy.half_life_days)})"
    ind = "2.0 * (coalesce(iv.tp, 0) + 1) / (coalesce(iv.tp, 0) + coalesce(iv.fp, 0) + 2)"
    feed = "2.0 * (coalesce(fv.tp, 0) + 1) / (coalesce(fv.tp, 0) + coalesce(fv.fp, 0) + 2)"
    return f"least(100, greatest(0, floor(i.confidence * {decay} * {ind} * {feed} + 0.5)))::INTEGER"


_VERDICT_CTES = """
iv AS (SELECT s.type, s.value, s.feed,
              count(DISTINCT s.alert_uid) FILTER (WHERE v.true_positive) AS tp,
              count(DISTINCT s.alert_uid) FILTER (WHERE NOT v.true_positive) AS fp
       FROM sightings s JOIN verdicts v USING (alert_uid) GROUP BY ALL),
fv AS (SELECT s.feed,
              count(DISTINCT s.alert_uid) FILTER (WHERE v.true_positive) AS tp,
              count(DISTINCT s.alert_uid) FILTER (WHERE NOT v.true_positive) AS fp
       FROM sightings s JOIN verdicts v USING (alert_uid) GROUP BY ALL)
"""


class IntelStore:
    """Feeds, indicators, sightings and verdicts of one installation (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "intel.duckdb"

    def exists(self) -> bool:
        """Whether any intel was ever configured (detection skips intel matching when not)."""
        return self.path.is_file()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The database, created on first use; closed when the block ends."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            connection = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            raise IntelError(f"cannot open the intel store: {exc}", Location(str(self.path))) from exc
        try:
            connection.execute(_SCHEMA)
            yield connection
        finally:
            connection.close()

    # -- feeds ---------------------------------------------------------------------------------
    def add_feed(self, feed: FeedInfo) -> None:
        """Record a feed; a name already taken is refused (remove it first to change it)."""
        with self.connect() as db:
            if db.execute("SELECT 1 FROM feeds WHERE name = ?", [feed.name]).fetchall():
                raise IntelError(f"a feed named {feed.name!r} already exists")
            db.execute(
                "INSERT INTO feeds (name, kind, location, collection, options, added) VALUES (?,?,?,?,?,?)",
                [
                    feed.name,
                    feed.kind,
                    feed.location,
                    feed.collection,
                    json.dumps(feed.options),
                    _naive(dt.datetime.now(dt.UTC)),
                ],
            )

    def feeds(self) -> list[FeedInfo]:
        """Every feed with its counts, by name."""
        with self.connect() as db:
            rows = db.execute(
                f"""WITH {_VERDICT_CTES},
                counts AS (SELECT feed, count(*) AS n FROM indicators WHERE status = 'active'
                           AND (valid_until IS NULL OR valid_until > ?) GROUP BY feed),
                seen AS (SELECT feed, count(*) AS n FROM sightings GROUP BY feed)
                SELECT f.name, f.kind, f.location, f.collection, f.options, f.added, f.last_pull, f.cursor,
                       f.last_count, f.last_error, coalesce(c.n, 0), coalesce(s.n, 0),
                       coalesce(fv.tp, 0), coalesce(fv.fp, 0)
                FROM feeds f LEFT JOIN counts c ON c.feed = f.name LEFT JOIN seen s ON s.feed = f.name
                LEFT JOIN fv ON fv.feed = f.name ORDER BY f.name""",
                [_naive(dt.datetime.now(dt.UTC))],
            ).fetchall()
        return [
            FeedInfo(
                name=r[0],
                kind=r[1],
                location=r[2],
                collection=r[3],
                options=json.loads(r[4] or "{}"),
                added=_aware(r[5]),
                last_pull=_aware(r[6]),
                cursor=r[7],
                last_count=r[8],
                last_error=r[9],
                indicators=int(r[10]),
                sightings=int(r[11]),
                true_positives=int(r[12]),
                false_positives=int(r[13]),
            )
            for r in rows
        ]

    def feed(self, name: str) -> FeedInfo:
        """One feed by name; `IntelError` if there is none."""
        for info in self.feeds():
            if info.name == name:
                return info
        raise IntelError(f"no feed named {name!r}")

    def record_pull(
        self, name: str, when: dt.datetime, count: int, cursor: str | None, error: str | None
    ) -> None:
        """Remember a pull's time, count, error and (TAXII) `added_after` cursor for the next one."""
        with self.connect() as db:
            db.execute(
                "UPDATE feeds SET last_pull = ?, last_count = ?, last_error = ?, "
                "cursor = coalesce(?, cursor) WHERE name = ?",
                [_naive(when), count, error, cursor, name],
            )

    # -- indicators ----------------------------------------------------------------------------
    def upsert(self, indicators: Iterable[Indicator], now: dt.datetime | None = None) -> int:
        """Store indicators, replacing each feed's older statement of the same value; returns how many."""
        when = _naive(now or dt.datetime.now(dt.UTC))
        columns: dict[str, list[Any]] = {name: [] for name in INDICATOR_SCHEMA.names}
        for ind in indicators:
            columns["type"].append(ind.type.value)
            columns["value"].append(ind.value)
            columns["feed"].append(ind.feed)
            columns["match_key"].append(MATCH_KEY[ind.type])
            columns["confidence"].append(ind.confidence)
            columns["tlp"].append(ind.tlp)
            columns["first_seen"].append(_naive(ind.first_seen))
            columns["last_seen"].append(_naive(ind.last_seen))
            columns["valid_until"].append(_naive(ind.valid_until))
            columns["status"].append(ind.status.value)
            columns["description"].append(ind.description)
            columns["origin"].append(ind.origin)
            columns["updated"].append(when)
        return self.upsert_table(pa.Table.from_pydict(columns, schema=INDICATOR_SCHEMA))

    def upsert_table(self, table: pa.Table) -> int:
        """Set-based upsert of an Arrow table shaped like `INDICATOR_SCHEMA` (bulk loads, benchmarks)."""
        if table.num_rows == 0:
            return 0
        with self.connect() as db:
            db.register("incoming", table)
            db.execute(
                """INSERT INTO indicators
                SELECT DISTINCT ON (type, value, feed) * FROM incoming
                ORDER BY type, value, feed, last_seen DESC NULLS LAST
                ON CONFLICT (type, value, feed) DO UPDATE SET
                    confidence = excluded.confidence, tlp = excluded.tlp,
                    first_seen = least(indicators.first_seen, excluded.first_seen),
                    last_seen = greatest(indicators.last_seen, excluded.last_seen),
                    valid_until = excluded.valid_until, status = excluded.status,
                    description = coalesce(nullif(excluded.description, ''), indicators.description),
                    origin = excluded.origin, updated = excluded.updated"""
            )
            db.unregister("incoming")
        return int(table.num_rows)

    def revoke(self, kind: str, value: str, feed: str | None = None) -> int:
        """Mark an indicator revoked (in one feed, or every feed); returns how many statements changed."""
        with self.connect() as db:
            sql = "UPDATE indicators SET status = 'revoked' WHERE type = ? AND value = ?"
            params: list[Any] = [kind, value]
            if feed is not None:
                sql += " AND feed = ?"
                params.append(feed)
            db.execute(sql, params)
            found = db.execute(
                "SELECT count(*) FROM indicators WHERE type = ? AND value = ? AND status = 'revoked'",
                [kind, value],
            ).fetchall()[0]
        return int(found[0]) if found else 0

    def _scored_sql(self, policy: ScoringPolicy, now: dt.datetime, where: str) -> str:
        stamp = _naive(now)
        return f"""WITH {_VERDICT_CTES}
            SELECT i.type, i.value, i.feed, i.match_key, i.tlp, i.confidence AS feed_confidence,
                   {_effective_sql(policy, now)} AS confidence,
                   CASE WHEN i.status = 'active' AND i.valid_until <= TIMESTAMP '{stamp}' THEN 'expired'
                        ELSE i.status END AS status,
                   i.first_seen, i.last_seen, i.valid_until, i.description, i.origin, i.updated,
                   coalesce(iv.tp, 0) AS true_positives, coalesce(iv.fp, 0) AS false_positives
            FROM indicators i
            LEFT JOIN iv ON iv.type = i.type AND iv.value = i.value AND iv.feed = i.feed
            LEFT JOIN fv ON fv.feed = i.feed
            WHERE {where}"""

    def live(self, policy: ScoringPolicy, now: dt.datetime | None = None) -> pa.Table:
        """Indicators to match now: active, not expired, effective confidence at least the minimum."""
        when = now or dt.datetime.now(dt.UTC)
        stamp = _naive(when)
        sql = self._scored_sql(
            policy,
            when,
            f"i.status = 'active' AND (i.valid_until IS NULL OR i.valid_until > TIMESTAMP '{stamp}')",
        )
        with self.connect() as db:
            table: pa.Table = db.sql(
                f"SELECT * FROM ({sql}) WHERE confidence >= {int(policy.min_confidence)}"
            ).to_arrow_table()
        return table

    def search(
        self, value: str, policy: ScoringPolicy, now: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """Every feed's statement of a value (exact, case-insensitive), with its effective confidence."""
        sql = self._scored_sql(policy, now or dt.datetime.now(dt.UTC), "lower(i.value) = lower(?)")
        with self.connect() as db:
            table: pa.Table = db.sql(sql + " ORDER BY i.feed", params=[value.strip()]).to_arrow_table()
        rows: list[dict[str, Any]] = table.to_pylist()
        return rows

    def count(self) -> int:
        """Statements stored (every status)."""
        with self.connect() as db:
            row = db.execute("SELECT count(*) FROM indicators").fetchall()[0]
        return int(row[0]) if row else 0

    # -- sightings and verdicts ------------------------------------------------------------------
    def add_sightings(self, sightings: Sequence[Sighting], now: dt.datetime | None = None) -> int:
        """Record sightings not recorded yet (an alert uid fills in later); returns how many were new."""
        if not sightings:
            return 0
        table = pa.table(
            {
                "type": [s.type for s in sightings],
                "value": [s.value for s in sightings],
                "feed": [s.feed for s in sightings],
                "event_uid": [s.event_uid for s in sightings],
                "time": pa.array([_naive(s.time) for s in sightings], pa.timestamp("us")),
                "source": [s.source for s in sightings],
                "field": [s.field for s in sightings],
                "alert_uid": [s.alert_uid for s in sightings],
                "recorded": pa.array(
                    [_naive(now or dt.datetime.now(dt.UTC))] * len(sightings), pa.timestamp("us")
                ),
            }
        )
        with self.connect() as db:
            before = db.execute("SELECT count(*) FROM sightings").fetchall()[0]
            db.register("incoming", table)
            db.execute(
                """INSERT INTO sightings SELECT DISTINCT ON (type, value, feed, event_uid) * FROM incoming
                ON CONFLICT (type, value, feed, event_uid) DO UPDATE SET
                    alert_uid = coalesce(sightings.alert_uid, excluded.alert_uid)"""
            )
            after = db.execute("SELECT count(*) FROM sightings").fetchall()[0]
        return int(after[0] if after else 0) - int(before[0] if before else 0)

    def sightings(self, feed: str | None = None) -> list[Sighting]:
        """Recorded sightings (of one feed), oldest event first."""
        with self.connect() as db:
            sql = "SELECT type, value, feed, event_uid, time, source, field, alert_uid FROM sightings"
            rows = db.execute(
                sql + (" WHERE feed = ?" if feed else "") + " ORDER BY time, event_uid",
                [feed] if feed else [],
            ).fetchall()
        return [Sighting(r[0], r[1], r[2], r[3], _aware(r[4]), r[5], r[6], r[7]) for r in rows]

    def sighting_summary(self) -> list[dict[str, Any]]:
        """Per indicator statement: how many events it was seen in, first and last, latest recorded."""
        with self.connect() as db:
            table: pa.Table = db.sql(
                "SELECT type, value, feed, count(*) AS count, min(time) AS first_seen, "
                "max(time) AS last_seen, max(recorded) AS recorded "
                "FROM sightings GROUP BY type, value, feed ORDER BY recorded"
            ).to_arrow_table()
        rows: list[dict[str, Any]] = table.to_pylist()
        return rows

    def record_verdicts(self, verdicts: Iterable[tuple[str, bool]], now: dt.datetime | None = None) -> int:
        """Store (alert uid, true positive?) pairs; a later verdict for the same alert replaces the earlier.

        Only alerts that intel sightings raised count; others are ignored. Returns how many were stored.
        """
        pairs = list(verdicts)
        if not pairs:
            return 0
        table = pa.table(
            {
                "alert_uid": [uid for uid, _ in pairs],
                "true_positive": [bool(tp) for _, tp in pairs],
                "recorded": pa.array(
                    [_naive(now or dt.datetime.now(dt.UTC))] * len(pairs), pa.timestamp("us")
                ),
            }
        )
        with self.connect() as db:
            db.register("incoming", table)
            db.execute(
                """INSERT INTO verdicts SELECT DISTINCT ON (alert_uid) * FROM incoming
                WHERE alert_uid IN (SELECT alert_uid FROM sightings WHERE alert_uid IS NOT NULL)
                ON CONFLICT (alert_uid) DO UPDATE SET true_positive = excluded.true_positive,
                    recorded = excluded.recorded"""
            )
            row = db.execute(
                "SELECT count(*) FROM incoming WHERE alert_uid IN (SELECT alert_uid FROM sightings)"
            ).fetchall()[0]
        return int(row[0]) if row else 0
