"""Indicator normalisation and the feed parsers: STIX 2.1 patterns and bundles, MISP, CSV, plain lists."""

from __future__ import annotations

import json

import pytest

from watchfloor.intel import (
    IndicatorStatus,
    IndicatorType,
    IntelError,
    indicators_from_bundle,
    indicators_from_csv,
    indicators_from_event,
    indicators_from_list,
    infer_type,
    normalize_tlp,
    normalize_value,
    parse_pattern,
)

SHA256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
MD5 = "D41D8CD98F00B204E9800998ECF8427E"


@pytest.mark.parametrize(
    ("kind", "raw", "canonical"),
    [
        (IndicatorType.IPV4, " 198.51.100.7 ", "198.51.100.7"),
        (IndicatorType.IPV6, "2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        (IndicatorType.CIDR, "10.1.2.3/8", "10.0.0.0/8"),
        (IndicatorType.DOMAIN, "Evil.Example.COM.", "evil.example.com"),
        (IndicatorType.URL, "HTTP://Evil.Example.com:80/a/B?x=1#frag", "http://evil.example.com/a/B?x=1"),
        (IndicatorType.URL, "https://x.example:8443", "https://x.example:8443/"),
        (IndicatorType.SHA256, SHA256, SHA256.lower()),
        (IndicatorType.EMAIL, "Bad@Example.ORG", "bad@example.org"),
        (IndicatorType.FILENAME, "Mimikatz.EXE", "mimikatz.exe"),
    ],
)
def test_normalize_value(kind: IndicatorType, raw: str, canonical: str) -> None:
    assert normalize_value(kind, raw) == canonical


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (IndicatorType.IPV4, "2001:db8::1"),
        (IndicatorType.DOMAIN, "not a domain"),
        (IndicatorType.MD5, SHA256),
        (IndicatorType.URL, "http://"),
    ],
)
def test_normalize_refuses(kind: IndicatorType, raw: str) -> None:
    with pytest.raises(IntelError):
        normalize_value(kind, raw)


def test_infer_type() -> None:
    assert infer_type("198.51.100.7") is IndicatorType.IPV4
    assert infer_type("2001:db8::1") is IndicatorType.IPV6
    assert infer_type("2001:db8::/32") is IndicatorType.CIDR
    assert infer_type(MD5) is IndicatorType.MD5
    assert infer_type("a" * 40) is IndicatorType.SHA1
    assert infer_type("http://x.example/a") is IndicatorType.URL
    assert infer_type("x@example.org") is IndicatorType.EMAIL
    assert infer_type("c2.example.net") is IndicatorType.DOMAIN
    assert infer_type("Mozilla/5.0 (evil)") is IndicatorType.USER_AGENT
    assert infer_type("hello world") is None
    assert normalize_tlp("TLP:WHITE") == "clear"
    assert normalize_tlp("tlp:amber+strict") == "amber+strict"


def test_parse_pattern_simple_and_ored() -> None:
    assert parse_pattern("[ipv4-addr:value = '198.51.100.7']") == [(IndicatorType.IPV4, "198.51.100.7")]
    hashes = f"file:hashes.'SHA-256' = '{SHA256}' OR file:hashes.MD5 = '{MD5}'"
    ored = f"[{hashes}] OR [domain-name:value = 'a.example']"
    assert parse_pattern(ored) == [
        (IndicatorType.SHA256, SHA256),
        (IndicatorType.MD5, MD5),
        (IndicatorType.DOMAIN, "a.example"),
    ]
    assert parse_pattern("[ipv4-addr:value = '10.0.0.0/8']") == [(IndicatorType.CIDR, "10.0.0.0/8")]
    assert parse_pattern("[url:value = 'http://x.example/it\\'s']") == [
        (IndicatorType.URL, "http://x.example/it's")
    ]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("[ipv4-addr:value = '1.2.3.4' AND domain-name:value = 'a.example']", "AND"),
        ("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [domain-name:value = 'a.example']", "FOLLOWEDBY"),
        ("[ipv4-addr:value = '1.2.3.4'] WITHIN 300 SECONDS", "WITHIN"),
        ("[domain-name:value MATCHES '^evil']", "MATCHES"),
        ("[process:name = 'evil.exe']", "object path"),
        ("[ipv4-addr:value != '1.2.3.4']", "'!='"),
    ],
)
def test_parse_pattern_unsupported(pattern: str, reason: str) -> None:
    with pytest.raises(IntelError, match=reason):
        parse_pattern(pattern)


def _indicator(uid: int, pattern: str, **extra: object) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{uid:012d}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-02-01T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        **extra,
    }


def test_bundle_with_markings_confidence_and_unsupported() -> None:
    tlp_red = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
    bundle = {
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
        "objects": [
            _indicator(1, "[ipv4-addr:value = '198.51.100.7']", confidence=85, object_marking_refs=[tlp_red]),
            _indicator(
                2, "[domain-name:value = 'C2.Example.net'] OR [url:value = 'http://c2.example.net/x']"
            ),
            _indicator(3, "[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '5.6.7.8']"),
            _indicator(4, "[ipv4-addr:value = "),  # invalid: the stix2 library refuses it
            _indicator(
                5, "[ipv4-addr:value = '203.0.113.5']", revoked=True, valid_until="2027-01-01T00:00:00Z"
            ),
            {"type": "malware", "id": "malware--00000000-0000-4000-8000-000000000001", "name": "x"},
        ],
    }
    result = indicators_from_bundle(json.dumps(bundle), "feedA", "bundle.json")
    by_value = {i.value: i for i in result.indicators}
    assert set(by_value) == {"198.51.100.7", "c2.example.net", "http://c2.example.net/x", "203.0.113.5"}
    assert by_value["198.51.100.7"].confidence == 85
    assert by_value["198.51.100.7"].tlp == "red"
    assert by_value["c2.example.net"].confidence == 50 and by_value["c2.example.net"].tlp == "amber"
    assert by_value["203.0.113.5"].status is IndicatorStatus.REVOKED
    assert by_value["203.0.113.5"].valid_until is not None
    assert by_value["198.51.100.7"].origin.endswith("000000000001")
    reasons = sorted(u.reason for u in result.unsupported)
    assert len(reasons) == 2
    assert any("AND" in r for r in reasons) and any("invalid STIX" in r for r in reasons)


def test_misp_event_attributes_mapped() -> None:
    event = {
        "Event": {
            "uuid": "5f0c0000-0000-4000-8000-000000000001",
            "info": "Phishing wave",
            "timestamp": "1767225600",
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [
                {"type": "ip-dst", "value": "198.51.100.9", "to_ids": True, "uuid": "a1"},
                {"type": "domain|ip", "value": "bad.example|2001:db8::9", "to_ids": False, "uuid": "a2"},
                {"type": "filename|sha256", "value": f"drop.exe|{SHA256}", "to_ids": True, "uuid": "a3"},
                {"type": "ip-dst|port", "value": "203.0.113.0/24|443", "to_ids": True, "uuid": "a4"},
                {"type": "text", "value": "free text", "uuid": "a5"},
            ],
            "Object": [
                {
                    "Attribute": [
                        {
                            "type": "url",
                            "value": "http://bad.example/p",
                            "uuid": "a6",
                            "Tag": [{"name": "tlp:red"}],
                        }
                    ]
                }
            ],
        }
    }
    result = indicators_from_event(json.dumps(event), "misp1", "ev.json")
    got = {(i.type.value, i.value): i for i in result.indicators}
    assert set(got) == {
        ("ipv4", "198.51.100.9"),
        ("domain", "bad.example"),
        ("ipv6", "2001:db8::9"),
        ("filename", "drop.exe"),
        ("sha256", SHA256.lower()),
        ("cidr", "203.0.113.0/24"),
        ("url", "http://bad.example/p"),
    }
    assert got[("ipv4", "198.51.100.9")].confidence == 75
    assert got[("domain", "bad.example")].confidence == 40
    assert got[("ipv4", "198.51.100.9")].tlp == "green"
    assert got[("url", "http://bad.example/p")].tlp == "red"
    assert got[("ipv4", "198.51.100.9")].description == "Phishing wave"
    assert [u.reason for u in result.unsupported] == ["attribute type not matched on"]


def test_csv_auto_and_explicit_columns() -> None:
    text = (
        "indicator,type,confidence,tlp,last_seen,description\n"
        "198.51.100.7,ip,90,TLP:RED,2026-03-01T00:00:00Z,scanner\n"
        "c2.example.net,hostname,60,green,,c2\n"
        f"{MD5},FileHash-MD5,,,,\n"
        "???,,,,,\n"
    )
    result = indicators_from_csv(text, "csv1", "iocs.csv")
    got = {i.value: i for i in result.indicators}
    assert got["198.51.100.7"].type is IndicatorType.IPV4 and got["198.51.100.7"].confidence == 90
    assert got["198.51.100.7"].tlp == "red" and got["198.51.100.7"].last_seen is not None
    assert got["c2.example.net"].type is IndicatorType.DOMAIN
    assert got[MD5.lower()].type is IndicatorType.MD5 and got[MD5.lower()].confidence == 50
    assert len(result.unsupported) == 1
    custom = "ioc_thing;x\n"
    explicit = indicators_from_csv(
        "thing,kind\nbad.example,domain\n", "csv2", "f.csv", {"value": "thing", "type": "kind"}
    )
    assert [(i.type, i.value) for i in explicit.indicators] == [(IndicatorType.DOMAIN, "bad.example")]
    with pytest.raises(IntelError, match="not in the CSV header"):
        indicators_from_csv(custom, "c", "f.csv", {"value": "missing"})


def test_plain_list_types_inferred() -> None:
    result = indicators_from_list(
        "# comment\n198.51.100.7\n\nbad.example  # trailing\n10.0.0.0/8\nwhat is this\n", "l", "l.txt"
    )
    assert [(i.type.value, i.value) for i in result.indicators] == [
        ("ipv4", "198.51.100.7"),
        ("domain", "bad.example"),
        ("cidr", "10.0.0.0/8"),
    ]
    assert result.unsupported[0].origin == "l.txt:6"
