"""Generic text formats: CEF, LEEF 1.0/2.0, CSV; detection order; the whole Security-Datasets folder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import corpus
from watchfloor.ingest import IngestSummary, default_registry, ingest_paths
from watchfloor.ingest.formats.cef import parse_cef
from watchfloor.ingest.formats.leef import parse_leef
from watchfloor.ingest.inputs import iter_inputs
from watchfloor.store import DuckDBEventStore

LINUX_FORMATS = {
    "syslog",
    "cef",
    "leef",
    "auditd",
    "sysmon-linux",
    "auditd-sentinel",
    "sysmon-linux-sentinel",
}


def _ingest(tmp_path: Path, *paths: Path) -> tuple[DuckDBEventStore, IngestSummary]:
    store = DuckDBEventStore(tmp_path / "events")
    return store, ingest_paths(list(paths), store, tmp_path / "quarantine")


def _rows(store: DuckDBEventStore, sql: str) -> list[dict[str, Any]]:
    return store.query(sql).to_pylist()


def _quarantine_text(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in (tmp_path / "quarantine").glob("*.jsonl"))


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- CEF -------------------------------------------------------------------------------------------


def test_parse_cef_header_escapes_and_extension_values_with_spaces() -> None:
    fields = parse_cef(
        r"CEF:0|Vendor\|X|Prod|1.0|sig\\1|Name with \| pipe|7|act=blocked suser=alice "
        r"msg=a \= sign, a \\ backslash\nand a new line cs1Label=Rule Name cs1=Block all dpt=443"
    )
    assert fields["cefVersion"] == "0"
    assert fields["deviceVendor"] == "Vendor|X"
    assert fields["deviceEventClassId"] == "sig\\1"
    assert fields["name"] == "Name with | pipe"
    assert fields["severity"] == "7"
    assert fields["act"] == "blocked" and fields["suser"] == "alice"
    assert fields["msg"] == "a = sign, a \\ backslash\nand a new line"
    assert fields["cs1Label"] == "Rule Name" and fields["cs1"] == "Block all" and fields["dpt"] == "443"
    for bad in ("CEF:0|only|three|fields", "CEF:x|a|b|c|d|e|f|", "CEF:0|a|b|c|d|e|5|not an extension"):
        with pytest.raises(ValueError):
            parse_cef(bad)


def test_cef_file_bare_and_after_syslog_headers(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "firewall.log",
        [
            "CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|"
            "src=10.0.0.1 dst=2.1.2.2 spt=1232",
            "<134>Jan 12 10:00:00 fw01 CEF:0|Palo Alto|PAN-OS|9.1|TRAFFIC|end|3|src=10.1.1.1 dst=8.8.8.8 "
            "spt=40000 dpt=53 suser=corp\\\\bob act=allow rt=1705053600000",
            "<134>Jan 12 10:00:01 fw01 CEF:0|Palo Alto|PAN-OS|9.1|THREAT|spyware|8|"
            "src=10.1.1.2 dst=203.0.113.5 "
            "duser=carol shost=ws12 dhost=evil.example act=reset-both rt=Jan 12 2024 10:00:01",
            "CEF:0|broken|record",
            "<13>Jan 12 10:00:02 ids01 snort[12]: CEF:0|Snort|IDS|2.9|1:2000|ET SCAN|Medium|src=10.9.9.9",
        ],
    )
    store, summary = _ingest(tmp_path, path)
    result = summary.files[0]
    assert (result.format, result.events, result.quarantined) == ("cef", 4, 1)
    assert '"position":4' in _quarantine_text(tmp_path)
    rows = _rows(
        store,
        'SELECT deviceProduct, name, act, "syslog.hostname" AS sh, "syslog.appname" AS app, '
        "ocsf.src_endpoint_ip AS src, ocsf.dst_endpoint_ip AS dst, ocsf.src_endpoint_port AS spt, "
        "ocsf.dst_endpoint_port AS dpt, ocsf.actor_user_name AS user, ocsf.severity_id AS sev, "
        "ocsf.activity_name AS activity, ocsf.device_hostname AS host, ocsf.time AS t "
        "FROM cef ORDER BY ocsf.metadata_origin_position",
    )
    assert [r["sev"] for r in rows] == [5, 2, 4, 3]
    assert (rows[0]["src"], rows[0]["dst"], rows[0]["spt"], rows[0]["activity"]) == (
        "10.0.0.1",
        "2.1.2.2",
        1232,
        "worm successfully stopped",
    )
    assert (rows[1]["user"], rows[1]["dpt"], rows[1]["activity"], rows[1]["sh"]) == (
        "corp\\bob",
        53,
        "allow",
        "fw01",
    )
    assert rows[1]["t"] == dt.datetime(2024, 1, 12, 10, 0, tzinfo=dt.UTC)
    assert (rows[2]["user"], rows[2]["host"], rows[2]["activity"]) == ("carol", "fw01", "reset-both")
    assert rows[2]["t"] == dt.datetime(2024, 1, 12, 10, 0, 1, tzinfo=dt.UTC)
    assert (rows[3]["deviceProduct"], rows[3]["app"], rows[3]["src"]) == ("IDS", "snort", "10.9.9.9")


# -- LEEF ------------------------------------------------------------------------------------------


def test_parse_leef_versions_and_delimiters() -> None:
    v1 = parse_leef("LEEF:1.0|Microsoft|MSExchange|2013 SP1|15345|src=10.50.1.1\tdst=2.10.20.20\tusrName=a=b")
    assert (v1["leefVersion"], v1["deviceVendor"], v1["eventId"]) == ("1.0", "Microsoft", "15345")
    assert (v1["src"], v1["dst"], v1["usrName"]) == ("10.50.1.1", "2.10.20.20", "a=b")
    caret = parse_leef("LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5")
    assert (caret["src"], caret["dst"], caret["sev"]) == ("10.0.1.8", "10.0.0.5", "5")
    hex_pipe = parse_leef("LEEF:2.0|V|P|1.0|login|0x7C|src=10.0.0.1|usrName=joe")
    assert (hex_pipe["src"], hex_pipe["usrName"]) == ("10.0.0.1", "joe")
    tab_default = parse_leef("LEEF:2.0|V|P|1.0|login|src=10.0.0.2\tusrName=ann")
    assert (tab_default["src"], tab_default["usrName"]) == ("10.0.0.2", "ann")
    for bad in ("LEEF:1.0|a|b|c", "LEEF:3.0|a|b|c|d|x=1", "LEEF:1.0|a|b|c|d|novalue"):
        with pytest.raises(ValueError):
            parse_leef(bad)


def test_leef_file_with_syslog_headers(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "qradar.log",
        [
            "LEEF:1.0|Microsoft|MSExchange|2013 SP1|15345|src=10.50.1.1\tdst=2.10.20.20\tspt=1200\t"
            "usrName=alice\tsev=7\tdevTime=2024-01-12T10:00:00Z",
            "<13>Jan 18 11:07:53 192.168.1.1 LEEF:2.0|Lancope|StealthWatch|1.0|41|^|"
            "src=10.0.1.8^dst=10.0.0.5^"
            "sev=2^srcPort=81^dstPort=21^usrName=joe.black",
            "LEEF:1.0|bad",
        ],
    )
    store, summary = _ingest(tmp_path, path)
    result = summary.files[0]
    assert (result.format, result.events, result.quarantined) == ("leef", 2, 1)
    assert '"position":3' in _quarantine_text(tmp_path)
    rows = _rows(
        store,
        'SELECT leefVersion AS v, "syslog.hostname" AS sh, ocsf.actor_user_name AS user, '
        "ocsf.src_endpoint_ip AS src, ocsf.dst_endpoint_port AS dpt, ocsf.src_endpoint_port AS spt, "
        "ocsf.severity_id AS sev, ocsf.time AS t, ocsf.device_hostname AS host "
        "FROM leef ORDER BY ocsf.metadata_origin_position",
    )
    assert rows[0]["v"] == "1.0" and rows[0]["user"] == "alice" and rows[0]["sev"] == 4
    assert rows[0]["t"] == dt.datetime(2024, 1, 12, 10, 0, tzinfo=dt.UTC)
    assert (rows[1]["v"], rows[1]["user"], rows[1]["src"], rows[1]["spt"], rows[1]["dpt"]) == (
        "2.0",
        "joe.black",
        "10.0.1.8",
        81,
        21,
    )
    assert (rows[1]["sh"], rows[1]["host"], rows[1]["sev"]) == ("192.168.1.1", "192.168.1.1", 2)


# -- CSV -------------------------------------------------------------------------------------------


def test_aws_s3_honeybucket_csv(tmp_path: Path) -> None:
    archive = corpus("security-datasets", "atomic", "aws", "discovery", "aws_s3_honeybucketlogs.zip")
    store, summary = _ingest(tmp_path, archive)
    result = summary.files[0]
    assert (result.format, result.events, result.quarantined) == ("csv", 301, 0)
    first = _rows(
        store,
        'SELECT "Event Name" AS name, "Request ID" AS rid, "User ID" AS uid, "Source IP" AS ip, '
        "ocsf.src_endpoint_ip AS src, ocsf.activity_name AS activity, ocsf.time AS t, "
        "ocsf.metadata_origin_position AS line FROM csv ORDER BY line LIMIT 1",
    )[0]
    assert (first["name"], first["rid"], first["ip"], first["line"]) == (
        "ListObjects",
        "E2E91AQVN6DJHZ91",
        "177.131.167.145",
        2,
    )
    assert first["uid"] == "{'type': 'AWSAccount', 'principalId': '', 'accountId': 'ANONYMOUS_PRINCIPAL'}"
    assert (first["src"], first["activity"]) == ("177.131.167.145", "ListObjects")
    assert first["t"] == dt.datetime(2022, 2, 18, 17, 34, 57, tzinfo=dt.UTC)
    assert _rows(store, "SELECT count(*) AS n FROM events") == [{"n": 301}]


def test_csv_dialects_multiline_fields_and_bad_rows(tmp_path: Path) -> None:
    semicolon = tmp_path / "export.csv"
    semicolon.write_text(
        "timestamp;user;src_ip;action;note\n"
        '2024-02-01T10:00:00Z;alice;10.0.0.1;login;"first line\nsecond; line"\n'
        "2024-02-01T10:01:00Z;bob;10.0.0.2;logout\n"
        "2024-02-01T10:02:00Z;carol;10.0.0.3;login;ok\n"
        "2024-02-01T10:03:00Z;dave;10.0.0.4;login;ok\n"
        "2024-02-01T10:04:00Z;erin;10.0.0.5;login;ok\n",
        encoding="utf-8",
    )
    tabbed = _write(
        tmp_path, "report.tsv", ["host\tseverity\tmessage", "srv1\thigh\tdisk full", "srv2\tlow\tok"]
    )
    store, summary = _ingest(tmp_path, semicolon, tabbed)
    results = {Path(f.path).name: f for f in summary.files}
    assert (
        results["export.csv"].format,
        results["export.csv"].events,
        results["export.csv"].quarantined,
    ) == (
        "csv",
        4,
        1,
    )
    assert (results["report.tsv"].format, results["report.tsv"].events) == ("csv", 2)
    assert '"position":4' in _quarantine_text(tmp_path) and "expected 5 fields, found 4" in _quarantine_text(
        tmp_path
    )
    rows = _rows(
        store,
        "SELECT note, ocsf.actor_user_name AS user, ocsf.src_endpoint_ip AS ip, ocsf.raw_data AS raw, "
        "ocsf.metadata_origin_position AS line FROM csv WHERE user IS NOT NULL ORDER BY line",
    )
    assert rows[0]["note"] == "first line\nsecond; line"
    assert rows[0]["raw"] == '2024-02-01T10:00:00Z;alice;10.0.0.1;login;"first line\nsecond; line"'
    assert [(r["user"], r["ip"], r["line"]) for r in rows] == [
        ("alice", "10.0.0.1", 2),
        ("carol", "10.0.0.3", 5),
        ("dave", "10.0.0.4", 6),
        ("erin", "10.0.0.5", 7),
    ]
    hosts = _rows(
        store, "SELECT ocsf.device_hostname AS h, ocsf.severity_id AS s FROM csv WHERE host IS NOT NULL"
    )
    assert sorted((r["h"], r["s"]) for r in hosts) == [("srv1", 4), ("srv2", 2)]


# -- detection -------------------------------------------------------------------------------------


def _detect(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return default_registry().detect(next(iter_inputs([path]))).name


def test_detection_by_content_specific_formats_beat_syslog_and_csv(tmp_path: Path) -> None:
    auth = corpus("linux-auth", "elastic-beats-filebeat-system-auth", "test.log").read_text()
    assert _detect(tmp_path, "data.csv", auth) == "syslog"  # the name says CSV, the content says syslog
    cef = "<134>Jan 12 10:00:00 fw01 CEF:0|A|B|1|2|n|3|src=10.0.0.1\n" * 3
    assert _detect(tmp_path, "a.log", cef) == "cef"
    leef = "LEEF:1.0|A|B|1|2|src=10.0.0.1\tdst=10.0.0.2\n" * 3
    assert _detect(tmp_path, "b.txt", leef) == "leef"
    audit = 'type=CWD msg=audit(1604994496.155:92733): cwd="/home/wardog"\n' * 3
    assert _detect(tmp_path, "c.txt", audit) == "auditd"
    mixed = auth + cef  # mostly sshd and sudo: the syslog reader routes the CEF lines to `cef`
    assert _detect(tmp_path, "d.log", mixed) == "syslog"
    json_lines = '{"user": "a", "src_ip": "10.0.0.1", "n": 1}\n' * 3
    assert _detect(tmp_path, "e.csv", json_lines) == "json"
    assert _detect(tmp_path, "f.txt", "a,b,c\n1,2,3\n4,5,6\n") == "csv"
    csv_format = default_registry().get("csv")
    assert csv_format.sniff(auth.encode(), "x.csv") == 0
    assert csv_format.sniff(b"a,b,c\n1,2,3\n", "x") < default_registry().get("json").sniff(
        json_lines.encode(), "x"
    )


def test_whole_security_datasets_folder_ingests(tmp_path: Path) -> None:
    folder = corpus("security-datasets")
    store, summary = _ingest(tmp_path, folder)
    assert summary.events > 30_000
    by_format: dict[str, int] = {}
    for result in summary.files:
        if result.format is not None:
            by_format[result.format] = by_format.get(result.format, 0) + result.events
        assert result.error is None or "not a supported log format" in result.error, result.error
    assert by_format["auditd"] == 18
    assert by_format["auditd-sentinel"] == 50
    assert by_format["sysmon-linux-sentinel"] == 93
    assert by_format["csv"] == 301
    unsupported = [Path(f.path.split("!")[-1]).suffix for f in summary.errors]
    assert set(unsupported) <= {"", ".yaml", ".md", ".pcap", ".pcapng", ".cap"}, unsupported
    assert _rows(store, "SELECT count(*) AS n FROM events") == [{"n": summary.events}]
    sources = _rows(store, "SELECT metadata_log_name AS s, count(*) AS n FROM events GROUP BY 1")
    counts = {r["s"]: r["n"] for r in sources}
    assert counts["auditd"] == 68 and counts["sysmon_linux"] == 93 and counts["csv"] == 301
    assert not set(by_format) & LINUX_FORMATS - {"auditd", "auditd-sentinel", "sysmon-linux-sentinel"}
