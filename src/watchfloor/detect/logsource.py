"""Which stored events a Sigma `logsource` means, and what its field names are called there.

A logsource maps to one source view and one or more variants. Each variant is a filter that picks the
logsource's events out of the view (a Windows channel and event ids) and a renaming of Sigma field
names to the view's columns: `process_creation` is Sysmon event 1 with Sigma's names as they are, or
Security event 4688 with `Image` read from `NewProcessName` and so on. A rule compiled for such a
logsource is the disjunction over the variants of (filter and the rule's predicate, renamed).

Logsources without a declared mapping go to a view named after them (`proxy`, `macos_process_creation`),
with field names unchanged, so that a source ingested later under that name is searched at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sigma.pipelines.common import windows_logsource_mapping

from watchfloor.detect.errors import UnsupportedRule
from watchfloor.detect.ir import Node, StrMatch, all_of, any_of

__all__ = ["LOGSOURCES", "LogsourceKey", "Target", "Variant", "resolve_logsource"]

SYSMON = "Microsoft-Windows-Sysmon/Operational"
SECURITY = "Security"
POWERSHELL = ("Microsoft-Windows-PowerShell/Operational", "PowerShellCore/Operational")
POWERSHELL_CLASSIC = "Windows PowerShell"


@dataclass(frozen=True, slots=True)
class Variant:
    """One way a logsource's events appear in a view: a filter and Sigma field → column names.

    `absent` lists Sigma fields this variant never has (they read as null), so that a Sigma name that
    happens to equal an unrelated column of the variant is not read by mistake.
    """

    condition: Node
    fields: Mapping[str, str] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()

    def column(self, sigma_field: str) -> str | None:
        """The view column holding a Sigma field, or None if this variant lacks it."""
        if sigma_field in self.absent:
            return None
        return self.fields.get(sigma_field, sigma_field)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a logsource's events are: a view and its variants; `declared` is False for fallbacks."""

    source: str
    variants: tuple[Variant, ...]
    declared: bool = True


LogsourceKey = tuple[str | None, str | None, str | None]  # (product, category, service)


def _eq(column: str, *values: str) -> Node:
    return any_of([StrMatch(column, (v,)) for v in values])


def _win(channels: tuple[str, ...] | str, *event_ids: int) -> Node:
    names = (channels,) if isinstance(channels, str) else channels
    parts = [_eq("Channel", *names)]
    if event_ids:
        parts.append(_eq("EventID", *(str(i) for i in event_ids)))
    return all_of(parts)


def _sysmon(*event_ids: int) -> Variant:
    return Variant(_win(SYSMON, *event_ids))


_PROCESS_4688 = Variant(
    _win(SECURITY, 4688),
    fields={
        "Image": "NewProcessName",
        "ParentImage": "ParentProcessName",
        "User": "SubjectUserName",
        "ProcessId": "NewProcessId",
        "ParentProcessId": "ProcessId",
        "IntegrityLevel": "MandatoryLabel",
        "LogonId": "SubjectLogonId",
    },
    absent=frozenset(
        {
            "OriginalFileName",
            "Hashes",
            "md5",
            "sha1",
            "sha256",
            "Imphash",
            "Product",
            "Company",
            "Description",
            "FileVersion",
            "CurrentDirectory",
            "ParentCommandLine",
            "ProcessGuid",
            "ParentProcessGuid",
            "ParentUser",
            "TerminalSessionId",
            "LogonGuid",
            "RuleName",
            "UtcTime",
        }
    ),
)

#: Sysmon event ids of the Windows categories (Sysmon's own schema).
_SYSMON_CATEGORIES: dict[str, tuple[int, ...]] = {
    "file_change": (2,),
    "network_connection": (3,),
    "sysmon_status": (4, 16),
    "process_termination": (5,),
    "driver_load": (6,),
    "image_load": (7,),
    "create_remote_thread": (8,),
    "raw_access_thread": (9,),
    "process_access": (10,),
    "file_event": (11,),
    "registry_add": (12,),
    "registry_delete": (12,),
    "registry_set": (13,),
    "registry_rename": (14,),
    "registry_event": (12, 13, 14),
    "create_stream_hash": (15,),
    "pipe_created": (17, 18),
    "wmi_event": (19, 20, 21),
    "dns_query": (22,),
    "file_delete": (23, 26),
    "clipboard_capture": (24,),
    "process_tampering": (25,),
    "file_delete_detected": (26,),
    "file_block_executable": (27,),
    "file_block_shredding": (28,),
    "file_executable_detected": (29,),
    "sysmon_error": (255,),
}

_KERNEL_FILE = "Microsoft-Windows-Kernel-File/Analytic"

#: Windows services SigmaHQ uses that pySigma's channel table does not (yet) name.
_EXTRA_CHANNELS: dict[str, str] = {
    "smbclient-connectivity": "Microsoft-Windows-SmbClient/Connectivity",
    "smbserver-connectivity": "Microsoft-Windows-SMBServer/Connectivity",
}

LOGSOURCES: dict[LogsourceKey, Target] = {
    ("windows", "process_creation", None): Target("windows", (_sysmon(1), _PROCESS_4688)),
    **{("windows", c, None): Target("windows", (_sysmon(*ids),)) for c, ids in _SYSMON_CATEGORIES.items()},
    ("windows", "file_access", None): Target("windows", (Variant(_win(_KERNEL_FILE)),)),
    ("windows", "file_rename", None): Target("windows", (Variant(_win(_KERNEL_FILE)),)),
    ("windows", "ps_module", None): Target("windows", (Variant(_win(POWERSHELL, 4103)),)),
    ("windows", "ps_script", None): Target("windows", (Variant(_win(POWERSHELL, 4104)),)),
    ("windows", "ps_classic_start", None): Target("windows", (Variant(_win(POWERSHELL_CLASSIC, 400)),)),
    ("windows", "ps_classic_provider_start", None): Target(
        "windows", (Variant(_win(POWERSHELL_CLASSIC, 600)),)
    ),
    ("windows", "ps_classic_script", None): Target("windows", (Variant(_win(POWERSHELL_CLASSIC, 800)),)),
    ("windows", None, None): Target("windows", (Variant(all_of([])),)),
    ("linux", "process_creation", None): Target("sysmon_linux", (Variant(_eq("EventID", "1")),)),
    ("linux", "network_connection", None): Target("sysmon_linux", (Variant(_eq("EventID", "3")),)),
    ("linux", "file_event", None): Target("sysmon_linux", (Variant(_eq("EventID", "11")),)),
    ("linux", None, "auditd"): Target("auditd", (Variant(all_of([])),)),
    ("linux", None, None): Target("syslog", (Variant(all_of([])),)),
    ("aws", None, "cloudtrail"): Target("aws_cloudtrail", (Variant(all_of([])),)),
    ("azure", None, "signinlogs"): Target("azure_signin", (Variant(all_of([])),)),
    ("okta", None, "okta"): Target("okta", (Variant(all_of([])),)),
    (None, "dns", None): Target("zeek_dns", (Variant(all_of([])),)),
}

#: Linux services whose messages arrive over syslog.
_SYSLOG_SERVICES = frozenset({"syslog", "auth", "sshd", "sudo", "cron", "vsftpd", "clamav", "guacamole"})
_UNSAFE = re.compile(r"[^a-z0-9_]+")


def _view_name(*parts: str | None) -> str:
    name = "_".join(_UNSAFE.sub("_", p.lower()).strip("_") for p in parts if p)
    return name if name and name[0].isalpha() else f"s_{name}"


def resolve_logsource(product: str | None, category: str | None, service: str | None) -> Target:
    """The view and variants of a Sigma logsource; raises `UnsupportedRule` where none can be said."""
    key = (product, category, service)
    if key in LOGSOURCES:
        return LOGSOURCES[key]
    if product == "windows" and category is None and service is not None:
        channels = windows_logsource_mapping.get(service) or _EXTRA_CHANNELS.get(service)
        if channels is None:
            raise UnsupportedRule(f"no Windows event log channel is known for service {service!r}")
        names = (channels,) if isinstance(channels, str) else tuple(channels)
        return Target("windows", (Variant(_win(names)),))
    if product == "windows":
        raise UnsupportedRule(f"no Windows event mapping for category {category!r}")
    if product == "linux" and category is None and service in _SYSLOG_SERVICES:
        return LOGSOURCES[("linux", None, None)]
    if product == "zeek" and service:
        return Target(_view_name("zeek", service), (Variant(all_of([])),), declared=False)
    if product is None and category is None and service is None:
        raise UnsupportedRule("the rule has an empty logsource")
    view = _view_name(product, service) if service else _view_name(product, category)
    return Target(view, (Variant(all_of([])),), declared=False)
