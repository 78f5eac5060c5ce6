"""Live events land in the sources, with the fields and OCSF core, that files of the same kind give them.

Each test sends real data over a listener (HEC, `_bulk`, OTLP on a loopback port), lets the spool's
consumer store it, ingests the same events from a file, and compares the two stores event by event.
"""

from __future__ import annotations

import base64
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from elasticsearch import Elasticsearch
from elasticsearch import helpers as es_helpers
from evtx import PyEvtxParser

from tests.conftest import corpus
from tests.in_thread_server import serve
from watchfloor.events import Envelope, EventBatch
from watchfloor.ingest import QuarantineWriter, ingest_paths
from watchfloor.ingest.chunk_decoding import InThreadDecoder
from watchfloor.ingest.listeners import live_decoders
from watchfloor.ingest.listeners.bulk import bulk_app
from watchfloor.ingest.listeners.hec import hec_app
from watchfloor.ingest.listeners.hec_decode import HEC_DECODER
from watchfloor.ingest.listeners.otlp import otlp_app
from watchfloor.ingest.live import LiveConsumer
from watchfloor.ingest.routing import Destination, Payload, Routed, RouteRule, RoutingTable, default_routing
from watchfloor.ingest.spool import Spool
from watchfloor.ingest.spool_files import decode_envelope
from watchfloor.store import DuckDBEventStore

pytestmark = pytest.mark.network
TOKEN = "routing-test-token-7d1f"
HEC_AUTH = {"Authorization": f"Splunk {TOKEN}"}
SYSMON_TYPE = "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"
#: Core fields that say how and when an event was ingested, not what it is.
INGESTION = {
    "metadata_uid",
    "metadata_logged_time",
    "metadata_origin",
    "metadata_origin_position",
    "metadata_log_format",
    "raw_data",
}
Row = tuple[dict[str, Any], dict[str, Any]]


@dataclass
class Live:
    """A spool behind the three HTTP listeners, and the consumer that stores what they acknowledge."""

    spool: Spool
    store: DuckDBEventStore
    consumer: LiveConsumer
    quarantine: Path

    def drain(self) -> None:
        """Store everything acknowledged so far."""
        while self.consumer.step():
            pass
        self.consumer.quarantine.close()

    def quarantined(self) -> list[dict[str, Any]]:
        """Every quarantine record written so far."""
        return [orjson.loads(line) for f in sorted(self.quarantine.rglob("*.jsonl")) for line in f.open("rb")]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    spool = Spool(tmp_path / "spool")
    store = DuckDBEventStore(tmp_path / "live")
    quarantine = tmp_path / "quarantine"
    consumer = LiveConsumer(
        spool,
        store,
        InThreadDecoder(live_decoders()),
        QuarantineWriter(quarantine),
    )
    yield Live(spool, store, consumer, quarantine)
    spool.close()


def _from_file(tmp_path: Path, name: str, content: bytes | Path) -> DuckDBEventStore:
    """A store holding one file's events, ingested as `watchfloor ingest` does."""
    path = content if isinstance(content, Path) else tmp_path / name
    if not isinstance(content, Path):
        path.write_bytes(content)
    store = DuckDBEventStore(tmp_path / f"file-{name}")
    summary = ingest_paths([path], store, tmp_path / f"q-{name}")
    assert summary.quarantined == 0
    return store


def _rows(store: DuckDBEventStore, source: str) -> list[Row]:
    """Producer fields (no nulls, no listener metadata) and the OCSF core less ingestion metadata.

    Sorted by content, so two stores holding the same events compare equal whatever their order.
    """
    out: list[Row] = []
    for row in store.query(f"SELECT * FROM {source}").to_pylist():
        core = {k: v for k, v in row.pop("ocsf").items() if k not in INGESTION}
        fields = {
            k: v
            for k, v in row.items()
            if v is not None and not k.startswith(("hec.", "otlp.")) and k not in ("_index", "_id")
        }
        out.append((fields, core))
    return _sorted(out)


def _sorted(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: orjson.dumps(r, option=orjson.OPT_SORT_KEYS))


def _sources(store: DuckDBEventStore) -> set[str]:
    return {info.name for info in store.sources()}


def _hec(url: str, events: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(e) for e in events)
    response = httpx.post(f"{url}/services/collector/event", content=body, headers=HEC_AUTH, timeout=30)
    assert response.status_code == 200, response.text


def _hec_raw(url: str, lines: list[str], **params: str) -> None:
    headers = {**HEC_AUTH, "X-Splunk-Request-Channel": "3c9f4a1e-54a4-4d1e-9b3a-6f1f1b0c2a11"}
    response = httpx.post(
        f"{url}/services/collector/raw", content="\n".join(lines), params=params, headers=headers, timeout=30
    )
    assert response.status_code == 200, response.text


def _zip_lines(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        data = archive.read(archive.namelist()[0]).decode("utf-8")
    return [line for line in data.splitlines() if line.strip()]


def _sysmon_evtx() -> list[Path]:
    return [
        corpus("evtx-attack-samples", "Persistence", "sysmon_13_1_persistence_via_winlogon_shell.evtx"),
        corpus(
            "evtx-attack-samples",
            "Credential Access",
            "ppl_bypass_ppldump_knowdll_hijack_sysmon_security.evtx",
        ),
    ]


def test_sysmon_xml_over_hec_equals_the_evtx_file(tmp_path: Path, live: Live) -> None:
    files = _sysmon_evtx()
    xml = [r["data"] for f in files for r in PyEvtxParser(str(f)).records()]
    single_line = [re.sub(r">\s+<", "><", x.split("?>", 1)[1].strip()) for x in xml]
    with serve(hec_app(live.spool, [TOKEN], lambda: live.spool.overloaded)) as url:
        # Half as /event with the XML as the event string (the Splunk forwarder's way), half as /raw.
        half = len(xml) // 2
        _hec(
            url, [{"event": x, "sourcetype": SYSMON_TYPE, "host": "wef01", "time": 1.7e9} for x in xml[:half]]
        )
        _hec_raw(url, single_line[half:], sourcetype="XmlWinEventLog:Security", index="wineventlog")
    live.drain()
    assert live.quarantined() == []
    assert _sources(live.store) == {"windows"}
    store = DuckDBEventStore(tmp_path / "from-evtx")
    for f in files:
        ingest_paths([f], store, tmp_path / "q")
    sent = _rows(live.store, "windows")
    expected = _rows(store, "windows")
    assert len(sent) == len(xml) == len(expected) > 40
    assert sent == expected
    meta = live.store.query(
        'SELECT "hec.sourcetype" AS st, "hec.host" AS host, ocsf.metadata_log_format AS f, '
        "ocsf.raw_data AS raw, ocsf.class_uid AS c FROM windows ORDER BY ocsf.metadata_origin_position"
    ).to_pylist()
    assert meta[0]["st"] == SYSMON_TYPE and meta[0]["host"] == "wef01" and meta[0]["f"] == "windows-xml"
    assert meta[0]["raw"] == xml[0] and meta[-1]["raw"] == single_line[-1]
    assert meta[-1]["st"] == "XmlWinEventLog:Security"
    # Sysmon 1 became process activity, as from the file; the Sigma view for process_creation sees it.
    assert any(r["c"] == 1007 for r in meta)


def test_windows_json_over_hec_and_winlogbeat_over_bulk(tmp_path: Path, live: Live) -> None:
    lines = _zip_lines(
        corpus(
            "security-datasets",
            "atomic",
            "windows",
            "persistence",
            "host",
            "cmd_userinitmprlogonscript_batch.zip",
        )
    )
    winlogbeat = [_winlogbeat(orjson.loads(line), i) for i, line in enumerate(lines[:100])]
    with serve(hec_app(live.spool, [TOKEN], lambda: live.spool.overloaded)) as url:
        _hec(url, [{"event": orjson.loads(line), "sourcetype": "WinEventLog:Security"} for line in lines])
    with serve(bulk_app(live.spool, [TOKEN])) as url:
        client = Elasticsearch(url, api_key=("key-id", TOKEN), request_timeout=30)
        actions = [
            {"_index": "winlogbeat-8.15.0-2024.06.01", "_id": f"w{i}", "_source": d}
            for i, d in enumerate(winlogbeat)
        ]
        actions.append({"_index": "logs-app", "_id": "other", "_source": {"message": "not windows"}})
        assert es_helpers.bulk(client, actions) == (101, [])
        client.close()
    live.drain()
    assert live.quarantined() == []
    flat = _rows(_from_file(tmp_path, "flat.json", "\n".join(lines).encode()), "windows")
    beats = _rows(
        _from_file(tmp_path, "beats.json", b"\n".join(orjson.dumps(d) for d in winlogbeat)),
        "windows",
    )
    sent = _rows(live.store, "windows")
    assert len(flat) == len(lines) > 100 and len(beats) == 100
    assert sent == _sorted(flat + beats)
    formats = live.store.query(
        'SELECT ocsf.metadata_log_format AS f, count(*) AS n, count("_index") AS i FROM windows '
        "GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert formats == [
        {"f": "windows-json", "n": len(lines), "i": 0},
        {"f": "winlogbeat", "n": 100, "i": 100},
    ]
    assert live.store.query("SELECT _index FROM bulk").to_pylist() == [{"_index": "logs-app"}]


def _winlogbeat(doc: dict[str, Any], record_id: int) -> dict[str, Any]:
    """The Winlogbeat shape of a flat Windows event: its data under `winlog.event_data`.

    Without Winlogbeat's `message`: SQL names ignore case, so one `windows` view cannot tell it from
    the flat events' `Message`, which this test stores beside them.
    """
    system = {"EventID", "Channel", "Hostname", "SourceName", "TimeCreated", "Task", "Message"}
    return {
        "@timestamp": doc["TimeCreated"],
        "agent": {"type": "winlogbeat"},
        "winlog": {
            "event_id": doc["EventID"],
            "channel": doc["Channel"],
            "computer_name": doc["Hostname"],
            "provider_name": doc.get("SourceName"),
            "record_id": record_id,
            "event_data": {k: v for k, v in doc.items() if k not in system},
        },
    }


def test_linux_cloudtrail_suricata_and_zeek_over_hec(tmp_path: Path, live: Live) -> None:
    auth = corpus("linux-auth", "elastic-beats-filebeat-system-auth", "test.log")
    auth_lines = [line for line in auth.read_text().splitlines() if line.strip()]
    trail = _zip_lines(
        corpus("security-datasets", "atomic", "aws", "collection", "ec2_proxy_s3_exfiltration.zip")
    )
    eve_file = corpus("suricata-sample-data", "samples", "wrccdc-2018", "alerts-only.json")
    eve = orjson.loads(eve_file.read_bytes())
    conn = [_zeek_conn(i) for i in range(20)]
    with serve(hec_app(live.spool, [TOKEN], lambda: live.spool.overloaded)) as url:
        _hec_raw(url, auth_lines, sourcetype="linux_secure", source="/var/log/auth.log")
        _hec(url, [{"event": orjson.loads(line), "sourcetype": "aws:cloudtrail"} for line in trail])
        _hec(url, [{"event": e, "sourcetype": "suricata"} for e in eve])
        _hec(url, [{"event": c, "sourcetype": "bro:conn:json", "index": "zeek"} for c in conn])
    live.drain()
    assert live.quarantined() == []
    assert _sources(live.store) == {"syslog", "aws_cloudtrail", "suricata", "zeek_conn"}

    assert _rows(live.store, "syslog") == _rows(_from_file(tmp_path, "auth", auth), "syslog")

    expected = _rows(_from_file(tmp_path, "trail.json", "\n".join(trail).encode()), "aws_cloudtrail")
    assert len(expected) == len(trail) and _rows(live.store, "aws_cloudtrail") == expected

    assert _rows(live.store, "suricata") == _rows(_from_file(tmp_path, "eve", eve_file), "suricata")

    zeek_file = _from_file(tmp_path, "conn.log", b"\n".join(orjson.dumps(c) for c in conn))
    assert _rows(live.store, "zeek_conn") == _rows(zeek_file, "zeek_conn")


def _zeek_conn(i: int) -> dict[str, Any]:
    return {
        "ts": 1717236000.25 + i,
        "uid": f"C{i:05d}abcdEFGH",
        "id.orig_h": f"10.0.0.{i + 1}",
        "id.orig_p": 50000 + i,
        "id.resp_h": "192.0.2.10",
        "id.resp_p": 445,
        "proto": "tcp",
        "service": "smb",
        "duration": 0.5,
        "conn_state": "SF",
    }


def test_otlp_resource_attributes_route_the_body(tmp_path: Path, live: Live) -> None:
    auth = corpus("linux-auth", "elastic-beats-filebeat-system-auth", "test.log")
    auth_lines = [line for line in auth.read_text().splitlines() if line.strip()]
    trail = _zip_lines(
        corpus("security-datasets", "atomic", "aws", "collection", "ec2_proxy_s3_exfiltration.zip")
    )[:10]

    def resource(attributes: dict[str, str], bodies: list[str]) -> dict[str, Any]:
        return {
            "resource": {
                "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()]
            },
            "scopeLogs": [{"logRecords": [{"body": {"stringValue": b}} for b in bodies]}],
        }

    request = {
        "resourceLogs": [
            resource({"com.splunk.sourcetype": "linux_secure", "host.name": "bastion"}, auth_lines),
            resource({"event.dataset": "aws.cloudtrail"}, trail),
            resource({"service.name": "shop"}, ["order placed"]),
        ]
    }
    with serve(otlp_app(live.spool, [TOKEN])) as url:
        response = httpx.post(f"{url}/v1/logs", json=request, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.text
    live.drain()
    assert live.quarantined() == []
    assert _rows(live.store, "syslog") == _rows(_from_file(tmp_path, "auth", auth), "syslog")
    hosts = live.store.query(
        'SELECT DISTINCT "otlp.resource.attributes.host.name" AS h FROM syslog'
    ).to_pylist()
    assert hosts == [{"h": "bastion"}]
    expected = _rows(_from_file(tmp_path, "trail.json", "\n".join(trail).encode()), "aws_cloudtrail")
    assert _rows(live.store, "aws_cloudtrail") == expected
    assert live.store.query("SELECT body FROM otlp").to_pylist() == [{"body": "order placed"}]


def test_unknown_sourcetypes_stay_and_damaged_payloads_are_quarantined(live: Live) -> None:
    good_xml = next(iter(PyEvtxParser(str(_sysmon_evtx()[0])).records()))["data"]
    events = [
        {"event": {"msg": "generic"}, "sourcetype": "_json"},
        {"event": {"msg": "custom"}, "sourcetype": "acme:app"},
        {"event": "LogName=Security EventCode=4624 (classic text)", "sourcetype": "WinEventLog:Security"},
        {"event": "<Event><System><EventID>1</EventID></System>", "sourcetype": SYSMON_TYPE},  # cut short
        {"event": {"eventName": "x"}, "sourcetype": "aws:cloudtrail"},  # not a CloudTrail record
        {"event": '{"timestamp": "2024-01-01T00:00:00Z", "event_type":', "sourcetype": "suricata"},
        {"event": {"message": "winlogbeat-like"}, "index": "winlogbeat-8"},  # a hint only: stays
        {"event": "free text, no syslog header", "source": "/var/log/messages"},  # a hint only: stays
        {"event": "free text, no syslog header", "sourcetype": "linux_secure"},  # declared: quarantined
        {"event": good_xml, "sourcetype": SYSMON_TYPE},
    ]
    with serve(hec_app(live.spool, [TOKEN], lambda: live.spool.overloaded)) as url:
        _hec(url, events)
    live.drain()
    kept = live.store.query(
        "SELECT sourcetype, index FROM hec ORDER BY ocsf.metadata_origin_position"
    ).to_pylist()
    assert [r["sourcetype"] for r in kept] == ["_json", "acme:app", "WinEventLog:Security", None, None]
    assert live.store.query("SELECT count(*) AS n FROM windows").to_pylist() == [{"n": 1}]
    quarantined = live.quarantined()
    reasons = [q["reason"] for q in quarantined]
    assert len(reasons) == 4, reasons
    assert reasons[0].startswith(f"sourcetype {SYSMON_TYPE!r} routes to windows, but the event is damaged")
    assert (
        reasons[1] == "sourcetype 'aws:cloudtrail' routes to cloudtrail, but the event is none of cloudtrail"
    )
    assert reasons[2].startswith("sourcetype 'suricata' routes to suricata, but invalid JSON")
    assert reasons[3] == (
        "sourcetype 'linux_secure' routes to linux, but the event is damaged: "
        "not a syslog line (no RFC 3164 or RFC 5424 header)"
    )
    assert quarantined[0]["raw"] == events[3]["event"]


def test_routing_is_decided_by_the_spooled_record_alone(tmp_path: Path) -> None:
    """A replay after a crash reads envelopes back from the spool: they must route identically."""
    xml = [r["data"] for r in PyEvtxParser(str(_sysmon_evtx()[0])).records()]
    envelopes = [
        Envelope("hec", json.dumps({"event": x, "sourcetype": SYSMON_TYPE}), {"endpoint": "event"})
        for x in xml
    ]
    envelopes.append(
        Envelope(
            "hec", "Feb 21 21:54:44 localhost sshd[1]: hello", {"endpoint": "raw", "sourcetype": "syslog"}
        )
    )
    spool = Spool(tmp_path / "spool")
    spool.submit(envelopes)
    spool.close()
    reopened = Spool(tmp_path / "spool")
    chunk = reopened.read(reopened.checkpoint.position, 1000, 1 << 30)
    replayed = [decode_envelope(r.payload) for r in chunk.records]
    reopened.close()

    def decoded(items: list[Envelope]) -> list[tuple[str, str, Any, Any]]:
        out = []
        for batch in HEC_DECODER.decode(items, "spool:x/hec"):
            assert isinstance(batch, EventBatch), batch
            out.append((batch.source, batch.format, batch.fields.to_pylist(), batch.positions.to_pylist()))
        return out

    first = decoded(envelopes)
    assert first == decoded(replayed)
    assert [(s, f, len(rows)) for s, f, rows, _ in first] == [
        ("windows", "windows-xml", len(xml)),
        ("syslog", "syslog", 1),
    ]


def test_routing_table_is_declarative_and_extensible() -> None:
    table = RoutingTable(rules=(), destinations=(Destination("cloud", ("cloudtrail",)),))
    assert table.choose({"sourcetype": "aws:cloudtrail"}) is None
    table.register(RouteRule("sourcetype", "acme:trail*", "cloud", strict=True))
    record = {"eventVersion": "1.08", "eventName": "GetObject", "eventSource": "s3.amazonaws.com"}
    routed = table.route({"sourcetype": "ACME:Trail:v2"}, Payload.of_doc(record))
    assert isinstance(routed, Routed) and (routed.source, routed.format) == ("aws_cloudtrail", "cloudtrail")
    with pytest.raises(ValueError, match="unknown destination"):
        table.register(RouteRule("index", "x*", "nowhere"))
    with pytest.raises(ValueError, match="not a JSON format"):
        table.add_destination(Destination("bin", ("evtx",)))
    # The built-in table: precedence of sourcetype over index, and globs that ignore case.
    default = default_routing()
    chosen = default.choose({"sourcetype": "xmlwineventlog:security", "index": "suricata"})
    assert chosen is not None and chosen[0].destination == "windows" and chosen[0].strict
    chosen = default.choose({"sourcetype": "_json", "source": "/var/log/suricata/eve.json"})
    assert chosen is not None and chosen[0].destination == "suricata" and not chosen[0].strict


def test_quarantine_keeps_what_a_bulk_index_hint_cannot_route(live: Live) -> None:
    """A document with a Winlogbeat index but no Winlogbeat shape stays in `bulk`, never lost."""
    body = b'{"index":{"_index":"winlogbeat-x"}}\n{"message":"plain"}\n'
    basic = base64.b64encode(f"elastic:{TOKEN}".encode()).decode()
    with serve(bulk_app(live.spool, [TOKEN])) as url:
        response = httpx.post(
            f"{url}/_bulk",
            content=body,
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 200 and not response.json()["errors"]
    live.drain()
    assert live.store.query("SELECT message, _index FROM bulk").to_pylist() == [
        {"message": "plain", "_index": "winlogbeat-x"}
    ]
