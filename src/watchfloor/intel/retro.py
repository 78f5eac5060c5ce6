"""Retro-hunt: live indicators against the stored history of a window, as one SQL join in the store.

The live indicators are handed to a store read session as a table (`ReadSession.register_table`), and
one statement joins it with every matchable column of the window (`fields`): the flattened core of the
`events` view, and producer columns of each source view that has them. Networks cannot be an equality
join, so before it the window's distinct addresses are read once and tested against the networks in
memory (the streaming matcher's test), and each address inside one joins like an exact indicator.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from watchfloor.intel.fields import CORE_MATCH_FIELDS, PRODUCER_MATCH_FIELDS, MatchField
from watchfloor.intel.match import IndicatorIndex, IntelMatch
from watchfloor.store import EventStore

__all__ = ["retro_hunt"]

_TABLE = "watchfloor_intel_live"
_CORE_CONTEXT = (
    "metadata_uid",
    "time",
    "metadata_log_name",
    "device_hostname",
    "actor_user_name",
    "src_endpoint_ip",
    "dst_endpoint_ip",
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _value_sql(spec: MatchField, column: str) -> str:
    """The SQL twin of `match.event_values` for one column expression."""
    text = f"CAST({column} AS VARCHAR)"
    if spec.how == "exact":
        return text
    if spec.how == "basename":
        return rf"regexp_replace(lower({text}), '^.*[\\/]', '')"
    if spec.how == "hashes":
        return f"regexp_replace(trim(unnest(string_split(lower({text}), ','))), '^[^=]*=', '')"
    if spec.key == "domain":
        return f"rtrim(lower({text}), '.')"
    return f"lower({text})"


def _selects(views: dict[str, list[str]], keys: set[str], since: dt.datetime) -> list[tuple[MatchField, str]]:
    """One sub-select per (column, view): the event's context and the value, within the window."""
    stamp = since.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    out: list[tuple[MatchField, str]] = []
    for spec in CORE_MATCH_FIELDS:
        if spec.key in keys:
            context = ", ".join(_CORE_CONTEXT)
            out.append(
                (
                    spec,
                    f"SELECT {context}, {_value_sql(spec, _quote(spec.column))} AS observed FROM events "
                    f"WHERE time >= TIMESTAMPTZ '{stamp}+00' AND {_quote(spec.column)} IS NOT NULL",
                )
            )
    for spec in PRODUCER_MATCH_FIELDS:
        if spec.key not in keys:
            continue
        for view, columns in views.items():
            if spec.column in columns and "ocsf" in columns:
                context = ", ".join(f"ocsf.{c} AS {c}" for c in _CORE_CONTEXT)
                column = f"{_quote(view)}.{_quote(spec.column)}"
                out.append(
                    (
                        spec,
                        f"SELECT {context}, {_value_sql(spec, column)} AS observed FROM {_quote(view)} "
                        f"WHERE ocsf.time >= TIMESTAMPTZ '{stamp}+00' AND {column} IS NOT NULL",
                    )
                )
    return out


def _lookup_table(index: IndicatorIndex, extra: dict[str, list[int]]) -> pa.Table:
    """(key, value, row) for every exact indicator, plus addresses found inside networks."""
    keys: list[str] = []
    values: list[str] = []
    rows: list[int] = []
    for key, table in index.exact.items():
        for value in table:
            for row in index.rows_for(key, value):
                keys.append(key)
                values.append(value)
                rows.append(row)
    for address, found in extra.items():
        for row in found:
            keys.append("ip")
            values.append(address)
            rows.append(row)
    return pa.table({"key": pa.array(keys, pa.string()), "value": values, "row": pa.array(rows, pa.int64())})


def retro_hunt(
    store: EventStore, index: IndicatorIndex, since: dt.datetime, batch_rows: int = 65_536
) -> list[IntelMatch]:
    """Every event since `since` whose matchable columns hold a live indicator (see the module)."""
    if len(index) == 0:
        return []
    with store.open_reader() as session:
        views = {name: session.view_columns(name) for name in session.views() if name != "events"}
        selects = _selects(views, index.keys, since)
        if not selects:
            return []
        extra: dict[str, list[int]] = {}
        ip_selects = [sql for spec, sql in selects if spec.key == "ip"]
        if ip_selects and index.has_networks:
            distinct: list[str] = []
            union = " UNION ".join(f"SELECT observed FROM ({sql})" for sql in ip_selects)
            for batch in session.query_batches(f"SELECT DISTINCT observed FROM ({union})", batch_rows):
                distinct.extend(v for v in batch.column(0).to_pylist() if v)
            extra = index.networks_containing(distinct)
        session.register_table(_TABLE, _lookup_table(index, extra))
        parts = [
            f"SELECT '{spec.column}' AS field, s.*, i.row FROM ({sql}) s "
            f"JOIN {_TABLE} i ON i.key = '{spec.key}' AND i.value = s.observed"
            for spec, sql in selects
        ]
        matches: list[IntelMatch] = []
        for batch in session.query_batches(" UNION ALL ".join(parts), batch_rows):
            for record in batch.to_pylist():
                kind, indicator, feed, confidence, tlp = index.describe(int(record["row"]))
                when = record["time"]
                matches.append(
                    IntelMatch(
                        indicator_type=kind,
                        indicator=indicator,
                        feed=feed,
                        confidence=confidence,
                        tlp=tlp,
                        event_uid=str(record["metadata_uid"]),
                        time=when if isinstance(when, dt.datetime) else None,
                        source=record["metadata_log_name"],
                        field=record["field"],
                        observed=record["observed"],
                        host=record["device_hostname"],
                        user=record["actor_user_name"],
                        src_ip=record["src_endpoint_ip"],
                        dst_ip=record["dst_endpoint_ip"],
                    )
                )
    return matches
