"""How Windows events fill the OCSF core (shared by .evtx, Winlogbeat and flat JSON shapes)."""

from __future__ import annotations

from watchfloor.schema import EventClass, SourceMapping

__all__ = ["WINDOWS_MAPPING"]

_PROCESS_START = EventClass(1007, "Process Activity", 1, "Launch")
_PROCESS_END = EventClass(1007, "Process Activity", 2, "Terminate")
_PROCESS_OPEN = EventClass(1007, "Process Activity", 3, "Open")
_PROCESS_INJECT = EventClass(1007, "Process Activity", 4, "Inject")
_LOGON = EventClass(3002, "Authentication", 1, "Logon")
_LOGOFF = EventClass(3002, "Authentication", 2, "Logoff")
_TICKET = EventClass(3002, "Authentication", 3, "Authentication Ticket")
_ACCOUNT = EventClass(3001, "Account Change", 99, "Other")
_GROUP = EventClass(3006, "Group Management", 99, "Other")
_NETWORK = EventClass(4001, "Network Activity", 6, "Traffic")
_DNS = EventClass(4003, "DNS Activity", 1, "Query")
_FILE = EventClass(1001, "File System Activity", 1, "Create")
_FILE_DELETE = EventClass(1001, "File System Activity", 4, "Delete")
_MODULE = EventClass(1005, "Module Activity", 1, "Load")
_JOB = EventClass(1006, "Scheduled Job Activity", 1, "Create")
_REGISTRY = EventClass(201001, "Registry Key Activity", 99, "Other")
_SERVICE = EventClass(201004, "Windows Service Activity", 1, "Create")
_SCRIPT = EventClass(1009, "Script Activity", 1, "Execute")
_LOG_CLEARED = EventClass(1008, "Event Log Activity", 1, "Clear")

WINDOWS_MAPPING = SourceMapping(
    source="windows",
    product="Windows",
    time=("TimeCreated", "@timestamp", "TimeGenerated", "EventTime", "UtcTime", "timestamp"),
    user=("TargetUserName", "User", "SubjectUserName", "AccountName", "UserName", "Account"),
    src_ip=("IpAddress", "SourceIp", "SourceAddress", "ClientAddress", "WorkstationName_ip"),
    src_port=("IpPort", "SourcePort"),
    dst_ip=("DestinationIp", "DestAddress", "DestinationAddress"),
    dst_port=("DestinationPort", "DestPort"),
    hostname=("Computer", "Hostname", "host.name", "ComputerName"),
    process_path=("Image", "NewProcessName", "ProcessName", "Application", "SourceImage"),
    process_cmd_line=("CommandLine",),
    process_pid=("ProcessId", "NewProcessId", "SourceProcessId"),
    parent_path=("ParentImage", "ParentProcessName"),
    parent_cmd_line=("ParentCommandLine",),
    parent_pid=("ParentProcessId",),
    file_path=("TargetFilename", "ObjectName", "FileName", "ImageLoaded", "RelativeTargetName"),
    status=("Status", "Keywords"),
    severity=("Level",),
    severity_ids={
        "0": 1,
        "1": 5,
        "2": 4,
        "3": 3,
        "4": 1,
        "5": 1,
        "critical": 5,
        "error": 4,
        "warning": 3,
        "information": 1,
        "verbose": 1,
    },
    class_key=("EventID",),
    classes={
        "1": _PROCESS_START,
        "4688": _PROCESS_START,
        "5": _PROCESS_END,
        "4689": _PROCESS_END,
        "10": _PROCESS_OPEN,
        "8": _PROCESS_INJECT,
        "4624": _LOGON,
        "4625": _LOGON,
        "4648": _LOGON,
        "4634": _LOGOFF,
        "4647": _LOGOFF,
        "4768": _TICKET,
        "4769": _TICKET,
        "4771": _TICKET,
        "4776": _LOGON,
        "4720": _ACCOUNT,
        "4722": _ACCOUNT,
        "4723": _ACCOUNT,
        "4724": _ACCOUNT,
        "4725": _ACCOUNT,
        "4726": _ACCOUNT,
        "4738": _ACCOUNT,
        "4728": _GROUP,
        "4732": _GROUP,
        "4756": _GROUP,
        "3": _NETWORK,
        "5156": _NETWORK,
        "5157": _NETWORK,
        "22": _DNS,
        "11": _FILE,
        "23": _FILE_DELETE,
        "26": _FILE_DELETE,
        "4663": _FILE,
        "5145": _FILE,
        "7": _MODULE,
        "4698": _JOB,
        "4702": _JOB,
        "12": _REGISTRY,
        "13": _REGISTRY,
        "14": _REGISTRY,
        "4657": _REGISTRY,
        "7045": _SERVICE,
        "4697": _SERVICE,
        "4103": _SCRIPT,
        "4104": _SCRIPT,
        "1102": _LOG_CLEARED,
        "104": _LOG_CLEARED,
    },
    product_key=("Channel",),
    products={
        "microsoft-windows-sysmon/operational": "Sysmon",
        "security": "Windows Security Auditing",
        "system": "Windows System",
        "microsoft-windows-powershell/operational": "PowerShell",
        "windows powershell": "PowerShell",
        "microsoft-windows-windows defender/operational": "Microsoft Defender",
    },
)
