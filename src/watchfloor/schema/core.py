"""The OCSF core that every stored event gains beside its producer fields.

Names follow OCSF attribute paths with dots turned into underscores (`actor.user.name` becomes
`actor_user_name`), so the OCSF documentation explains each column. The core sits in one struct column
named `ocsf` in every Parquet file; the `events` view flattens it for all sources at once.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["CORE_COLUMN", "CORE_FIELDS", "CORE_SCHEMA", "CORE_STRUCT", "SEVERITY_NAMES"]

CORE_COLUMN = "ocsf"

#: (name, type, what it is). The order is the `events` view's column order.
CORE_FIELDS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("time", pa.timestamp("us", tz="UTC"), "when the event happened (UTC); ingest time if unknown"),
    ("class_uid", pa.int32(), "OCSF event class (1007 process activity, 3002 authentication...)"),
    ("class_name", pa.string(), "OCSF event class name"),
    ("category_uid", pa.int32(), "OCSF category (1 system, 2 findings, 3 IAM, 4 network, 6 application)"),
    ("category_name", pa.string(), "OCSF category name"),
    ("activity_id", pa.int32(), "OCSF activity within the class (0 unknown, 99 other)"),
    ("activity_name", pa.string(), "what happened, in the producer's words where it has them"),
    ("severity_id", pa.int32(), "OCSF severity: 0 unknown, 1 informational ... 5 critical, 6 fatal"),
    ("severity", pa.string(), "severity name"),
    ("status", pa.string(), "outcome: Success, Failure or the producer's word"),
    ("actor_user_name", pa.string(), "the user who acted (or logged on)"),
    ("src_endpoint_ip", pa.string(), "source address"),
    ("src_endpoint_port", pa.int32(), "source port"),
    ("dst_endpoint_ip", pa.string(), "destination address"),
    ("dst_endpoint_port", pa.int32(), "destination port"),
    ("device_hostname", pa.string(), "host that reported the event"),
    ("process_name", pa.string(), "process image name"),
    ("process_file_path", pa.string(), "process image path"),
    ("process_cmd_line", pa.string(), "process command line"),
    ("process_pid", pa.int64(), "process id"),
    ("process_parent_process_name", pa.string(), "parent process image name"),
    ("process_parent_process_file_path", pa.string(), "parent process image path"),
    ("process_parent_process_cmd_line", pa.string(), "parent process command line"),
    ("process_parent_process_pid", pa.int64(), "parent process id"),
    ("file_path", pa.string(), "file acted upon"),
    ("metadata_product_name", pa.string(), "product that produced the event (Sysmon, Zeek, CloudTrail...)"),
    ("metadata_log_name", pa.string(), "Watchfloor source name (the per-source view)"),
    ("metadata_log_format", pa.string(), "format the event was read as"),
    ("metadata_uid", pa.string(), "unique event id within this installation"),
    ("metadata_logged_time", pa.timestamp("us", tz="UTC"), "when Watchfloor stored the event"),
    ("metadata_origin", pa.string(), "file (or listener) the event came from"),
    ("metadata_origin_position", pa.int64(), "line, record number or offset in the origin"),
    ("raw_data", pa.string(), "the event's original text"),
)

CORE_SCHEMA = pa.schema([pa.field(name, dtype) for name, dtype, _ in CORE_FIELDS])
CORE_STRUCT = pa.struct(list(CORE_SCHEMA))

SEVERITY_NAMES = {
    0: "Unknown",
    1: "Informational",
    2: "Low",
    3: "Medium",
    4: "High",
    5: "Critical",
    6: "Fatal",
    99: "Other",
}
