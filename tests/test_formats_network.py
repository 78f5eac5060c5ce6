"""Network formats: Zeek TSV and JSON logs, Suricata EVE arrays and lines, read into the OCSF core."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import orjson

from tests.conftest import corpus
from watchfloor.ingest import ingest_paths
from watchfloor.ingest.formats.zeek import decode_zeek_escapes, zeek_source_from_name
from watchfloor.store import DuckDBEventStore

LSASS_ZIPS = (
    (
        "security-datasets",
        "compound",
        "LSASS_campaign_01",
        "metasploit_logonpasswords_lsass_memory_dump_zeek_logs.zip",
    ),
    (
        "security-datasets",
        "compound",
        "LSASS_campaign_02",
        "metasploit_procdump_lsass_memory_dump_zeek_logs.zip",
    ),
)


def _data_lines(archive: Path) -> dict[str, int]:
    """Non-header, non-empty lines of every log inside a Zeek zip."""
    counts: dict[str, int] = {}
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            text = zf.read(info).decode("utf-8")
            counts[f"{archive}!{info.filename}"] = sum(
                1 for line in text.splitlines() if line.strip() and not line.startswith("#")
            )
    return counts


def _quarantined(folder: Path) -> list[dict[str, object]]:
    return [
        orjson.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_bytes().splitlines()
    ]


def test_zeek_tsv_counts_equal_data_lines(tmp_path: Path) -> None:
    archives = [corpus(*parts) for parts in LSASS_ZIPS]
    expected: dict[str, int] = {}
    for archive in archives:
        expected.update(_data_lines(archive))
    assert len(expected) == 18
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths(archives, store, tmp_path / "q")
    got = {r.path: r.events for r in summary.files}
    assert got == expected
    assert {r.format for r in summary.files} == {"zeek"}
    assert summary.quarantined == 0
    assert summary.by_source["zeek_conn"] == 112 + 119
    assert summary.by_source["zeek_dns"] == 96 + 147
    assert summary.by_source["zeek_kerberos"] == 10
    assert summary.by_source["zeek_smb_mapping"] == 1
    assert summary.by_source["zeek_x509"] == 1
    total = store.query("SELECT count(*) AS n FROM events").to_pylist()[0]["n"]
    assert total == summary.events == sum(expected.values()) == 539


def test_zeek_tsv_core_and_producer_fields(tmp_path: Path) -> None:
    archive = corpus(*LSASS_ZIPS[0])
    store = DuckDBEventStore(tmp_path / "events")
    ingest_paths([archive], store, tmp_path / "q")
    conn = store.query(
        'SELECT "id.orig_h", "id.resp_p", duration, orig_bytes, ocsf.* FROM zeek_conn '
        "WHERE uid = 'CX6po61SVaO8po0uh8'"
    ).to_pylist()
    assert len(conn) == 1
    row = conn[0]
    assert row["id.orig_h"] == row["src_endpoint_ip"] == "192.168.1.41"
    assert row["id.resp_p"] == "80"
    assert (row["dst_endpoint_ip"], row["dst_endpoint_port"], row["src_endpoint_port"]) == (
        "10.0.5.13",
        80,
        55213,
    )
    assert row["duration"] == "1.201128"
    assert row["orig_bytes"] == "0"
    assert row["time"] == dt.datetime(2023, 8, 16, 4, 54, 3, 549491, tzinfo=dt.UTC)
    assert (row["class_uid"], row["activity_name"], row["metadata_product_name"]) == (4001, "Traffic", "Zeek")
    assert row["metadata_log_name"] == "zeek_conn"
    assert row["raw_data"].startswith("1692161643.549491\tCX6po61SVaO8po0uh8\t")

    http = store.query("SELECT resp_mime_types, status_code, ocsf.* FROM zeek_http ORDER BY ts").to_pylist()
    assert [r["class_uid"] for r in http] == [4002, 4002, 4002]
    # '(empty)' tags and '-' methods are missing values: no column holds them
    assert not {"tags", "method"} & set(store.query("SELECT * FROM zeek_http").column_names)
    assert http[2]["resp_mime_types"] == "application/x-dosexec"
    assert http[0]["status"] == "200"

    kerberos = store.query(
        "SELECT client, ocsf.actor_user_name AS user, ocsf.status AS status, ocsf.class_uid AS c "
        "FROM zeek_kerberos WHERE client = 'stevie.marie/PANDALAB.COM' LIMIT 1"
    ).to_pylist()[0]
    assert (kerberos["user"], kerberos["status"], kerberos["c"]) == (
        "stevie.marie/PANDALAB.COM",
        "Success",
        3002,
    )
    failed = store.query("SELECT count(*) AS n FROM zeek_kerberos WHERE ocsf.status = 'Failure'").to_pylist()
    assert failed[0]["n"] >= 1

    x509 = store.query('SELECT "certificate.key_length", "certificate.key_type" FROM zeek_x509').to_pylist()
    assert x509 == [{"certificate.key_length": "2048", "certificate.key_type": "rsa"}]
    classes = store.query(
        "SELECT metadata_log_name AS s, min(class_uid) AS c FROM events GROUP BY s ORDER BY s"
    ).to_pylist()
    assert {r["s"]: r["c"] for r in classes} == {
        "zeek_analyzer": 4001,
        "zeek_conn": 4001,
        "zeek_dns": 4003,
        "zeek_files": 4010,
        "zeek_http": 4002,
        "zeek_kerberos": 3002,
        "zeek_packet_filter": 0,
        "zeek_pe": 4010,
        "zeek_smb_mapping": 4006,
        "zeek_ssl": 4001,
        "zeek_weird": 4001,
        "zeek_x509": 4001,
    }


def test_zeek_dns_query_is_the_activity(tmp_path: Path) -> None:
    archive = corpus(*LSASS_ZIPS[1])
    store = DuckDBEventStore(tmp_path / "events")
    ingest_paths([archive], store, tmp_path / "q")
    rows = store.query(
        'SELECT query, "id.resp_p" AS port, ocsf.activity_name AS a, ocsf.dst_endpoint_port AS p '
        "FROM zeek_dns WHERE query IS NOT NULL LIMIT 5"
    ).to_pylist()
    assert rows
    assert all(r["a"] == r["query"] for r in rows)
    assert all(r["p"] == int(r["port"]) for r in rows)  # DNS, LLMNR and mDNS alike
    unset = store.query("SELECT count(*) AS n FROM zeek_dns WHERE query IS NULL").to_pylist()[0]["n"]
    assert unset > 0  # '-' stored as missing, and then the activity falls back to the class's
    fallback = store.query(
        "SELECT DISTINCT ocsf.activity_name AS a FROM zeek_dns WHERE query IS NULL"
    ).to_pylist()
    assert fallback == [{"a": "Query"}]


def _tsv(path: str, fields: list[str], rows: list[str]) -> str:
    header = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{path}",
        "#open\t2024-01-01-00-00-00",
        "#fields\t" + "\t".join(fields),
        "#types\t" + "\t".join("string" for _ in fields),
    ]
    return "\n".join([*header, *rows, "#close\t2024-01-01-00-00-01"]) + "\n"


def test_zeek_tsv_escapes_sets_and_bad_lines(tmp_path: Path) -> None:
    fields = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "query", "answers"]
    rows = [
        "1700000000.5\tCa1\t10.0.0.1\t5353\t10.0.0.53\t53\tevil\\x09name.example\t1.2.3.4,5.6.7.8",
        "1700000001.0\tCa2\t10.0.0.1\t5354\t10.0.0.53\t53\t\\x2d\t(empty)",
        "1700000002.0\tCa3\t10.0.0.1\ttoo-few-fields",
        "1700000003.0\tCa4\t10.0.0.2\t5355\t10.0.0.53\t53\tback\\x5cslash.example\t-",
    ]
    log = tmp_path / "logs" / "dns.log"
    log.parent.mkdir()
    log.write_text(_tsv("dns", fields, rows))
    custom = tmp_path / "logs" / "custom.log"
    custom.write_text(_tsv("my_site_log", ["ts", "uid", "note"], ["1700000004.0\tCb1\thello"]))
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths([tmp_path / "logs"], store, tmp_path / "q")
    by_path = {Path(r.path).name: r for r in summary.files}
    assert (by_path["dns.log"].events, by_path["dns.log"].quarantined) == (3, 1)
    assert summary.by_source == {"zeek_dns": 3, "zeek": 1}
    dns = store.query("SELECT uid, query, answers FROM zeek_dns ORDER BY uid").to_pylist()
    assert dns == [
        {"uid": "Ca1", "query": "evil\tname.example", "answers": "1.2.3.4,5.6.7.8"},
        {"uid": "Ca2", "query": "-", "answers": None},
        {"uid": "Ca4", "query": "back\\slash.example", "answers": None},
    ]
    (bad,) = _quarantined(tmp_path / "q")
    assert bad["position"] == 11  # 8 header lines, then the third data line
    assert bad["format"] == "zeek"
    assert "4 values for 8 fields" in str(bad["reason"])
    assert store.query("SELECT note FROM zeek").to_pylist() == [{"note": "hello"}]


def test_zeek_helpers() -> None:
    assert decode_zeek_escapes("a\\x09b\\x5cc") == "a\tb\\c"
    assert zeek_source_from_name("x.zip!conn.log") == "zeek_conn"
    assert zeek_source_from_name("/var/log/zeek/dns.00:00:00-01:00:00.log.gz") == "zeek_dns"
    assert zeek_source_from_name("smb_mapping.log") == "zeek_smb_mapping"
    assert zeek_source_from_name("http_20230816.log") == "zeek_http"
    assert zeek_source_from_name("notes.txt") == "zeek"


def test_zeek_json_logs_by_keys_and_file_name(tmp_path: Path) -> None:
    conn = [
        {
            "ts": 1700000000.25,
            "uid": "CJ1",
            "id.orig_h": "10.1.1.1",
            "id.orig_p": 50000,
            "id.resp_h": "10.1.1.2",
            "id.resp_p": 445,
            "proto": "tcp",
            "service": "smb",
            "tunnel_parents": ["CX", "CY"],
        },
        {"ts": 1700000001.0, "uid": "CJ2", "id.orig_h": "10.1.1.3", "id.resp_h": "10.1.1.2", "id.resp_p": 88},
    ]
    named = tmp_path / "in" / "conn.log"
    named.parent.mkdir()
    named.write_text("".join(json.dumps(r) + "\n" for r in conn) + "{broken\n")
    tagged = tmp_path / "in" / "zeek-export.json"
    tagged.write_text(
        json.dumps(
            {
                "_path": "http",
                "ts": "2023-11-14T22:13:20.000000Z",
                "uid": "CH1",
                "method": "POST",
                "host": "c2.example",
                "uri": "/upload",
                "id.orig_h": "10.1.1.9",
                "id.resp_h": "203.0.113.7",
                "id.resp_p": 80,
            }
        )
        + "\n"
    )
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths([tmp_path / "in"], store, tmp_path / "q")
    assert [(Path(r.path).name, r.format, r.events, r.quarantined) for r in summary.files] == [
        ("conn.log", "zeek-json", 2, 1),
        ("zeek-export.json", "zeek-json", 1, 0),
    ]
    rows = store.query(
        'SELECT uid, tunnel_parents, "id.resp_p", ocsf.dst_endpoint_port AS p, ocsf.time AS t '
        "FROM zeek_conn ORDER BY uid"
    ).to_pylist()
    assert rows[0] == {
        "uid": "CJ1",
        "tunnel_parents": "CX,CY",
        "id.resp_p": "445",
        "p": 445,
        "t": dt.datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=dt.UTC),
    }
    http = store.query("SELECT host, uri, ocsf.* FROM zeek_http").to_pylist()[0]
    assert (http["host"], http["uri"]) == ("c2.example", "/upload")
    assert (http["class_uid"], http["activity_id"], http["activity_name"]) == (4002, 6, "Post")
    assert http["dst_endpoint_ip"] == "203.0.113.7"
    (bad,) = _quarantined(tmp_path / "q")
    assert (bad["position"], bad["raw"]) == (3, "{broken")


SURICATA_SAMPLES = ("wrccdc-2018", "first-org-conf-2015")


def test_suricata_eve_arrays_match_sample_lengths(tmp_path: Path) -> None:
    files = [corpus("suricata-sample-data", "samples", name, "alerts-only.json") for name in SURICATA_SAMPLES]
    lengths = [len(json.loads(f.read_text())) for f in files]
    assert lengths == [207, 136]
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths(files, store, tmp_path / "q")
    assert [(r.format, r.events, r.quarantined) for r in summary.files] == [
        ("suricata", 207, 0),
        ("suricata", 136, 0),
    ]
    assert store.query("SELECT count(*) AS n FROM events").to_pylist()[0]["n"] == 343
    row = store.query(
        """SELECT "alert.signature_id", "flow.pkts_toserver", ocsf.* FROM suricata
        WHERE "alert.signature" = 'ET SCAN Potential SSH Scan' """
    ).to_pylist()
    first = next(r for r in row if r["src_endpoint_ip"] == "0.0.0.0")
    assert first["alert.signature_id"] == "2001219"
    assert first["flow.pkts_toserver"] == "1"
    assert (first["class_uid"], first["class_name"], first["category_uid"]) == (2004, "Detection Finding", 2)
    assert first["activity_name"] == "ET SCAN Potential SSH Scan"
    assert (first["severity_id"], first["severity"]) == (3, "Medium")
    assert (first["dst_endpoint_ip"], first["dst_endpoint_port"], first["src_endpoint_port"]) == (
        "10.47.8.150",
        22,
        26078,
    )
    assert first["status"] == "allowed"
    assert first["time"] == dt.datetime(2018, 3, 24, 20, 37, 19, 37299, tzinfo=dt.UTC)
    severities = store.query(
        'SELECT "alert.severity" AS s, min(ocsf.severity_id) AS lo, max(ocsf.severity_id) AS hi '
        "FROM suricata GROUP BY s ORDER BY s"
    ).to_pylist()
    assert [(r["s"], r["lo"], r["hi"]) for r in severities] == [("1", 4, 4), ("2", 3, 3), ("3", 2, 2)]


def test_suricata_eve_lines_of_every_event_type(tmp_path: Path) -> None:
    base = {
        "flow_id": 1234,
        "in_iface": "eth0",
        "src_ip": "10.0.0.5",
        "src_port": 49712,
        "dest_ip": "198.51.100.20",
        "dest_port": 443,
        "proto": "TCP",
        "host": "sensor-1",
    }
    events = [
        {
            **base,
            "timestamp": "2024-05-01T10:00:00.000001+0000",
            "event_type": "flow",
            "flow": {"pkts_toserver": 10, "bytes_toserver": 900, "state": "closed", "reason": "timeout"},
        },
        {
            **base,
            "timestamp": "2024-05-01T10:00:01.000000+0000",
            "event_type": "dns",
            "dest_port": 53,
            "proto": "UDP",
            "dns": {"type": "query", "id": 7, "rrname": "updates.example.net", "rrtype": "A", "tx_id": 0},
        },
        {
            **base,
            "timestamp": "2024-05-01T10:00:02.000000+0000",
            "event_type": "http",
            "dest_port": 80,
            "http": {"hostname": "files.example.net", "url": "/a.exe", "http_method": "GET", "status": 200},
        },
        {
            **base,
            "timestamp": "2024-05-01T10:00:03.000000+0000",
            "event_type": "tls",
            "tls": {"sni": "login.example.com", "version": "TLS 1.3", "ja3": {"hash": "abc"}},
        },
        {
            **base,
            "timestamp": "2024-05-01T10:00:04.000000+0000",
            "event_type": "fileinfo",
            "fileinfo": {"filename": "/a.exe", "magic": "PE32 executable", "size": 7168, "stored": False},
        },
        {
            "timestamp": "2024-05-01T10:00:05.000000+0000",
            "event_type": "anomaly",
            "src_ip": "10.0.0.9",
            "dest_ip": "10.0.0.1",
            "anomaly": {"type": "decode", "event": "decoder.ipv4.trunc_pkt"},
        },
        {
            **base,
            "timestamp": "2024-05-01T10:00:06.000000+0000",
            "event_type": "alert",
            "alert": {
                "action": "blocked",
                "gid": 1,
                "signature_id": 2024897,
                "rev": 3,
                "signature": "ET MALWARE Test Beacon",
                "category": "A Network Trojan was detected",
                "severity": 1,
            },
        },
    ]
    eve = tmp_path / "eve.json"
    lines = [json.dumps(e) for e in events]
    lines.insert(3, '{"timestamp": "2024-05-01T10:00:02.5+0000", "event_type": ')
    eve.write_text("\n".join(lines) + "\n")
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths([eve], store, tmp_path / "q")
    assert (summary.files[0].format, summary.files[0].events, summary.files[0].quarantined) == (
        "suricata",
        7,
        1,
    )
    rows = store.query(
        "SELECT event_type, ocsf.class_uid AS c, ocsf.activity_name AS a, ocsf.severity AS s, "
        "ocsf.device_hostname AS h FROM suricata ORDER BY ocsf.time"
    ).to_pylist()
    assert [(r["event_type"], r["c"], r["a"]) for r in rows] == [
        ("flow", 4001, "Traffic"),
        ("dns", 4003, "updates.example.net"),
        ("http", 4002, "files.example.net"),
        ("tls", 4001, "login.example.com"),
        ("fileinfo", 4010, "/a.exe"),
        ("anomaly", 4001, "decoder.ipv4.trunc_pkt"),
        ("alert", 2004, "ET MALWARE Test Beacon"),
    ]
    assert rows[-1]["s"] == "High"
    assert rows[0]["h"] == "sensor-1"
    (bad,) = _quarantined(tmp_path / "q")
    assert bad["position"] == 4
    assert str(bad["reason"]).startswith("invalid JSON")
