"""Sigma semantics of the compiler and engine, on generated Windows events in a real store."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest

from watchfloor.detect import AlertStore, RuleLibrary, build_alerts, load_rules, match_rules
from watchfloor.detect.engine import validate_for_duckdb
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

SYSMON = "Microsoft-Windows-Sysmon/Operational"
ENCODED = base64.b64encode(b"IEX (New-Object Net.WebClient)").decode()

EVENTS = [
    {  # e1: Sysmon process creation
        "EventID": 1,
        "Channel": SYSMON,
        "Computer": "ws1",
        "TimeCreated": "2024-05-01T10:00:00Z",
        "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "ParentImage": "C:\\Windows\\explorer.exe",
        "CommandLine": "powershell.exe –enc " + ENCODED + " -NoProfile",  # noqa: RUF001 (windash)
        "User": "CORP\\alice",
        "IntegrityLevel": "High",
        "SourcePort": "4444",
        "DestinationIp": "10.1.2.3",
    },
    {  # e2: Security 4688 (fields named by the Security log)
        "EventID": 4688,
        "Channel": "Security",
        "Computer": "ws2",
        "TimeCreated": "2024-05-01T11:00:00Z",
        "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
        "ParentProcessName": "C:\\Windows\\System32\\services.exe",
        "CommandLine": "cmd.exe /c whoami",
        "SubjectUserName": "bob",
    },
    {  # e3: Sysmon network connection
        "EventID": 3,
        "Channel": SYSMON,
        "Computer": "ws1",
        "TimeCreated": "2024-05-01T12:00:00Z",
        "Image": "C:\\Tools\\Evil.EXE",
        "DestinationIp": "192.168.7.9",
        "SourceIp": "192.168.7.9",
        "DestinationPort": "8443",
    },
]


def rid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def rule(name: str, detection: str, logsource: str = "category: process_creation") -> str:
    return (
        f"title: test {name}\nid: {rid(name)}\nstatus: test\nlevel: high\n"
        f"tags:\n  - attack.execution\n  - attack.t1059.001\n"
        f"logsource:\n  product: windows\n  {logsource}\ndetection:\n{detection}"
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DuckDBEventStore:
    root = tmp_path_factory.mktemp("detect")
    sample = root / "events.jsonl"
    sample.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n", encoding="utf-8")
    events = DuckDBEventStore(root / "events")
    summary = ingest_paths([sample], events, root / "quarantine")
    assert summary.events == len(EVENTS)
    return events


def hosts_matched(store: DuckDBEventStore, tmp_path: Path, text: str) -> set[str]:
    path = tmp_path / "rule.yml"
    path.write_text(text, encoding="utf-8")
    result = load_rules([path], validate=validate_for_duckdb)
    assert not result.errors
    [loaded] = result.rules
    assert loaded.status == "active", loaded.reason
    matches, stats = match_rules(store, result.rules)
    assert sum(stats.statements.values()) == 1
    return {m.host for m in matches if m.host}


CASES = [
    ("contains", "  sel:\n    CommandLine|contains: WHOAMI\n  condition: sel", {"ws2"}),
    ("endswith 4688 mapped", "  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel", {"ws2"}),
    ("parent mapped", "  sel:\n    ParentImage|endswith: '\\services.exe'\n  condition: sel", {"ws2"}),
    ("user mapped", "  sel:\n    User: bob\n  condition: sel", {"ws2"}),
    ("startswith", "  sel:\n    Image|startswith: 'c:\\windows\\'\n  condition: sel", {"ws1", "ws2"}),
    ("wildcard", "  sel:\n    Image: '*\\power?hell.exe'\n  condition: sel", {"ws1"}),
    ("all", "  sel:\n    CommandLine|contains|all: [cmd, whoami]\n  condition: sel", {"ws2"}),
    ("all fails", "  sel:\n    CommandLine|contains|all: [cmd, nothere]\n  condition: sel", set()),
    ("re case", "  sel:\n    CommandLine|re: 'WHOAMI'\n  condition: sel", set()),
    ("re i flag", "  sel:\n    CommandLine|re|i: 'WHO[a-z]MI$'\n  condition: sel", {"ws2"}),
    ("windash", "  sel:\n    CommandLine|windash|contains: ' -enc '\n  condition: sel", {"ws1"}),
    (
        "base64offset",
        "  sel:\n    CommandLine|base64offset|contains: 'Net.WebClient'\n  condition: sel",
        {"ws1"},
    ),
    ("cased", "  sel:\n    CommandLine|cased|contains: 'WHOAMI'\n  condition: sel", set()),
    ("cidr", "  sel:\n    DestinationIp|cidr: 10.0.0.0/8\n  condition: sel", {"ws1"}),
    ("exists", "  sel:\n    IntegrityLevel|exists: true\n  condition: sel", {"ws1"}),
    ("not exists", "  sel:\n    IntegrityLevel|exists: false\n  condition: sel", {"ws2"}),
    ("null", "  sel:\n    IntegrityLevel: null\n  condition: sel", {"ws2"}),
    ("gt", "  sel:\n    SourcePort|gt: 1024\n  condition: sel", {"ws1"}),
    ("lte", "  sel:\n    SourcePort|lte: 1024\n  condition: sel", set()),
    (
        "not with missing field",
        "  sel:\n    Image|contains: cmd\n  f:\n    Hashes|contains: abc\n  condition: sel and not f",
        {"ws2"},
    ),
    (
        "1 of",
        "  sel_a:\n    CommandLine|contains: nope\n  sel_b:\n    CommandLine|contains: -NoProfile\n"
        "  condition: 1 of sel_*",
        {"ws1"},
    ),
    (
        "all of",
        "  sel_a:\n    CommandLine|contains: cmd\n  sel_b:\n    CommandLine|contains: whoami\n"
        "  condition: all of sel_*",
        {"ws2"},
    ),
    (
        "nested",
        "  a:\n    Image|endswith: .exe\n  b:\n    User: bob\n  c:\n    User: 'CORP\\alice'\n"
        "  condition: a and (b or not c)",
        {"ws2"},
    ),
    ("keywords", "  keywords:\n    - whoami\n  condition: keywords", {"ws2"}),
]


@pytest.mark.parametrize(("name", "detection", "expected"), CASES, ids=[c[0] for c in CASES])
def test_semantics(
    store: DuckDBEventStore, tmp_path: Path, name: str, detection: str, expected: set[str]
) -> None:
    assert hosts_matched(store, tmp_path, rule("r-" + name.replace(" ", "-"), detection)) == expected


def test_fieldref_and_network_category(store: DuckDBEventStore, tmp_path: Path) -> None:
    text = rule(
        "r-ref",
        "  sel:\n    SourceIp|fieldref: DestinationIp\n  condition: sel",
        "category: network_connection",
    )
    assert hosts_matched(store, tmp_path, text) == {"ws1"}


def test_category_filters_event_ids(store: DuckDBEventStore, tmp_path: Path) -> None:
    # the network connection event (Sysmon 3) has an Image too, but is no process creation
    text = rule("r-cat", "  sel:\n    Image|endswith: '.exe'\n  condition: sel")
    assert hosts_matched(store, tmp_path, text) == {"ws1", "ws2"}
    text = rule("r-cat3", "  sel:\n    Image|endswith: 'evil.exe'\n  condition: sel")
    path = tmp_path / "r.yml"
    path.write_text(text, encoding="utf-8")
    matches, _ = match_rules(store, load_rules([path]).rules)
    assert matches == []


def test_unsupported_rules_say_why(tmp_path: Path) -> None:
    (tmp_path / "re.yml").write_text(rule("r-re", "  sel:\n    CommandLine|re: '(?<=a)b'\n  condition: sel"))
    (tmp_path / "ph.yml").write_text(rule("r-ph", "  sel:\n    User|expand: '%admins%'\n  condition: sel"))
    (tmp_path / "bad.yml").write_text("title: x\ndetection:\n  sel: [\n  condition: sel\n")
    result = load_rules([tmp_path], validate=validate_for_duckdb)
    reasons = {r.id: r.reason for r in result.rules}
    assert {r.status for r in result.rules} == {"unsupported"}
    assert "(?<=" in (reasons[rid("r-re")] or "")
    assert "%admins%" in (reasons[rid("r-ph")] or "")
    [error] = result.errors
    assert error.location is not None and error.location.path.endswith("bad.yml")
    assert error.location.line == 5  # where PyYAML found the unclosed list


def test_placeholders_expand(store: DuckDBEventStore, tmp_path: Path) -> None:
    path = tmp_path / "ph.yml"
    path.write_text(rule("r-ph", "  sel:\n    User|expand: '%admins%'\n  condition: sel"))
    result = load_rules([path], placeholders={"admins": ["root", "bob"]})
    matches, _ = match_rules(store, result.rules)
    assert {m.host for m in matches} == {"ws2"}


def test_alerts_are_findings_deduplicated(store: DuckDBEventStore, tmp_path: Path) -> None:
    path = tmp_path / "r.yml"
    path.write_text(rule("r-alert", "  sel:\n    Image|endswith: '.exe'\n  condition: sel"))
    library = RuleLibrary(tmp_path / "rules")
    library.add(path)
    result = library.load()
    alert_store = AlertStore(tmp_path / "alerts")
    matches, _ = match_rules(store, result.rules)
    assert len(alert_store.add(build_alerts(matches, result.rules))) == 2
    assert alert_store.add(build_alerts(matches + matches, result.rules)) == []
    docs = alert_store.list()
    assert len(docs) == 2
    doc = next(d for d in docs if any(e["value"] == "ws2" for e in d["entities"]))
    assert doc["class_uid"] == 2004 and doc["rule_id"] == rid("r-alert") and doc["severity_id"] == 4
    attacks = doc["finding_info"]["attacks"]
    assert {"tactic": {"name": "Execution", "uid": "TA0002"}} in attacks
    assert {"technique": {"uid": "T1059.001"}} in attacks
    assert {"type": "user", "value": "bob"} in doc["entities"] or doc["entities"]
    assert doc["evidences"][0]["event_uid"]


def test_disabled_rules_do_not_run(store: DuckDBEventStore, tmp_path: Path) -> None:
    path = tmp_path / "r.yml"
    path.write_text(rule("r-off", "  sel:\n    Image|endswith: '.exe'\n  condition: sel"))
    library = RuleLibrary(tmp_path / "rules")
    library.add(path)
    library.set_disabled([rid("r-off")])
    [loaded] = library.load().rules
    assert loaded.status == "disabled"
    assert match_rules(store, [loaded])[0] == []
