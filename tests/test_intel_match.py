"""Intel store, scoring, streaming match and retro-hunt over a real store of generated events."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from watchfloor.ingest import ingest_paths
from watchfloor.intel import (
    Indicator,
    IndicatorIndex,
    IndicatorStatus,
    IntelStore,
    ScoringPolicy,
    Sighting,
    effective_confidence,
    match_batch,
    retro_hunt,
)
from watchfloor.store import DuckDBEventStore

NOW = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)
SHA256 = "a" * 64
NO_DECAY = ScoringPolicy(decay="none", min_confidence=10)


def _zeek(ts: dt.datetime, uid: str, src: str, dst: str, query: str) -> dict[str, object]:
    return {
        "ts": ts.timestamp(),
        "uid": uid,
        "id.orig_h": src,
        "id.orig_p": 5353,
        "id.resp_h": dst,
        "id.resp_p": 53,
        "proto": "udp",
        "query": query,
        "qtype_name": "A",
    }


@pytest.fixture
def events(tmp_path: Path) -> DuckDBEventStore:
    store = DuckDBEventStore(tmp_path / "events")
    recent, old = NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=90)
    dns = tmp_path / "dns.log"
    dns.write_text(
        "\n".join(
            json.dumps(r)
            for r in (
                _zeek(recent, "C1", "10.0.0.5", "203.0.113.9", "Evil.Example.COM"),
                _zeek(recent, "C2", "10.0.0.6", "2001:DB8::1", "good.example.org."),
                _zeek(recent, "C3", "10.0.0.7", "198.51.100.7", "fine.example.org"),
                _zeek(old, "C4", "10.0.0.8", "198.51.100.7", "evil.example.com"),
            )
        )
        + "\n",
        encoding="utf-8",
    )
    sysmon = tmp_path / "sysmon.jsonl"
    sysmon.write_text(
        json.dumps(
            {
                "EventID": 1,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "ws9",
                "TimeCreated": recent.isoformat().replace("+00:00", "Z"),
                "Image": "C:\\Tools\\Dropper.exe",
                "Hashes": f"SHA1={'b' * 40},MD5={'c' * 32},SHA256={SHA256.upper()},IMPHASH={'d' * 32}",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    result = ingest_paths([dns, sysmon], store, tmp_path / "quarantine")
    assert result.events == 5
    return store


def _intel(tmp_path: Path, indicators: list[Indicator]) -> IntelStore:
    store = IntelStore(tmp_path / "intel")
    store.upsert(indicators, NOW)
    return store


def _ind(kind: str, value: str, feed: str = "f1", **extra: object) -> Indicator:
    extra.setdefault("last_seen", NOW - dt.timedelta(days=1))
    return Indicator.create(kind, value, feed, **extra)


def test_streaming_matches_exact_cidr_ipv6_domain_and_hashes(
    tmp_path: Path, events: DuckDBEventStore
) -> None:
    intel = _intel(
        tmp_path,
        [
            _ind("domain", "evil.example.com", confidence=80, tlp="red"),
            _ind("cidr", "203.0.113.0/24"),
            _ind("ipv6", "2001:db8::1"),
            _ind("ipv6", "2001:db8::1", feed="f3"),  # the same value from a second feed: both match
            _ind("cidr", "2001:db8::/32", feed="f2"),
            _ind("sha256", SHA256),
            _ind("filename", "dropper.exe"),
            _ind("ipv4", "192.0.2.1"),  # seen nowhere
        ],
    )
    index = IndicatorIndex(intel.live(NO_DECAY, NOW))
    found = []
    for source in ("zeek_dns", "windows"):
        found += match_batch(index, events.query(f"SELECT * FROM {source}"))  # as stored: producer + ocsf
    got = {(m.indicator_type, m.indicator, m.feed, m.field, m.observed) for m in found}
    assert got == {
        ("domain", "evil.example.com", "f1", "query", "evil.example.com"),  # twice: recent and old event
        ("cidr", "203.0.113.0/24", "f1", "dst_endpoint_ip", "203.0.113.9"),
        ("ipv6", "2001:db8::1", "f1", "dst_endpoint_ip", "2001:db8::1"),
        ("ipv6", "2001:db8::1", "f3", "dst_endpoint_ip", "2001:db8::1"),
        ("cidr", "2001:db8::/32", "f2", "dst_endpoint_ip", "2001:db8::1"),
        ("sha256", SHA256, "f1", "Hashes", SHA256),
        ("filename", "dropper.exe", "f1", "process_file_path", "dropper.exe"),
    }
    domain = [m for m in found if m.indicator_type == "domain"]
    assert len(domain) == 2 and {m.confidence for m in domain} == {80} and domain[0].tlp == "red"
    assert all(m.event_uid and m.source for m in found)
    # the flattened `events` view works too
    flat = match_batch(index, events.query("SELECT * FROM events"))
    assert {m.indicator for m in flat} == {"203.0.113.0/24", "2001:db8::1", "2001:db8::/32", "dropper.exe"}


def test_retro_hunt_window_and_same_results_as_streaming(tmp_path: Path, events: DuckDBEventStore) -> None:
    intel = _intel(
        tmp_path,
        [
            _ind("domain", "evil.example.com"),
            _ind("ipv4", "198.51.100.7"),
            _ind("cidr", "2001:db8::/32"),
            _ind("sha256", SHA256),
            _ind("md5", "c" * 32, feed="f2"),
        ],
    )
    index = IndicatorIndex(intel.live(NO_DECAY, NOW))
    recent = retro_hunt(events, index, NOW - dt.timedelta(days=30))
    got = sorted((m.indicator, m.field, m.source or "") for m in recent)
    assert got == [
        ("198.51.100.7", "dst_endpoint_ip", "zeek_dns"),
        ("2001:db8::/32", "dst_endpoint_ip", "zeek_dns"),
        (SHA256, "Hashes", "windows"),
        ("c" * 32, "Hashes", "windows"),
        ("evil.example.com", "query", "zeek_dns"),
    ]
    everything = retro_hunt(events, index, NOW - dt.timedelta(days=365))
    assert len(everything) == len(recent) + 2  # the 90-day-old event: its domain and its address
    streamed = []
    for source in ("zeek_dns", "windows"):
        streamed += match_batch(index, events.query(f"SELECT * FROM {source}"))
    assert sorted((m.event_uid, m.indicator, m.field) for m in streamed) == sorted(
        (m.event_uid, m.indicator, m.field) for m in everything
    )


def test_upsert_keeps_first_seen_and_latest_statement(tmp_path: Path) -> None:
    store = IntelStore(tmp_path / "intel")
    first = NOW - dt.timedelta(days=10)
    store.upsert([_ind("ipv4", "198.51.100.7", confidence=30, first_seen=first, last_seen=first)], NOW)
    store.upsert(
        [_ind("ipv4", "198.51.100.7", confidence=70, first_seen=NOW, last_seen=NOW, tlp="green")], NOW
    )
    store.upsert([_ind("ipv4", "198.51.100.7", feed="other", confidence=20)], NOW)
    rows = store.search("198.51.100.7", NO_DECAY, NOW)
    assert [(r["feed"], r["confidence"]) for r in rows] == [("f1", 70), ("other", 20)]
    mine = rows[0]
    assert mine["first_seen"] == first.replace(tzinfo=None)
    assert mine["last_seen"] == NOW.replace(tzinfo=None)
    assert mine["tlp"] == "green"
    assert store.count() == 2


def test_expiry_revocation_and_decay_decide_what_is_live(tmp_path: Path) -> None:
    store = _intel(
        tmp_path,
        [
            _ind("domain", "expired.example", valid_until=NOW - dt.timedelta(hours=1)),
            _ind("domain", "revoked.example", status=IndicatorStatus.REVOKED),
            _ind("domain", "stale.example", confidence=60, last_seen=NOW - dt.timedelta(days=150)),
            _ind("domain", "fresh.example", confidence=60, last_seen=NOW - dt.timedelta(days=15)),
        ],
    )
    linear = ScoringPolicy(decay="linear", lifetime_days=180, min_confidence=20)
    live = {r["value"]: r["confidence"] for r in store.live(linear, NOW).to_pylist()}
    assert live == {"fresh.example": effective_confidence(linear, 60, NOW - dt.timedelta(days=15), NOW)}
    assert live["fresh.example"] == 55  # 60 x (1 - 15/180)
    expo = ScoringPolicy(decay="exponential", half_life_days=150, min_confidence=0)
    scored = {r["value"]: r for r in store.live(expo, NOW).to_pylist()}
    assert scored["stale.example"]["confidence"] == 30  # one half-life
    assert store.search("expired.example", NO_DECAY, NOW)[0]["status"] == "expired"


def test_verdicts_raise_and_lower_indicator_and_feed_confidence(tmp_path: Path) -> None:
    store = _intel(
        tmp_path,
        [_ind("ipv4", "198.51.100.7", confidence=60), _ind("ipv4", "198.51.100.8", confidence=60)],
    )
    store.add_sightings(
        [
            Sighting("ipv4", "198.51.100.7", "f1", f"e{n}", NOW, "zeek_dns", "dst_endpoint_ip", f"alert{n}")
            for n in range(3)
        ]
    )
    assert store.record_verdicts([("alert0", False), ("alert1", False), ("not-intel", True)]) == 2
    rows = {r["value"]: r for r in store.live(NO_DECAY, NOW).to_pylist()}
    # indicator: 2 x 1/4 = 0.5; feed: 0.5 as well -> 60 x 0.25 = 15; the sibling only gets the feed's 0.5
    assert rows["198.51.100.7"]["confidence"] == 15 and rows["198.51.100.7"]["false_positives"] == 2
    assert rows["198.51.100.8"]["confidence"] == 30
    store.record_verdicts([("alert0", True), ("alert1", True), ("alert2", True)])  # verdicts revised
    rows = {r["value"]: r for r in store.live(NO_DECAY, NOW).to_pylist()}
    assert rows["198.51.100.7"]["confidence"] == 100  # 60 x 1.6 x 1.6, capped
    assert rows["198.51.100.8"]["confidence"] == 96
    feed = store.feeds()
    assert feed == []  # feeds are registered by add-feed only; counts per feed are in `feeds()`


def test_register_table_and_lookup_service(tmp_path: Path, events: DuckDBEventStore) -> None:
    import pyarrow as pa

    from watchfloor.config import load_settings
    from watchfloor.errors import QueryError
    from watchfloor.intel import IntelLookupService, intel_store

    with events.open_reader() as session:
        session.register_table("wanted", pa.table({"ip": ["203.0.113.9"]}))
        rows = list(session.query_batches("SELECT count(*) FROM events JOIN wanted ON dst_endpoint_ip = ip"))
        assert rows[0].column(0).to_pylist() == [1]
        with pytest.raises(QueryError):
            session.register_table("events", pa.table({"x": [1]}))
    settings = load_settings(tmp_path / "wf", environ={})
    assert IntelLookupService(settings).lookup("ip", "198.51.100.7") is None  # no intel configured
    intel_store(settings).upsert(
        [_ind("ipv4", "198.51.100.7", confidence=70, last_seen=dt.datetime.now(dt.UTC))]
    )
    found = IntelLookupService(settings).lookup("ip", "198.51.100.7")
    assert found is not None and found["statements"][0]["feed"] == "f1" and found["max_confidence"] > 60
