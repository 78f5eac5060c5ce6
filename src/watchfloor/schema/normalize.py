"""Adds the OCSF core to a batch of producer fields, one column at a time."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from watchfloor.events import EventBatch
from watchfloor.schema.core import CORE_COLUMN, CORE_STRUCT, SEVERITY_NAMES
from watchfloor.schema.mapping import EventClass, MappingRegistry, SourceMapping
from watchfloor.schema.timeparse import parse_times

__all__ = ["add_core"]

_EMPTY_VALUES = pa.array(["", "-", "N/A", "null", "NULL"], type=pa.string())
_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
#: Everything up to the last path separator.
_DIRECTORY = r"^.*[\\/]"
#: Below this many rows, encoding a column to find its distinct values costs more than it saves.
_DISTINCT_MIN_ROWS = 1024
#: Longest of `_EMPTY_VALUES` in bytes: a column with no value this short has no placeholder.
_EMPTY_MAX_BYTES = max(len(v.as_py().encode()) for v in _EMPTY_VALUES)


def _clean(column: pa.Array) -> pa.Array:
    """Empty placeholders ('', '-') count as missing.

    Most candidate columns (paths, command lines, host names) hold no value short enough to be a
    placeholder; comparing lengths first spares them the hash lookup and the copy `if_else` makes.
    """
    if not pc.any(pc.less_equal(pc.binary_length(column), _EMPTY_MAX_BYTES)).as_py():
        return column
    return pc.if_else(pc.is_in(column, value_set=_EMPTY_VALUES), pa.scalar(None, pa.string()), column)


def _contiguous(column: pa.ChunkedArray) -> pa.Array:
    """One array; a single chunk is used as it is rather than copied."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _pick(table: pa.Table, candidates: Sequence[str]) -> pa.Array:
    """The first present, non-empty candidate column per row."""
    names = set(table.schema.names)
    present = [_clean(_contiguous(table.column(c))) for c in candidates if c in names]
    if not present:
        return pa.nulls(table.num_rows, pa.string())
    if len(present) == 1:
        return present[0]
    return pc.coalesce(*present)


def _int_value(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    try:
        return int(text, 16) if text[:2].lower() == "0x" else int(float(text)) if "." in text else int(text)
    except ValueError:
        return None


def _to_int(column: pa.Array, dtype: pa.DataType) -> pa.Array:
    """Text to integers; hexadecimal (Windows process ids) and junk handled without failing."""
    if column.null_count == len(column):
        return pa.nulls(len(column), dtype)
    try:
        return pc.cast(column, dtype)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = [_int_value(v) for v in column.to_pylist()]
        limit = 2**31 - 1 if dtype == pa.int32() else 2**63 - 1
        return pa.array([v if v is not None and -limit <= v <= limit else None for v in values], dtype)


def _basename(path: pa.Array) -> pa.Array:
    """The last component of each path.

    Process images repeat (a host runs few distinct programs), so when at most half the values are
    distinct the regular expression runs once per distinct path and the result is spread by index.
    """
    if len(path) >= _DISTINCT_MIN_ROWS and path.null_count < len(path):
        encoded = pc.dictionary_encode(path)
        if 2 * len(encoded.dictionary) <= len(path):
            names = pc.replace_substring_regex(encoded.dictionary, pattern=_DIRECTORY, replacement="")
            return pc.take(names, encoded.indices)
    return pc.replace_substring_regex(path, pattern=_DIRECTORY, replacement="")


def _lookup(keys: pa.Array, table: dict[str, int]) -> pa.Array:
    """Map text keys (lower-cased) through a small dict, vectorised: index_in then take."""
    if not table or keys.null_count == len(keys):
        return pa.nulls(len(keys), pa.int32())
    names = list(table)
    positions = pc.index_in(pc.utf8_lower(keys), value_set=pa.array(names, pa.string()))
    return pc.take(pa.array([table[n] for n in names], pa.int32()), positions)


def _class_columns(table: pa.Table, mapping: SourceMapping) -> dict[str, pa.Array]:
    n = table.num_rows
    declared = list(mapping.classes.items())
    options: list[EventClass] = [c for _, c in declared] + [mapping.default_class]
    if declared:
        keys = _pick(table, mapping.class_key)
        index = pc.index_in(keys, value_set=pa.array([k for k, _ in declared], pa.string()))
        index = pc.fill_null(index, len(declared))
    else:
        index = pa.repeat(pa.scalar(len(declared), pa.int32()), n)

    def column(values: list[object], dtype: pa.DataType) -> pa.Array:
        return pc.take(pa.array(values, dtype), index)

    return {
        "class_uid": column([c.class_uid for c in options], pa.int32()),
        "class_name": column([c.class_name for c in options], pa.string()),
        "category_uid": column([c.category_uid for c in options], pa.int32()),
        "category_name": column([_CATEGORY_NAMES.get(c.category_uid) for c in options], pa.string()),
        "activity_id": column([c.activity_id for c in options], pa.int32()),
        "activity_name": column([c.activity_name for c in options], pa.string()),
    }


_CATEGORY_NAMES = {
    0: "Uncategorized",
    1: "System Activity",
    2: "Findings",
    3: "Identity & Access Management",
    4: "Network Activity",
    5: "Discovery",
    6: "Application Activity",
    7: "Remediation",
    201: "Windows System Activity",
}


def _product(table: pa.Table, mapping: SourceMapping) -> pa.Array:
    n = table.num_rows
    default = pa.repeat(pa.scalar(mapping.product, pa.string()), n)
    if not mapping.products:
        return default
    names = list(mapping.products)
    index = pc.index_in(pc.utf8_lower(_pick(table, mapping.product_key)), value_set=pa.array(names))
    found = pc.take(pa.array([mapping.products[k] for k in names], pa.string()), index)
    return pc.coalesce(found, default)


def _status(table: pa.Table, mapping: SourceMapping) -> pa.Array:
    """The outcome: producer words mapped through `status_values`, with the declared fallbacks."""
    status = _pick(table, mapping.status)
    if mapping.status_values:
        names = list(mapping.status_values)
        index = pc.index_in(pc.utf8_lower(status), value_set=pa.array(names, pa.string()))
        mapped = pc.take(pa.array([mapping.status_values[k] for k in names], pa.string()), index)
        status = pc.coalesce(mapped, status if mapping.status_other is None else _other(status, mapping))
    elif mapping.status_other is not None:
        status = _other(status, mapping)
    if mapping.status_missing is not None:
        status = pc.fill_null(status, pa.scalar(mapping.status_missing, pa.string()))
    return status


def _other(status: pa.Array, mapping: SourceMapping) -> pa.Array:
    return pc.if_else(pc.is_valid(status), pa.scalar(mapping.status_other, pa.string()), status)


_SUFFIXES: list[pa.Array] = [pa.array([], pa.string())]


def _uids(prefix: str, n: int) -> pa.Array:
    """`prefix` + the row index as 7 hex digits; the digits are formatted once and reused."""
    suffixes = _SUFFIXES[0]  # read once: another thread may replace it meanwhile, never shrinking ours
    if len(suffixes) < n:
        suffixes = pa.array([f"{i:07x}" for i in range(max(n, 2 * len(suffixes)))], pa.string())
        _SUFFIXES[0] = suffixes
    return pc.binary_join_element_wise(pa.scalar(prefix), suffixes.slice(0, n), "")


def add_core(
    batch: EventBatch,
    registry: MappingRegistry,
    logged_time: dt.datetime | None = None,
    origin: str | None = None,
) -> pa.Table:
    """The batch's producer columns plus the `ocsf` struct column."""
    table = batch.fields
    n = table.num_rows
    mapping = registry.get(batch.source)
    now = logged_time or dt.datetime.now(dt.UTC)
    logged = pa.repeat(pa.scalar(now, pa.timestamp("us", tz="UTC")), n)

    times = parse_times(_pick(table, mapping.time))
    times = pc.coalesce(times, logged)
    classes = _class_columns(table, mapping)
    activity = pc.coalesce(_pick(table, mapping.activity), classes["activity_name"])
    severity_text = _pick(table, mapping.severity)
    severity_id = pc.fill_null(_lookup(severity_text, dict(mapping.severity_ids)), 0)
    severity_names = pa.array([SEVERITY_NAMES.get(i, "Other") for i in range(7)], pa.string())
    severity = pc.take(severity_names, pc.min_element_wise(severity_id, 6))
    process_path = _pick(table, mapping.process_path)
    parent_path = _pick(table, mapping.parent_path)
    prefix = secrets.token_hex(8)
    columns = {
        "time": times,
        **{k: v for k, v in classes.items() if k != "activity_name"},
        "activity_name": activity,
        "severity_id": severity_id,
        "severity": severity,
        "status": _status(table, mapping),
        "actor_user_name": _pick(table, mapping.user),
        "src_endpoint_ip": _pick(table, mapping.src_ip),
        "src_endpoint_port": _to_int(_pick(table, mapping.src_port), pa.int32()),
        "dst_endpoint_ip": _pick(table, mapping.dst_ip),
        "dst_endpoint_port": _to_int(_pick(table, mapping.dst_port), pa.int32()),
        "device_hostname": _pick(table, mapping.hostname),
        "process_name": _basename(process_path),
        "process_file_path": process_path,
        "process_cmd_line": _pick(table, mapping.process_cmd_line),
        "process_pid": _to_int(_pick(table, mapping.process_pid), pa.int64()),
        "process_parent_process_name": _basename(parent_path),
        "process_parent_process_file_path": parent_path,
        "process_parent_process_cmd_line": _pick(table, mapping.parent_cmd_line),
        "process_parent_process_pid": _to_int(_pick(table, mapping.parent_pid), pa.int64()),
        "file_path": _pick(table, mapping.file_path),
        "metadata_product_name": _product(table, mapping),
        "metadata_log_name": pa.repeat(pa.scalar(batch.source, pa.string()), n),
        "metadata_log_format": pa.repeat(pa.scalar(batch.format, pa.string()), n),
        "metadata_uid": _uids(prefix, n),
        "metadata_logged_time": logged,
        "metadata_origin": pa.repeat(pa.scalar(origin or batch.path, pa.string()), n),
        "metadata_origin_position": batch.positions,
        "raw_data": batch.raw,
    }
    arrays = [columns[f.name].cast(f.type) for f in CORE_STRUCT]
    core = pa.StructArray.from_arrays(arrays, fields=list(CORE_STRUCT))
    if CORE_COLUMN in table.column_names:  # a producer field of that name keeps its value, renamed
        table = table.rename_columns([c if c != CORE_COLUMN else f"{c}_" for c in table.column_names])
    return table.append_column(CORE_COLUMN, core)
