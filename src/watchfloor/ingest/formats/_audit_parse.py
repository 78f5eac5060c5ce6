"""Pure parsing of Linux audit records (auditd raw logs, AUOMS) and how they fill the OCSF core.

`type=SYSCALL msg=audit(1604994496.155:92733): arch=c000003e syscall=59 ... exe="/usr/bin/dd"`

Fields keep auditd's names; quoted values are unquoted and the hex-encoded ones auditd writes for
untrusted strings (`proctitle=6464...`, unquoted `exe`, `cmd`, `name`...) are decoded (NUL separators
of a command line become spaces). `audit_time` and `audit_serial` come from the `audit(...)` stamp.
The `msg='op=... acct="root" res=success'` of user-space records is opened up too.
"""

from __future__ import annotations

import re

from watchfloor.schema import EventClass, SourceMapping

__all__ = ["AUDIT_MAPPING", "find_audit", "parse_audit"]

_RECORD = re.compile(
    r"^(?:node=(?P<node>\S+) )?type=(?P<type>\S+) (?:msg=)?audit\((?P<time>\d+(?:\.\d+)?):(?P<serial>\d+)\):?"
    r"\s*(?P<body>.*)$",
    re.DOTALL,
)
#: `key=` at the start or after whitespace; a value runs to the next one (AUOMS leaves spaces unquoted).
_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z_][A-Za-z0-9_-]*)=")
_HEX = re.compile(r"^(?:[0-9A-F]{2})+$")
#: Fields auditd hex-encodes when they hold spaces, quotes or control characters.
_ENCODED = frozenset(
    {
        "proctitle",
        "cmd",
        "comm",
        "exe",
        "cwd",
        "name",
        "path",
        "acct",
        "data",
        "ocomm",
        "key",
        "grp",
        "new_group",
    }
)
_EXEC = EventClass(1007, "Process Activity", 1, "Launch")
_LOGON = EventClass(3002, "Authentication", 1, "Logon")
_ACCOUNT = EventClass(3001, "Account Change", 99, "Other")

AUDIT_MAPPING = SourceMapping(
    source="auditd",
    product="Linux audit",
    time=("audit_time", "TimeGenerated"),
    user=("acct", "user", "AUID", "UID", "uid", "auid"),
    src_ip=("addr", "laddr"),
    src_port=("lport",),
    hostname=("node", "hostname", "Computer"),
    process_path=("exe", "comm"),
    process_cmd_line=("proctitle", "cmdline", "cmd"),
    process_pid=("pid",),
    parent_pid=("ppid",),
    file_path=("name", "path", "cwd"),
    activity=("op", "syscall"),
    status=("res", "success"),
    class_key=("type",),
    classes={
        "EXECVE": _EXEC,
        "AUOMS_EXECVE": _EXEC,
        "USER_LOGIN": _LOGON,
        "USER_AUTH": _LOGON,
        "USER_START": _LOGON,
        "USER_ERR": _LOGON,
        "USER_END": EventClass(3002, "Authentication", 2, "Logoff"),
        "ADD_USER": EventClass(3001, "Account Change", 1, "Create"),
        "DEL_USER": EventClass(3001, "Account Change", 6, "Delete"),
        "USER_CHAUTHTOK": _ACCOUNT,
        "USER_MGMT": _ACCOUNT,
        "ADD_GROUP": EventClass(3006, "Group Management", 6, "Create"),
        "DEL_GROUP": EventClass(3006, "Group Management", 5, "Delete"),
    },
)


def _value(key: str, raw: str, record_type: str) -> str:
    """Unquote, or decode auditd's hex encoding where that key uses it."""
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    encoded = key in _ENCODED or (record_type == "EXECVE" and re.fullmatch(r"a\d+(?:\[\d+\])?", key))
    if encoded and _HEX.match(raw):
        return bytes.fromhex(raw).decode("utf-8", errors="replace").replace("\x00", " ").strip()
    return raw


def _key_values(body: str, record_type: str, out: dict[str, str | None]) -> None:
    """Quoted values end at their closing quote; unquoted ones run to the next ` key=`."""
    position, count = 0, 0
    while True:
        match = _KEY.search(body, position)
        if match is None:
            return
        key, start = match.group(1), match.end()
        quote = body[start : start + 1]
        close = body.find(quote, start + 1) if quote in ("'", '"') else -1
        if close >= 0:
            raw, position = body[start : close + 1], close + 1
        else:
            following = _KEY.search(body, start)
            end = following.start() if following is not None else len(body)
            raw, position = body[start:end].rstrip(), end
        count += 1
        if key == "msg" and len(raw) >= 2 and raw[0] == raw[-1] == "'":
            inner: dict[str, str | None] = {}
            _key_values(raw[1:-1], record_type, inner)
            for inner_key, inner_value in inner.items():
                out.setdefault(inner_key, inner_value)
            continue
        out[key if key not in out else f"{key}_{count}"] = _value(key, raw, record_type)


def parse_audit(text: str) -> dict[str, str | None]:
    """Producer fields of one audit record; `ValueError` with a reason when it is not one."""
    match = _RECORD.match(text.strip().replace("\x1d", " "))
    if match is None:
        raise ValueError("not an audit record (expected 'type=... msg=audit(TIME:SERIAL): ...')")
    record_type = match["type"]
    fields: dict[str, str | None] = {
        "type": record_type,
        "audit_time": match["time"],
        "audit_serial": match["serial"],
    }
    if match["node"] is not None:
        fields["node"] = match["node"]
    _key_values(match["body"], record_type, fields)
    if record_type == "EXECVE":
        args = sorted(
            (int(k[1:]), v or "") for k, v in fields.items() if re.fullmatch(r"a\d+", k) and v is not None
        )
        fields["cmdline"] = " ".join(v for _, v in args) or None
    return fields


def find_audit(message: str) -> bool:
    """Whether a syslog message (or a whole line) is an audit record."""
    return _RECORD.match(message.strip()) is not None
