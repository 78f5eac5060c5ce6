"""Built-in exercise scenarios, written for Watchfloor: attack steps, each with the ATT&CK technique it shows.

A scenario writes one file per step (in the shape its producer really writes: auth.log lines, Okta
System Log, Windows events as NXLog ships them, Zeek TSV, CloudTrail), so that a report can tell which
step each alert came from by the file its evidence was read from. Times are laid out from a fixed
start; the replay shifts them to now. `SCENARIOS` is the registry `watchfloor exercise run NAME` reads.

`demo-intrusion` follows an intrusion from a password spray on the SSH bastion to S3 data theft. Its
lateral-movement step (a network logon with a stolen service account) has no rule in the demo pack on
purpose: a drill that finds a gap is doing its job.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SCENARIOS", "Scenario", "Step"]

HOST = "WS-042.corp.example"
USER = "CORP\\j.doe"
ATTACKER_IP = "198.51.100.23"
C2_IP = "203.0.113.66"
WORKSTATION_IP = "10.20.4.42"
POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Step:
    """One stage of an attack: the file holding its telemetry and the techniques it should trigger."""

    name: str
    file: str
    techniques: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named attack: its steps, and a writer that puts their telemetry in a folder."""

    name: str
    description: str
    steps: tuple[Step, ...]
    write: Callable[[Path, dt.datetime], list[Path]]


def _stamp(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _sysmon(at: dt.datetime, event_id: int, **data: Any) -> dict[str, Any]:
    return {
        "@timestamp": _stamp(at),
        "EventID": event_id,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "SourceName": "Microsoft-Windows-Sysmon",
        "Hostname": HOST,
        "UtcTime": at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        **data,
    }


def _syslog(at: dt.datetime, text: str) -> str:
    return f"{at:%b} {at.day:2d} {at:%H:%M:%S} bastion {text}"


def _spray(at: dt.datetime) -> str:
    lines = []
    for i, user in enumerate(["admin", "root", "oracle", "test", "deploy", "ubuntu", "deploy", "deploy"]):
        invalid = "" if user in ("root", "deploy", "ubuntu") else "invalid user "
        lines.append(
            _syslog(
                at + dt.timedelta(seconds=2 * i),
                f"sshd[{21000 + i}]: Failed password for {invalid}{user} from {ATTACKER_IP} "
                f"port {40000 + i} ssh2",
            )
        )
    accepted = f"sshd[21042]: Accepted password for deploy from {ATTACKER_IP} port 40100 ssh2"
    lines.append(_syslog(at + dt.timedelta(seconds=30), accepted))
    return "\n".join(lines) + "\n"


def _shadow(at: dt.datetime) -> str:
    command = "sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/cat /etc/shadow"
    return _syslog(at, command) + "\n"


def _okta(at: dt.datetime) -> str:
    def event(when: dt.datetime, kind: str, result: str) -> dict[str, Any]:
        return {
            "uuid": f"drill-okta-{int(when.timestamp() * 1000)}-{kind}",
            "published": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "eventType": kind,
            "version": "0",
            "severity": "INFO" if result == "SUCCESS" else "WARN",
            "displayMessage": "User rejected Okta push verify" if result != "SUCCESS" else "Authentication",
            "actor": {"id": "00u1drill", "type": "User", "alternateId": "j.doe@corp.example"},
            "client": {"ipAddress": ATTACKER_IP},
            "outcome": {"result": result},
            "target": [{"id": "00u1drill", "type": "User", "alternateId": "j.doe@corp.example"}],
        }

    kind = "user.mfa.okta_verify.deny_push"
    events = [event(at + dt.timedelta(seconds=10 * i), kind, "FAILURE") for i in range(6)]
    events.append(event(at + dt.timedelta(seconds=70), "user.authentication.auth_via_mfa", "SUCCESS"))
    return json.dumps(events, indent=1)


def _lines(*events: dict[str, Any]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


def _phish(at: dt.datetime) -> str:
    outlook = "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"
    return _lines(
        _sysmon(
            at,
            1,
            Image="C:\\Windows\\System32\\cmd.exe",
            CommandLine='cmd.exe /c "invoice.js"',
            ParentImage=outlook,
            User=USER,
            ProcessId="4410",
            ParentProcessId="3120",
        )
    )


def _stager(at: dt.datetime) -> str:
    return _lines(
        _sysmon(
            at,
            1,
            Image=POWERSHELL,
            CommandLine="powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA",
            ParentImage="C:\\Windows\\System32\\cmd.exe",
            User=USER,
            ProcessId="5120",
            ParentProcessId="4410",
        )
    )


def _beacon(at: dt.datetime) -> str:
    fields = (
        "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes "
        "conn_state"
    )
    types = "time string addr port addr port enum string interval count count string"
    header = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tconn",
        f"#open\t{at:%Y-%m-%d-%H-%M-%S}",
        "#fields\t" + "\t".join(fields.split()),
        "#types\t" + "\t".join(types.split()),
    ]
    rows = []
    for i in range(6):
        when = at + dt.timedelta(seconds=60 * i + (i % 3))
        row = [f"{when.timestamp():.6f}", f"CDrill{i:04d}", WORKSTATION_IP, str(51544 + i), C2_IP, "443"]
        rows.append([*row, "tcp", "ssl", "0.412", "517", "3120", "SF"])
    return "\n".join(header + ["\t".join(r) for r in rows]) + "\n#close\t-\n"


def _lsass(at: dt.datetime) -> str:
    return _lines(
        _sysmon(
            at,
            10,
            SourceImage="C:\\Users\\j.doe\\AppData\\Local\\Temp\\pd.exe",
            TargetImage="C:\\Windows\\System32\\lsass.exe",
            GrantedAccess="0x1fffff",
            SourceProcessId="6001",
            User=USER,
        )
    )


def _lateral(at: dt.datetime) -> str:
    return _lines(
        {
            "@timestamp": _stamp(at),
            "EventID": 4624,
            "Channel": "Security",
            "SourceName": "Microsoft-Windows-Security-Auditing",
            "Hostname": "FS-01.corp.example",
            "TargetUserName": "svc_backup",
            "TargetDomainName": "CORP",
            "LogonType": "3",
            "IpAddress": WORKSTATION_IP,
            "IpPort": "51802",
            "AuthenticationPackageName": "NTLM",
        }
    )


def _vss(at: dt.datetime) -> str:
    return _lines(
        _sysmon(
            at,
            1,
            Image="C:\\Windows\\System32\\vssadmin.exe",
            CommandLine="vssadmin.exe delete shadows /all /quiet",
            ParentImage=POWERSHELL,
            User=USER,
            ProcessId="6120",
            ParentProcessId="5120",
        )
    )


def _s3(at: dt.datetime) -> str:
    def call(when: dt.datetime, name: str, params: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "eventVersion": "1.08",
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "s3.amazonaws.com",
            "eventName": name,
            "awsRegion": "eu-west-1",
            "sourceIPAddress": ATTACKER_IP,
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
            "userIdentity": {
                "type": "IAMUser",
                "arn": "arn:aws:iam::111122223333:user/svc_backup",
                "accountId": "111122223333",
                "userName": "svc_backup",
            },
            "requestParameters": params,
            "eventID": f"drill-ct-{int(when.timestamp())}-{name}",
            "eventType": "AwsApiCall",
            "recipientAccountId": "111122223333",
        }

    records = [call(at, "ListBuckets", None)]
    for i, bucket in enumerate(["corp-finance-reports", "corp-backups"]):
        key = {"bucketName": bucket, "key": f"{bucket}/2026/export.csv"}
        records.append(call(at + dt.timedelta(seconds=20 + i), "GetObject", key))
    return json.dumps({"Records": records})


#: (step, minutes after the start, writer of its file's text)
_DEMO_STEPS: tuple[tuple[Step, float, Callable[[dt.datetime], str]], ...] = (
    (Step("SSH password spray on the bastion", "01_ssh_password_spray.log", ("T1110",)), 0, _spray),
    (Step("Root reads /etc/shadow", "02_sudo_reads_shadow.log", ("T1003.008",)), 1, _shadow),
    (Step("MFA push storm against j.doe", "03_mfa_push_storm.json", ("T1621",)), 5, _okta),
    (Step("Phishing attachment opened", "04_phishing_attachment.json", ("T1204.002",)), 8, _phish),
    (Step("Encoded PowerShell stager", "05_encoded_powershell.json", ("T1059.001",)), 8.1, _stager),
    (Step("Beacon to the C2 server", "06_c2_beacon.log", ("T1071.001",)), 8.2, _beacon),
    (Step("LSASS memory read", "07_lsass_access.json", ("T1003.001",)), 10, _lsass),
    (Step("Lateral movement with svc_backup", "08_lateral_movement.json", ("T1021.002",)), 11, _lateral),
    (Step("Shadow copies deleted", "09_shadow_copy_deletion.json", ("T1490",)), 12, _vss),
    (Step("S3 data taken with stolen keys", "10_s3_collection.json", ("T1530",)), 30, _s3),
)


def _write_demo(folder: Path, start: dt.datetime) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for step, minutes, writer in _DEMO_STEPS:
        path = folder / step.file
        path.write_text(writer(start + dt.timedelta(minutes=minutes)), encoding="utf-8")
        paths.append(path)
    return paths


SCENARIOS: dict[str, Scenario] = {
    "demo-intrusion": Scenario(
        "demo-intrusion",
        "Password spray, MFA fatigue, phishing, C2, credential theft, lateral movement, impact, S3 theft.",
        tuple(step for step, _, _ in _DEMO_STEPS),
        _write_demo,
    ),
}
