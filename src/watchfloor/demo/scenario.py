"""Built-in sample telemetry of a multi-stage attack, written for Watchfloor (not copied from anywhere).

The story, over about an hour: an attacker sprays passwords at the SSH bastion and gets in as `deploy`;
Okta shows an MFA push storm against j.doe until one push is accepted; j.doe opens a phishing
attachment on workstation WS-042 that starts an encoded PowerShell stager, which beacons to a command
and control server (seen by Zeek and Suricata), drops a tool, dumps LSASS, moves laterally to the file
server with a stolen service account and deletes shadow copies; finally the stolen AWS keys of that
account list and download S3 buckets. Each step is an event in the shape its producer really writes
(Windows events as NXLog ships them, auth.log lines, Zeek TSV, Suricata EVE, Okta System Log, CloudTrail),
timed relative to `start`, with benign background activity around it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

__all__ = ["write_scenario"]

HOST = "WS-042.corp.example"
USER = "CORP\\j.doe"
ATTACKER_IP = "198.51.100.23"
C2_IP = "203.0.113.66"
WORKSTATION_IP = "10.20.4.42"


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


def _syslog_stamp(at: dt.datetime) -> str:
    """RFC 3164 time as auth.log writes it: `Nov  3 08:01:02` (day padded with a space)."""
    return f"{at:%b} {at.day:2d} {at:%H:%M:%S}"


def _auth_log(start: dt.datetime) -> list[str]:
    """The bastion's /var/log/auth.log: a password spray, then a success and sudo."""
    lines = []
    for i, user in enumerate(["admin", "root", "oracle", "test", "deploy", "ubuntu", "deploy", "deploy"]):
        at = start + dt.timedelta(seconds=2 * i)
        pid = 21000 + i
        stamp = _syslog_stamp(at)
        invalid = "" if user in ("root", "deploy", "ubuntu") else "invalid user "
        lines.append(
            f"{stamp} bastion sshd[{pid}]: Failed password for {invalid}{user} from {ATTACKER_IP} "
            f"port {40000 + i} ssh2"
        )
    at = start + dt.timedelta(seconds=30)
    stamp = _syslog_stamp(at)
    lines.append(
        f"{stamp} bastion sshd[21042]: Accepted password for deploy from {ATTACKER_IP} port 40100 ssh2"
    )
    lines.append(
        f"{stamp} bastion sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; "
        "COMMAND=/usr/bin/cat /etc/shadow"
    )
    return lines


def _okta(start: dt.datetime) -> list[dict[str, Any]]:
    """Okta System Log: an MFA push storm against j.doe, then a session from the attacker."""

    def event(
        at: dt.datetime, kind: str, result: str, message: str, reason: str | None = None
    ) -> dict[str, Any]:
        return {
            "uuid": f"demo-okta-{int(at.timestamp() * 1000)}-{kind}",
            "published": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "eventType": kind,
            "version": "0",
            "severity": "INFO" if result == "SUCCESS" else "WARN",
            "displayMessage": message,
            "actor": {
                "id": "00u1demo",
                "type": "User",
                "alternateId": "j.doe@corp.example",
                "displayName": "Jane Doe",
            },
            "client": {
                "ipAddress": ATTACKER_IP,
                "userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Windows 10", "browser": "CHROME"},
                "geographicalContext": {"country": "Netherlands", "city": "Amsterdam"},
            },
            "outcome": {"result": result, "reason": reason},
            "target": [{"id": "00u1demo", "type": "User", "alternateId": "j.doe@corp.example"}],
            "transaction": {"type": "WEB", "id": "demo"},
        }

    events = [
        event(
            start + dt.timedelta(seconds=10 * i),
            "user.mfa.okta_verify.deny_push",
            "FAILURE",
            "User rejected Okta push verify",
            "User rejected Okta push verify",
        )
        for i in range(6)
    ]
    events.append(
        event(
            start + dt.timedelta(seconds=70),
            "user.authentication.auth_via_mfa",
            "SUCCESS",
            "Authentication of user via MFA",
        )
    )
    events.append(
        event(start + dt.timedelta(seconds=72), "user.session.start", "SUCCESS", "User login to Okta")
    )
    return events


def _zeek_conn(start: dt.datetime) -> str:
    """Zeek conn.log (TSV, as Zeek writes it): the stager's beacon every 60 s to the C2 server."""
    fields = [
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "proto",
        "service",
        "duration",
        "orig_bytes",
        "resp_bytes",
        "conn_state",
    ]
    types = [
        "time",
        "string",
        "addr",
        "port",
        "addr",
        "port",
        "enum",
        "string",
        "interval",
        "count",
        "count",
        "string",
    ]
    header = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tconn",
        f"#open\t{start:%Y-%m-%d-%H-%M-%S}",
        "#fields\t" + "\t".join(fields),
        "#types\t" + "\t".join(types),
    ]
    rows = []
    for i in range(12):
        at = start + dt.timedelta(seconds=60 * i + (i % 3))
        rows.append(
            [
                f"{at.timestamp():.6f}",
                f"CDemo{i:04d}",
                WORKSTATION_IP,
                str(51544 + i),
                C2_IP,
                "443",
                "tcp",
                "ssl",
                "0.412",
                "517",
                "3120",
                "SF",
            ]
        )
    rows.append(
        [
            f"{start.timestamp():.6f}",
            "CDemoDNS",
            WORKSTATION_IP,
            "53000",
            "10.20.0.2",
            "53",
            "udp",
            "dns",
            "0.001",
            "40",
            "72",
            "SF",
        ]
    )
    return "\n".join(header + ["\t".join(r) for r in rows]) + "\n#close\t-\n"


def _suricata(start: dt.datetime) -> list[dict[str, Any]]:
    """Suricata EVE (line-delimited): an alert on the beacon's TLS certificate."""
    return [
        {
            "timestamp": (start + dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f+0000"),
            "flow_id": 1234567890,
            "in_iface": "eth1",
            "event_type": "alert",
            "src_ip": WORKSTATION_IP,
            "src_port": 51544,
            "dest_ip": C2_IP,
            "dest_port": 443,
            "proto": "TCP",
            "alert": {
                "action": "allowed",
                "gid": 1,
                "signature_id": 2029340,
                "rev": 2,
                "signature": "ET MALWARE Observed Malicious SSL Cert (Demo C2)",
                "category": "A Network Trojan was detected",
                "severity": 1,
            },
            "tls": {
                "subject": "CN=update-check.example",
                "issuerdn": "CN=update-check.example",
                "sni": "update-check.example",
                "version": "TLS 1.2",
            },
            "app_proto": "tls",
        }
    ]


def _cloudtrail(start: dt.datetime) -> dict[str, Any]:
    """CloudTrail `Records`: the stolen keys enumerate and download S3 buckets."""

    def call(
        at: dt.datetime, name: str, params: dict[str, Any] | None, error: str | None = None
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "eventVersion": "1.08",
            "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "s3.amazonaws.com",
            "eventName": name,
            "awsRegion": "eu-west-1",
            "sourceIPAddress": ATTACKER_IP,
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDADEMO0000000000001",
                "arn": "arn:aws:iam::111122223333:user/svc_backup",
                "accountId": "111122223333",
                "accessKeyId": "AKIADEMO00000000000X",
                "userName": "svc_backup",
            },
            "requestParameters": params,
            "responseElements": None,
            "eventID": f"demo-ct-{int(at.timestamp())}-{name}",
            "readOnly": True,
            "eventType": "AwsApiCall",
            "managementEvent": name == "ListBuckets",
            "recipientAccountId": "111122223333",
        }
        if error:
            record["errorCode"] = error
            record["errorMessage"] = "Access Denied"
        return record

    records = [call(start, "ListBuckets", None)]
    for i, bucket in enumerate(["corp-finance-reports", "corp-hr-exports", "corp-backups"]):
        records.append(call(start + dt.timedelta(seconds=5 + i), "ListObjects", {"bucketName": bucket}))
        records.append(
            call(
                start + dt.timedelta(seconds=20 + i),
                "GetObject",
                {"bucketName": bucket, "key": f"{bucket}/2026/export.csv"},
                "AccessDenied" if bucket == "corp-hr-exports" else None,
            )
        )
    return {"Records": records}


def write_scenario(folder: Path, start: dt.datetime | None = None) -> list[Path]:
    """Write the scenario's files into `folder`; return their paths."""
    begin = start or (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "bastion_auth.log": "\n".join(_auth_log(begin)) + "\n",
        "okta_system_log.json": json.dumps(_okta(begin + dt.timedelta(minutes=5)), indent=1),
        "ws042_sysmon_security.json": "".join(
            json.dumps(e) + "\n" for e in _windows_events(begin + dt.timedelta(minutes=8))
        ),
        "zeek_conn.log": _zeek_conn(begin + dt.timedelta(minutes=8, seconds=9)),
        "suricata_eve.json": "".join(
            json.dumps(e) + "\n" for e in _suricata(begin + dt.timedelta(minutes=8, seconds=9))
        ),
        "cloudtrail_111122223333.json": json.dumps(_cloudtrail(begin + dt.timedelta(minutes=30))),
    }
    paths = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
