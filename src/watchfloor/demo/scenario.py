"""Built-in sample telemetry of a multi-stage attack, written for Watchfloor (not copied from anywhere).

The story: a phishing attachment on workstation WS-042 starts an encoded PowerShell stager, which
downloads a tool, dumps LSASS, and moves laterally to the file server with a stolen account. Each
step is an event in the shape its producer really writes, timed relative to `start`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

__all__ = ["write_scenario"]

HOST = "WS-042.corp.example"
USER = "CORP\\j.doe"


def _sysmon(at: dt.datetime, event_id: int, **data: Any) -> dict[str, Any]:
    """A Sysmon event the way NXLog/Logstash ship it: flat Windows field names."""
    return {
        "@timestamp": at.isoformat().replace("+00:00", "Z"),
        "EventID": event_id,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "SourceName": "Microsoft-Windows-Sysmon",
        "Hostname": HOST,
        "UtcTime": at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        **data,
    }


def _windows_events(start: dt.datetime) -> list[dict[str, Any]]:
    t = [start + dt.timedelta(seconds=s) for s in (0, 5, 9, 40, 95, 130, 180)]
    outlook = "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"
    powershell = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    return [
        _sysmon(
            t[0],
            1,
            Image="C:\\Windows\\System32\\cmd.exe",
            CommandLine='cmd.exe /c "invoice.js"',
            ParentImage=outlook,
            ParentCommandLine='"OUTLOOK.EXE"',
            User=USER,
            ProcessId="4410",
            ParentProcessId="3120",
            IntegrityLevel="Medium",
        ),
        _sysmon(
            t[1],
            1,
            Image=powershell,
            CommandLine="powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA",
            ParentImage="C:\\Windows\\System32\\cmd.exe",
            User=USER,
            ProcessId="5120",
            ParentProcessId="4410",
        ),
        _sysmon(
            t[2],
            3,
            Image=powershell,
            User=USER,
            Protocol="tcp",
            SourceIp="10.20.4.42",
            SourcePort="51544",
            DestinationIp="203.0.113.66",
            DestinationPort="443",
            ProcessId="5120",
        ),
        _sysmon(
            t[3],
            11,
            Image=powershell,
            TargetFilename="C:\\Users\\j.doe\\AppData\\Local\\Temp\\pd.exe",
            ProcessId="5120",
        ),
        _sysmon(
            t[4],
            10,
            SourceImage="C:\\Users\\j.doe\\AppData\\Local\\Temp\\pd.exe",
            TargetImage="C:\\Windows\\System32\\lsass.exe",
            GrantedAccess="0x1fffff",
            SourceProcessId="6001",
            User=USER,
        ),
        {
            "@timestamp": t[5].isoformat().replace("+00:00", "Z"),
            "EventID": 4624,
            "Channel": "Security",
            "SourceName": "Microsoft-Windows-Security-Auditing",
            "Hostname": "FS-01.corp.example",
            "TargetUserName": "svc_backup",
            "TargetDomainName": "CORP",
            "LogonType": "3",
            "IpAddress": "10.20.4.42",
            "IpPort": "51802",
            "AuthenticationPackageName": "NTLM",
        },
        _sysmon(
            t[6],
            1,
            Image="C:\\Windows\\System32\\vssadmin.exe",
            CommandLine="vssadmin.exe delete shadows /all /quiet",
            ParentImage=powershell,
            User=USER,
            ProcessId="6120",
            ParentProcessId="5120",
        ),
    ]


def write_scenario(folder: Path, start: dt.datetime | None = None) -> list[Path]:
    """Write the scenario's files into `folder`; return their paths."""
    begin = start or (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)
    folder.mkdir(parents=True, exist_ok=True)
    windows = folder / "ws042_sysmon_security.json"
    windows.write_text("".join(json.dumps(e) + "\n" for e in _windows_events(begin)), encoding="utf-8")
    return [windows]
