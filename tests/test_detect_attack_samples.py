"""The SigmaHQ Windows rules over the EVTX attack samples: alerts carry the technique each file is named for.

sbousseaden/EVTX-ATTACK-SAMPLES names each file after what it shows (`sysmon_10_lsass_mimikatz...`,
`LM_WMIC_4648_rpcss`, `4794_DSRM_password_change_t1098`) and files it under its tactic. A file's
expected techniques are read from its name only: an explicit `t1234` id, else the ATT&CK technique of
each tool or procedure word of `_KEYWORDS` (generic ATT&CK vocabulary, not a per-file answer key).
Files whose name names no technique are left out of the figure. An alert "carries" the technique when
one of its techniques equals it or is its parent or sub-technique.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import corpus
from watchfloor.detect import Rule, build_alerts, load_rules, match_rules, validate_for_duckdb
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

PACKS = ("rules", "rules-threat-hunting", "rules-emerging-threats")
#: Share of files with an identifiable technique that must get an alert carrying it ("most files").
MIN_SHARE = 0.5

#: Words of sample names → the ATT&CK techniques they stand for (matched as whole `_`-separated words
#: or word prefixes of the lower-cased name).
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "lsass": ("T1003.001",),
    "mimikatz": ("T1003",),
    "memdump": ("T1003",),
    "minidump": ("T1003",),
    "hashdump": ("T1003",),
    "dcsync": ("T1003.006",),
    "ntds": ("T1003.003",),
    "ntdsutil": ("T1003.003",),
    "sam": ("T1003.002",),
    "spray": ("T1110",),
    "keylogger": ("T1056.001",),
    "keepass": ("T1555",),
    "keefarce": ("T1555",),
    "chrome": ("T1555.003",),
    "psexec": ("T1021.002", "T1569.002"),
    "psexecsvc": ("T1021.002", "T1569.002"),
    "remcom": ("T1021.002", "T1569.002"),
    "svcctl": ("T1021.002", "T1569.002"),
    "7045": ("T1543.003", "T1569.002"),
    "rdp": ("T1021.001",),
    "sharprdp": ("T1021.001",),
    "tsclient": ("T1021.001",),
    "wmi": ("T1047",),
    "wmic": ("T1047",),
    "wmiexec": ("T1047",),
    "winrm": ("T1021.006",),
    "powershellremoting": ("T1021.006",),
    "remotepowershell": ("T1021.006",),
    "dcom": ("T1021.003",),
    "mmc20": ("T1021.003",),
    "scheduledtask": ("T1053.005",),
    "task": ("T1053.005",),
    "atsvc": ("T1053.005",),
    "rundll32": ("T1218.011",),
    "regsvr32": ("T1218.010",),
    "mshta": ("T1218.005",),
    "compiledhtml": ("T1218.001",),
    "msi": ("T1218.007",),
    "msiexec": ("T1218.007",),
    "cpl": ("T1218.002",),
    "msxsl": ("T1220",),
    "xsl": ("T1220",),
    "pcalua": ("T1202",),
    "bits": ("T1197",),
    "bitsadmin": ("T1197",),
    "bitsjob": ("T1197",),
    "startup": ("T1547.001",),
    "winlogon": ("T1547.004",),
    "accessibility": ("T1546.008",),
    "osk": ("T1546.008",),
    "shim": ("T1546.011",),
    "shime": ("T1546.011",),
    "comhijack": ("T1546.015",),
    "silentprocessexit": ("T1546.012",),
    "imagehijack": ("T1546.012",),
    "wmighost": ("T1546.003",),
    "commandlineeventconsumer": ("T1546.003",),
    "account": ("T1136", "T1098"),
    "admingroup": ("T1098",),
    "powershell": ("T1059.001",),
    "4104": ("T1059.001",),
    "share": ("T1135",),
    "newshare": ("T1135",),
    "bloodhound": ("T1087", "T1069"),
    "psloggedon": ("T1033",),
    "webshell": ("T1505.003",),
    "xp": ("T1505.001",),
    "tunneling": ("T1572",),
    "tunnel": ("T1572",),
    "zerologon": ("T1210",),
    "uefi": ("T1542",),
    "vss": ("T1006",),
}
_EXPLICIT = re.compile(r"(?<![a-z0-9])t(\d{4}(?:\.\d{3})?)(?![0-9])")


def expected_techniques(name: str) -> set[str]:
    """The techniques a sample's file name names: an explicit id wins, else its keywords."""
    stem = name.lower().removesuffix(".evtx")
    explicit = {f"T{m}" for m in _EXPLICIT.findall(stem)}
    if explicit:
        return explicit
    words = [w for w in re.split(r"[^a-z0-9]+", stem) if w]
    out: set[str] = set()
    for word in words:
        out.update(_KEYWORDS.get(word, ()))
    return out


def related(a: str, b: str) -> bool:
    """Same technique, or one is the other's parent (`T1003` and `T1003.001`)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def test_expected_techniques_from_names() -> None:
    assert expected_techniques("4794_DSRM_password_change_t1098.evtx") == {"T1098"}
    assert expected_techniques("sysmon_10_lsass_mimikatz_sekurlsa_logonpasswords.evtx") == {
        "T1003.001",
        "T1003",
    }
    assert expected_techniques("discovery_UEFI_Settings_rweverything_sysmon_6.evtx") == {"T1542"}
    assert expected_techniques("susp_explorer_exec.evtx") == set()
    assert related("T1003", "T1003.001") and related("T1003.001", "T1003")
    assert not related("T1003", "T1030") and not related("T1021.001", "T1021.002")


def _windows_rules() -> list[Rule]:
    root = corpus("sigma")
    loaded = load_rules([root / p for p in PACKS], validate=validate_for_duckdb)
    return [
        r
        for r in loaded.rules
        if r.sigma is not None and getattr(getattr(r.sigma, "logsource", None), "product", None) == "windows"
    ]


@pytest.mark.slow
def test_attack_samples_alert_with_their_technique(tmp_path: Path) -> None:
    samples = corpus("evtx-attack-samples")
    files = sorted(samples.rglob("*.evtx"))
    assert len(files) > 150
    store = DuckDBEventStore(tmp_path / "events")
    summary = ingest_paths(files, store, tmp_path / "quarantine")
    assert summary.events > 5000 and not summary.errors
    rules = _windows_rules()
    matches, _ = match_rules(store, rules)
    alerts = build_alerts(matches, rules)
    connection = store.connect()
    try:
        origins = dict(
            connection.execute("SELECT ocsf.metadata_uid, ocsf.metadata_origin FROM windows").fetchall()
        )
    finally:
        connection.close()
    techniques: dict[str, set[str]] = defaultdict(set)
    for alert in alerts:
        techniques[Path(origins[alert.event_uid]).name].update(alert.techniques)
    alerted = sum(1 for found in techniques.values() if found)
    judged = {f.name: expected_techniques(f.name) for f in files}
    judged = {name: want for name, want in judged.items() if want}
    hits = sorted(
        name for name, want in judged.items() if any(related(w, t) for w in want for t in techniques[name])
    )
    share = len(hits) / len(judged)
    print(
        f"\nEVTX attack samples: {len(hits)}/{len(judged)} files named for a technique ({share:.0%}) have an "
        f"alert carrying it; {alerted}/{len(files)} files have an alert with any technique; "
        f"{len(alerts)} alerts from {len(rules)} Windows rules loaded"
    )
    assert len(judged) >= 60
    assert share > MIN_SHARE, sorted(set(judged) - set(hits))
