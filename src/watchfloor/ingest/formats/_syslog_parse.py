"""Pure syslog parsing (RFC 3164 and RFC 5424), shared by file ingestion and the syslog listener.

A syslog line is a header (priority, time, host, program, pid) wrapped around a free-text message.
`parse_syslog` returns the header as flat producer fields plus what `_auth` recognises in well-known
authentication messages (sshd, sudo, useradd), so an auth.log line and the same line received over
the network land in the `syslog` source with the same names.
"""

from __future__ import annotations

import datetime as dt
import functools
import re

from watchfloor.ingest.formats._auth import extract_auth
from watchfloor.schema import EventClass, SourceMapping

__all__ = ["SYSLOG_MAPPING", "infer_year", "parse_structured_data", "parse_syslog"]

FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    *(f"local{i}" for i in range(8)),
)
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

_PRI = r"(?:<(?P<pri>\d{1,3})>)"
_BSD_TIME = (
    r"(?P<bsd>(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2})(?: (?P<year>\d{4}))? "
    r"(?P<hms>\d\d:\d\d:\d\d)(?:\.\d+)?)"
)
_ISO_TIME = r"(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
_TAG = r"(?P<app>[^\s\[\]:]{1,64})(?:\[(?P<pid>[^\]\s]*)\])?:"
_RFC3164 = re.compile(
    rf"^{_PRI}?(?:{_BSD_TIME}|{_ISO_TIME}) (?P<host>\S+)(?: {_TAG})?(?: ?(?P<msg>.*))?$", re.DOTALL
)
_TAG_ONLY = re.compile(rf"^{_TAG}$")
_RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>(?P<version>[1-9]\d?) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) "
    r"(?P<msgid>\S+) (?P<rest>.*)$",
    re.DOTALL,
)
_SD_PARAM = re.compile(r'\s*([^\s=\]"]+)="((?:[^"\\]|\\.)*)"')
_SD_ESCAPE = re.compile(r"\\([\"\\\]])")
#: Words before a colon that start a record rather than name a program.
_NOT_TAGS = frozenset({"CEF", "LEEF"})
#: A clock a few hours ahead (time zones, skew) still counts as "now" when inferring the year.
_FUTURE_SLACK = dt.timedelta(days=1)

_AUTH_CLASS = EventClass(3002, "Authentication", 1, "Logon")

SYSLOG_MAPPING = SourceMapping(
    source="syslog",
    product="syslog",
    time=("timestamp",),
    user=("user",),
    src_ip=("src_ip",),
    src_port=("src_port",),
    hostname=("hostname",),
    process_path=("appname",),
    process_cmd_line=("command",),
    process_pid=("procid",),
    activity=("event_action",),
    status=("outcome",),
    severity=("severity",),
    severity_ids={
        "emerg": 6,
        "alert": 5,
        "crit": 5,
        "err": 4,
        "warning": 3,
        "notice": 2,
        "info": 1,
        "debug": 1,
    },
    class_key=("event_action",),
    classes={
        "ssh_login": _AUTH_CLASS,
        "ssh_invalid_user": _AUTH_CLASS,
        "pam_auth_failure": _AUTH_CLASS,
        "ssh_logout": EventClass(3002, "Authentication", 2, "Logoff"),
        "session_opened": EventClass(3002, "Authentication", 1, "Logon"),
        "session_closed": EventClass(3002, "Authentication", 2, "Logoff"),
        "sudo": EventClass(3003, "Authorize Session", 1, "Assign Privileges"),
        "user_added": EventClass(3001, "Account Change", 1, "Create"),
        "user_deleted": EventClass(3001, "Account Change", 6, "Delete"),
        "group_added": EventClass(3006, "Group Management", 6, "Create"),
    },
)


@functools.lru_cache(maxsize=8192)  # a file repeats its seconds; `now` is fixed per file
def infer_year(month: int, day: int, hms: str, now: dt.datetime) -> dt.datetime:
    """The latest year in which `month day hms` is not in the future of `now` (RFC 3164 has no year)."""
    hour, minute, second = (int(p) for p in hms.split(":"))
    limit = now.replace(tzinfo=None) + _FUTURE_SLACK
    for year in range(now.year + 1, now.year - 8, -1):
        try:
            candidate = dt.datetime(year, month, day, hour, minute, second)
        except ValueError:  # 29 February outside a leap year, or a bad day
            continue
        if candidate <= limit:
            return candidate
    raise ValueError(f"impossible date {month}/{day} {hms}")


def parse_structured_data(text: str) -> tuple[dict[str, str | None], str]:
    """RFC 5424 STRUCTURED-DATA (`[id k="v"]...` or `-`) as `sd.<id>.<param>`, and the rest (the MSG)."""
    fields: dict[str, str | None] = {}
    if text.startswith("-"):
        return fields, text[2:] if text.startswith("- ") else text[1:]
    index = 0
    while index < len(text) and text[index] == "[":
        end_id = index + 1
        while end_id < len(text) and text[end_id] not in " ]":
            end_id += 1
        sd_id = text[index + 1 : end_id]
        if not sd_id:
            raise ValueError("empty structured data id")
        position = end_id
        while True:
            param = _SD_PARAM.match(text, position)
            if param is None:
                break
            fields[f"sd.{sd_id}.{param.group(1)}"] = _SD_ESCAPE.sub(r"\1", param.group(2))
            position = param.end()
        if position >= len(text) or text[position] != "]":
            raise ValueError(f"unterminated structured data element [{sd_id}")
        index = position + 1
    if index == 0:
        raise ValueError("structured data must be '-' or start with '['")
    rest = text[index:]
    return fields, rest[1:] if rest.startswith(" ") else rest


def _priority(fields: dict[str, str | None], pri: str | None) -> None:
    if pri is None:
        return
    value = int(pri)
    if value > 191:
        raise ValueError(f"syslog priority {value} out of range (0-191)")
    fields["pri"] = pri
    fields["facility"] = FACILITIES[value // 8]
    fields["severity"] = SEVERITIES[value % 8]


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _rfc5424(match: re.Match[str]) -> dict[str, str | None]:
    fields: dict[str, str | None] = {"syslog_format": "rfc5424"}
    _priority(fields, match["pri"])
    fields["version"] = match["version"]
    timestamp = _nil(match["ts"])
    fields["timestamp"] = timestamp
    fields["timestamp_text"] = timestamp
    fields["hostname"] = _nil(match["host"])
    fields["appname"] = _nil(match["app"])
    fields["procid"] = _nil(match["procid"])
    fields["msgid"] = _nil(match["msgid"])
    structured, message = parse_structured_data(match["rest"])
    fields.update(structured)
    fields["message"] = message.removeprefix("\ufeff") or None
    return fields


def _rfc3164(match: re.Match[str], now: dt.datetime) -> dict[str, str | None]:
    fields: dict[str, str | None] = {"syslog_format": "rfc3164"}
    _priority(fields, match["pri"])
    if match["bsd"] is not None:
        month = _MONTHS.get(match["mon"])
        if month is None:
            raise ValueError(f"unknown month {match['mon']!r}")
        if match["year"] is not None:
            stamp = dt.datetime.strptime(
                f"{match['year']}-{month}-{match['day']} {match['hms']}", "%Y-%m-%d %H:%M:%S"
            )
        else:
            stamp = infer_year(month, int(match["day"]), match["hms"], now)
        fields["timestamp"] = stamp.isoformat()
        fields["timestamp_text"] = match["bsd"]
    else:
        fields["timestamp"] = fields["timestamp_text"] = match["iso"]
    host, app, pid, message = match["host"], match["app"], match["pid"], (match["msg"] or "").lstrip()
    untagged = _TAG_ONLY.match(host) if app is None and host.endswith(":") else None
    if untagged is not None:  # local senders often leave out the host name: `<13>Oct 11 22:14:15 su: ...`
        host, app, pid = None, untagged["app"], untagged["pid"]
    fields["hostname"] = host
    if app in _NOT_TAGS and pid is None:  # `host CEF:0|...`: a record, not a program tag
        app, message = None, f"{app}:{match['msg'] or ''}"
    fields["appname"] = app
    fields["procid"] = pid
    fields["message"] = message or None
    return fields


def parse_syslog(line: str, now: dt.datetime | None = None) -> dict[str, str | None]:
    """Producer fields of one syslog line; `ValueError` (with the reason) when it is not syslog.

    RFC 3164 times have no year: the year is the latest that does not put the event in the future
    of `now` (default: the current time); `timestamp` holds the resolved ISO time and
    `timestamp_text` the time as written. RFC 3164 times carry no zone either; the store reads them as
    UTC, which is what most collectors configure their senders to write.
    """
    text = line.rstrip("\r\n")
    match5424 = _RFC5424.match(text)
    if match5424 is not None:
        fields = _rfc5424(match5424)
    else:
        match = _RFC3164.match(text)
        if match is None:
            raise ValueError("not a syslog line (no RFC 3164 or RFC 5424 header)")
        if match["iso"] is not None and match["pri"] is None and match["app"] is None:
            raise ValueError("not a syslog line (ISO time without priority or program tag)")
        fields = _rfc3164(match, now or dt.datetime.now(dt.UTC))
    fields.update(extract_auth(fields.get("appname"), fields.get("message")))
    return fields
