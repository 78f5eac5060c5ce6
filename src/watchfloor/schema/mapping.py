"""Declarations of how a source's producer fields fill the OCSF core.

A `SourceMapping` is data, not code: candidate producer fields per core field (the first present and
non-empty wins), the event class per value of a key field, and severity words. The normaliser applies
them a column at a time; a second storage engine can compile the same declarations to its own SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

__all__ = ["EventClass", "MappingRegistry", "SourceMapping"]


@dataclass(frozen=True, slots=True)
class EventClass:
    """An OCSF event class (and optionally the activity) that a producer event belongs to."""

    class_uid: int
    class_name: str
    activity_id: int = 0
    activity_name: str | None = None

    @property
    def category_uid(self) -> int:
        """OCSF classes are numbered category * 1000 + n."""
        return self.class_uid // 1000


BASE_EVENT = EventClass(0, "Base Event")


@dataclass(frozen=True, slots=True)
class SourceMapping:
    """How one source fills the core. Each tuple lists producer field names, most preferred first."""

    source: str
    product: str
    time: tuple[str, ...] = ()
    user: tuple[str, ...] = ()
    src_ip: tuple[str, ...] = ()
    src_port: tuple[str, ...] = ()
    dst_ip: tuple[str, ...] = ()
    dst_port: tuple[str, ...] = ()
    hostname: tuple[str, ...] = ()
    process_path: tuple[str, ...] = ()
    process_cmd_line: tuple[str, ...] = ()
    process_pid: tuple[str, ...] = ()
    parent_path: tuple[str, ...] = ()
    parent_cmd_line: tuple[str, ...] = ()
    parent_pid: tuple[str, ...] = ()
    file_path: tuple[str, ...] = ()
    activity: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    #: Producer outcome words (lower-cased) to `Success`/`Failure`; other values are kept as written,
    #: or become `status_other` when set (any CloudTrail `errorCode` means Failure).
    status_values: Mapping[str, str] = field(default_factory=dict)
    status_other: str | None = None
    #: Status when no candidate field is present (no CloudTrail `errorCode` means Success).
    status_missing: str | None = None
    severity: tuple[str, ...] = ()
    #: Producer severity words or numbers (lower-cased) to OCSF severity ids.
    severity_ids: Mapping[str, int] = field(default_factory=dict)
    #: Field whose value picks the class, and the classes by value; `default_class` otherwise.
    class_key: tuple[str, ...] = ()
    classes: Mapping[str, EventClass] = field(default_factory=dict)
    default_class: EventClass = BASE_EVENT
    #: Product name per value of `product_key` (e.g. Sysmon vs Security by channel); `product` otherwise.
    product_key: tuple[str, ...] = ()
    products: Mapping[str, str] = field(default_factory=dict)


class MappingRegistry:
    """Mappings by source name; sources without one still get time, product and origin."""

    def __init__(self) -> None:
        self._mappings: dict[str, SourceMapping] = {}

    def register(self, mapping: SourceMapping) -> SourceMapping:
        """Add the mapping of one source."""
        if mapping.source in self._mappings:
            raise ValueError(f"mapping for source {mapping.source!r} registered twice")
        self._mappings[mapping.source] = mapping
        return mapping

    def get(self, source: str) -> SourceMapping:
        """The mapping of `source`, or a generic one that looks for common field names."""
        found = self._mappings.get(source)
        if found is not None:
            return found
        return replace(GENERIC_MAPPING, source=source, product=source)

    def sources(self) -> list[str]:
        """Sources with a declared mapping."""
        return sorted(self._mappings)


#: What a source without a declared mapping is searched for (common names across producers).
GENERIC_MAPPING = SourceMapping(
    source="generic",
    product="generic",
    time=(
        "@timestamp",
        "timestamp",
        "time",
        "ts",
        "eventTime",
        "published",
        "TimeCreated",
        "TimeGenerated",
        "date",
    ),
    user=("user", "user.name", "username", "userName", "actor.alternateId", "UserName"),
    src_ip=("src_ip", "source.ip", "src", "srcip", "client_ip", "sourceIPAddress", "ipAddress"),
    src_port=("src_port", "source.port", "spt", "srcport"),
    dst_ip=("dest_ip", "dst_ip", "destination.ip", "dst", "dstip"),
    dst_port=("dest_port", "dst_port", "destination.port", "dpt", "dstport"),
    hostname=("host", "hostname", "host.name", "Hostname", "Computer", "dvchost"),
    process_path=("process.executable", "Image", "process_path"),
    process_cmd_line=("process.command_line", "CommandLine", "cmdline"),
    process_pid=("process.pid", "pid", "ProcessId"),
    file_path=("file.path", "TargetFilename", "file_path"),
    activity=("event.action", "action", "eventName", "eventType"),
    severity=("severity", "level", "log.level"),
)
