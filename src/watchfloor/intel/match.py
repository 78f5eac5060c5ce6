"""Streaming match: one newly stored batch of events against every live indicator, in memory.

`IndicatorIndex` holds the live indicators as one dictionary per match namespace (value → row of the
live table) plus, for networks, the sorted network addresses per prefix length. `match_batch` takes a
batch as the store writes it (producer columns plus the `ocsf` struct) or as the `events` view returns
it (the core flattened), reads each matchable column (see `fields`), looks up only the batch's distinct
values (a hash join: dictionary probes on the distinct values, then `is_in` to find their rows), tests
IPv4 addresses against networks vectorised (mask per prefix length, then a sorted search), and returns
one `IntelMatch` per (event, indicator statement, column).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchfloor.intel.fields import CORE_MATCH_FIELDS, PRODUCER_MATCH_FIELDS, MatchField

__all__ = ["IndicatorIndex", "IntelMatch", "event_values", "match_batch"]

_CORE = "ocsf"
_CONTEXT = (
    "metadata_uid",
    "time",
    "metadata_log_name",
    "device_hostname",
    "actor_user_name",
    "src_endpoint_ip",
    "dst_endpoint_ip",
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)"
_IPV4 = "^" + r"\.".join(f"(?P<{name}>{_OCTET})" for name in "abcd") + "$"


@dataclass(frozen=True, slots=True)
class IntelMatch:
    """An event value equal to (or inside) a live indicator, with the intel context analysts need."""

    indicator_type: str
    indicator: str
    feed: str
    confidence: int
    tlp: str
    event_uid: str
    time: dt.datetime | None
    source: str | None
    field: str
    observed: str
    host: str | None = None
    user: str | None = None
    src_ip: str | None = None
    dst_ip: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form for listings."""
        return {
            "indicator_type": self.indicator_type,
            "indicator": self.indicator,
            "feed": self.feed,
            "confidence": self.confidence,
            "tlp": self.tlp,
            "event_uid": self.event_uid,
            "time": self.time.isoformat() if self.time else None,
            "source": self.source,
            "field": self.field,
            "observed": self.observed,
        }


class IndicatorIndex:
    """Live indicators (the table `IntelStore.live` returns) arranged for lookups."""

    def __init__(self, live: pa.Table) -> None:
        self.live = live.combine_chunks()
        self._describe = {
            name: self.live.column(name).chunk(0) if self.live.num_rows else pa.array([], pa.string())
            for name in ("type", "value", "feed", "confidence", "tlp")
        }
        self.exact: dict[str, dict[str, int]] = {}
        self._more: dict[tuple[str, str], list[int]] = {}  # values stated by more than one feed
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._network_rows: list[int] = []
        keys, values = self.live.column("match_key"), self.live.column("value")
        for key in pc.unique(keys).drop_null().to_pylist():
            mask = pc.equal(keys, key)
            rows = pc.indices_nonzero(mask)
            chosen = values.filter(mask)
            if key == "cidr":
                self._networks = [ipaddress.ip_network(v) for v in chosen.to_pylist()]
                self._network_rows = rows.to_pylist()
                continue
            # dict(zip(...)) builds in C; a value several feeds state keeps its last row there, so
            # those few values get their full row list from a second, small pass
            table = dict(zip(chosen.to_pylist(), rows.to_pylist(), strict=True))
            self.exact[key] = table
            if len(table) < len(chosen):
                counts = pc.value_counts(chosen)
                repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
                again = pc.is_in(chosen, value_set=repeated)
                for value, row in zip(
                    chosen.filter(again).to_pylist(), rows.filter(again).to_pylist(), strict=True
                ):
                    self._more.setdefault((key, value), []).append(row)
        self._v4 = self._v4_tables()

    def __len__(self) -> int:
        return int(self.live.num_rows)

    @property
    def has_networks(self) -> bool:
        """Whether any live indicator is a network (addresses then need a containment test)."""
        return bool(self._networks)

    @property
    def keys(self) -> set[str]:
        """Namespaces with at least one indicator (`ip` also when only networks are live)."""
        return set(self.exact) | ({"ip"} if self._networks else set())

    def _v4_tables(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(mask, sorted network addresses, their live rows) per IPv4 prefix length."""
        by_length: dict[int, list[tuple[int, int]]] = {}
        for network, row in zip(self._networks, self._network_rows, strict=True):
            if network.version == 4:
                by_length.setdefault(network.prefixlen, []).append((int(network.network_address), row))
        out = []
        for length, pairs in sorted(by_length.items()):
            pairs.sort()
            mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
            out.append(
                (mask, np.array([p[0] for p in pairs], np.uint32), np.array([p[1] for p in pairs], np.int64))
            )
        return out

    def rows_for(self, key: str, value: str) -> list[int]:
        """Live rows whose value equals `value` in namespace `key`."""
        row = self.exact.get(key, {}).get(value)
        if row is None:
            return []
        return self._more.get((key, value), [row])

    def networks_containing(self, addresses: list[str]) -> dict[str, list[int]]:
        """Address → live rows of the networks containing it (vectorised for IPv4)."""
        if not self._networks:
            return {}
        found: dict[str, list[int]] = {}
        text = pa.array(addresses, pa.string())
        octets = pc.extract_regex(text, _IPV4)
        valid = np.asarray(pc.is_valid(octets).to_numpy(zero_copy_only=False), dtype=bool)
        if self._v4 and valid.any():
            v4 = octets.filter(pa.array(valid))
            names = np.asarray(text.filter(pa.array(valid)).to_numpy(zero_copy_only=False))
            ints = np.zeros(len(v4), np.uint64)
            for name in ("a", "b", "c", "d"):
                ints = (ints << np.uint64(8)) | pc.cast(pc.struct_field(v4, name), pa.uint64()).to_numpy()
            as32 = ints.astype(np.uint32)
            for mask, starts, rows in self._v4:
                masked = as32 & np.uint32(mask)
                position = np.searchsorted(starts, masked)
                position[position >= len(starts)] = 0
                hit = starts[position] == masked
                for index in np.nonzero(hit)[0]:
                    start = position[index]
                    end = np.searchsorted(starts, masked[index], side="right")
                    found.setdefault(str(names[index]), []).extend(int(r) for r in rows[start:end])
        if any(n.version == 6 for n in self._networks):
            for address in (a for a, ok in zip(addresses, valid, strict=True) if not ok and ":" in a):
                try:
                    ip = ipaddress.ip_address(address)
                except ValueError:
                    continue
                rows6 = [r for n, r in zip(self._networks, self._network_rows, strict=True) if ip in n]
                if rows6:
                    found.setdefault(address, []).extend(rows6)
        return found

    def describe(self, row: int) -> tuple[str, str, str, int, str]:
        """(type, value, feed, confidence, tlp) of one live row."""
        d = self._describe
        return (
            d["type"][row].as_py(),
            d["value"][row].as_py(),
            d["feed"][row].as_py(),
            d["confidence"][row].as_py(),
            d["tlp"][row].as_py(),
        )


def _columns(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    """Every column by name, the `ocsf` struct's fields included under their own names."""
    out = {name: table.column(name) for name in table.column_names if name != _CORE}
    if _CORE in table.column_names:
        core = table.column(_CORE)
        for index, field in enumerate(core.type):
            out[field.name] = pc.struct_field(core, [index])
    return out


def event_values(spec: MatchField, column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """The comparable values of a column and, when one row gives several (`hashes`), each value's row."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    if spec.how == "exact":
        return array, None
    lowered = pc.utf8_lower(array)
    if spec.how == "basename":
        return pc.replace_substring_regex(lowered, r"^.*[\\/]", ""), None
    if spec.how == "hashes":
        lists = pc.split_pattern(lowered, ",")
        rows = pc.list_parent_indices(lists)
        flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
        return pc.replace_substring_regex(flat, r"^[^=]*=", ""), rows
    if spec.key == "domain":
        return pc.utf8_rtrim(lowered, "."), None
    return lowered, None


def _canonical_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        return None


def _probe(index: IndicatorIndex, key: str, distinct: list[str]) -> dict[str, list[int]]:
    """Distinct event values → live rows they match (equality, then networks for addresses)."""
    hits: dict[str, list[int]] = {}
    table = index.exact.get(key, {})
    for value in distinct:
        if value in table:
            hits[value] = index.rows_for(key, value)
        elif key == "ip" and ":" in value:
            canonical = _canonical_ip(value)
            if canonical and canonical in table:
                hits[value] = index.rows_for(key, canonical)
    if key == "ip":
        for value, rows in index.networks_containing(distinct).items():
            hits.setdefault(value, []).extend(rows)
    return hits


def _fields(columns: Iterable[str], keys: set[str]) -> list[MatchField]:
    present = set(columns)
    return [f for f in (*CORE_MATCH_FIELDS, *PRODUCER_MATCH_FIELDS) if f.column in present and f.key in keys]


def _scalar(column: pa.ChunkedArray | None, row: int) -> Any:
    return None if column is None else column[row].as_py()


def match_batch(index: IndicatorIndex, batch: pa.Table | pa.RecordBatch) -> list[IntelMatch]:
    """Every match of one batch of events against the index (see the module docstring)."""
    if len(index) == 0 or batch.num_rows == 0:
        return []
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    columns = _columns(table)
    context = {name: columns.get(name) for name in _CONTEXT}
    out: list[IntelMatch] = []
    for spec in _fields(columns, index.keys):
        values, rows = event_values(spec, columns[spec.column])
        distinct = pc.unique(values).drop_null().to_pylist()
        hits = _probe(index, spec.key, distinct)
        if not hits:
            continue
        positions = pc.indices_nonzero(pc.is_in(values, value_set=pa.array(list(hits), pa.string())))
        observed = values.take(positions).to_pylist()
        event_rows = (positions if rows is None else rows.take(positions)).to_pylist()
        for value, row in zip(observed, event_rows, strict=True):
            uid = _scalar(context["metadata_uid"], row)
            if uid is None:
                continue
            when = _scalar(context["time"], row)
            for live_row in hits[value]:
                kind, indicator, feed, confidence, tlp = index.describe(live_row)
                out.append(
                    IntelMatch(
                        indicator_type=kind,
                        indicator=indicator,
                        feed=feed,
                        confidence=confidence,
                        tlp=tlp,
                        event_uid=str(uid),
                        time=when if isinstance(when, dt.datetime) else None,
                        source=_scalar(context["metadata_log_name"], row),
                        field=spec.column,
                        observed=value,
                        host=_scalar(context["device_hostname"], row),
                        user=_scalar(context["actor_user_name"], row),
                        src_ip=_scalar(context["src_endpoint_ip"], row),
                        dst_ip=_scalar(context["dst_endpoint_ip"], row),
                    )
                )
    return out
