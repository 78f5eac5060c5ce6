"""Well-known fields in Linux authentication messages (sshd, sudo, PAM, useradd/groupadd/userdel).

These messages are free text, but the few programs that write auth.log phrase them in a fixed way.
Recognising them is what lets a failed SSH password show up in the OCSF core as an Authentication
event with its user, source address and outcome, like a Windows 4625 does. Field names are plain
(`user`, `src_ip`, `outcome`...) and an `event_action` names what happened.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["extract_auth"]

Fields = dict[str, str | None]

_SSH_LOGIN = re.compile(
    r"^(?P<result>Accepted|Failed) (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>\S*) "
    r"from (?P<ip>\S+) port (?P<port>\d+)(?: (?P<proto>ssh\d?))?(?:: (?P<detail>.*))?$"
)
_SSH_INVALID = re.compile(r"^Invalid user (?P<user>\S*) from (?P<ip>\S+)(?: port (?P<port>\d+))?")
_SSH_NO_ID = re.compile(r"^Did not receive identification string from (?P<ip>\S+)(?: port (?P<port>\d+))?")
_SSH_DISCONNECT = re.compile(
    r"^(?P<kind>Disconnected from|Connection closed by|Received disconnect from) "
    r"(?:(?P<state>invalid user|authenticating user|user) (?P<user>\S*) )?(?P<ip>[0-9A-Fa-f.:]+)"
    r"(?: port (?P<port>\d+))?"
)
_PAM_SESSION = re.compile(
    r"^pam_unix\((?P<service>[^:)]+):session\): session (?P<what>opened|closed) for user (?P<user>[^\s(]+)"
)
_PAM_AUTH_FAIL = re.compile(r"^pam_unix\((?P<service>[^:)]+):auth\): authentication failure;(?P<kv>.*)$")
_KV = re.compile(r"(\w+)=(\S*)")


def _ssh(message: str) -> Fields:
    login = _SSH_LOGIN.match(message)
    if login is not None:
        return {
            "event_action": "ssh_login",
            "outcome": "Success" if login["result"] == "Accepted" else "Failure",
            "auth_method": login["method"],
            "user": login["user"] or None,
            "invalid_user": "true" if login["invalid"] else None,
            "src_ip": login["ip"],
            "src_port": login["port"],
            "ssh_protocol": login["proto"],
            "auth_detail": login["detail"],
        }
    invalid = _SSH_INVALID.match(message)
    if invalid is not None:
        return {
            "event_action": "ssh_invalid_user",
            "outcome": "Failure",
            "user": invalid["user"] or None,
            "invalid_user": "true",
            "src_ip": invalid["ip"],
            "src_port": invalid["port"],
        }
    no_id = _SSH_NO_ID.match(message)
    if no_id is not None:
        return {"event_action": "ssh_no_identification", "src_ip": no_id["ip"], "src_port": no_id["port"]}
    disconnect = _SSH_DISCONNECT.match(message)
    if disconnect is not None:
        logged_in = disconnect["state"] == "user"
        return {
            "event_action": "ssh_logout" if logged_in else "ssh_disconnect",
            "user": disconnect["user"] or None,
            "src_ip": disconnect["ip"],
            "src_port": disconnect["port"],
        }
    return {}


def _sudo(message: str) -> Fields:
    """`USER : [error ;] TTY=... ; PWD=... ; USER=... ; COMMAND=...`."""
    user, sep, rest = message.partition(" : ")
    if not sep or "COMMAND=" not in rest:
        return {}
    fields: Fields = {"event_action": "sudo", "user": user.strip()}
    errors: list[str] = []
    names = {"TTY": "tty", "PWD": "pwd", "USER": "target_user", "GROUP": "target_group", "ENV": "env"}
    head, _, command = rest.partition("COMMAND=")
    for part in head.split(" ; "):
        key, eq, value = part.strip().partition("=")
        if eq and key in names:
            fields[names[key]] = value
        elif part.strip(" ;"):
            errors.append(part.strip(" ;"))
    fields["command"] = command
    fields["sudo_error"] = "; ".join(errors) or None
    fields["outcome"] = "Failure" if errors else "Success"
    return fields


def _account(message: str) -> Fields:
    """`new user: name=apache, UID=48, ...`, `new group: name=apache, GID=48`, `delete user 'x'`."""
    kind, sep, rest = message.partition(": ")
    if sep and kind in ("new user", "new group"):
        values = {}
        for part in rest.split(", "):
            key, eq, value = part.partition("=")
            if eq:
                values[key.strip().lower()] = value.strip()
        if kind == "new user":
            return {
                "event_action": "user_added",
                "target_user": values.get("name"),
                "uid": values.get("uid"),
                "gid": values.get("gid"),
                "home": values.get("home"),
                "shell": values.get("shell"),
            }
        return {"event_action": "group_added", "group_name": values.get("name"), "gid": values.get("gid")}
    deleted = re.match(r"^delete user '([^']+)'", message)
    if deleted is not None:
        return {"event_action": "user_deleted", "target_user": deleted[1]}
    return {}


def _pam(message: str) -> Fields:
    session = _PAM_SESSION.match(message)
    if session is not None:
        return {
            "event_action": f"session_{session['what']}",
            "pam_service": session["service"],
            "user": session["user"],
            "outcome": "Success",
        }
    failure = _PAM_AUTH_FAIL.match(message)
    if failure is not None:
        values = dict(_KV.findall(failure["kv"]))
        return {
            "event_action": "pam_auth_failure",
            "pam_service": failure["service"],
            "outcome": "Failure",
            "user": values.get("user") or None,
            "src_ip": values.get("rhost") or None,
            "tty": values.get("tty") or None,
        }
    return {}


_BY_PROGRAM: dict[str, Callable[[str], Fields]] = {
    "sshd": _ssh,
    "sudo": _sudo,
    "useradd": _account,
    "groupadd": _account,
    "userdel": _account,
}


def extract_auth(appname: str | None, message: str | None) -> Fields:
    """Fields found in the message of a known program; empty when there is nothing to add."""
    if not message:
        return {}
    if message.startswith("pam_unix("):
        return _pam(message)
    handler = _BY_PROGRAM.get(appname or "")
    found = handler(message) if handler is not None else {}
    return {k: v for k, v in found.items() if v is not None}
