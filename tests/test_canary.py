"""Canaries: rules' positive samples injected as synthetic events must alert; silent sources are noticed.

The rules are the demo's sudo/shadow rule (a syslog line) and its Okta push rule (a JSON record), read
from the package. "Broken" is the sudo rule with its detection edited so that its own positive sample
no longer matches, or with its logsource pointed at the Windows view. The schedule is driven with a
controlled clock (`CanaryMonitor.tick`), and once end to end under `watchfloor serve` with a one-second
interval.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

import watchfloor.demo
from tests.live_server import start_server, wait_for, write_config
from watchfloor.api.canary import CanaryScheduler
from watchfloor.cases import IncidentFilter, list_incidents, open_database
from watchfloor.cli.app import cli
from watchfloor.config import load_settings
from watchfloor.detect import (
    CANARY_FIELD,
    UID_PREFIX,
    CanaryMonitor,
    CanaryPolicy,
    CanaryState,
    RuleError,
    RuleLibrary,
    is_synthetic,
)
from watchfloor.detect.canary import detect_injected
from watchfloor.detect.canary_monitor import source_expectations
from watchfloor.events import BatchBuilder
from watchfloor.schema import MappingRegistry, add_core
from watchfloor.store import DuckDBEventStore, StoredPart

DEMO_RULES = Path(watchfloor.demo.__file__).parent / "rules"
SUDO_ID = "7c1f0b8e-2d4a-4c55-9a0e-6b3f1d2e9a05"
OKTA_ID = "7c1f0b8e-2d4a-4c55-9a0e-6b3f1d2e9a06"
SUDO_FILE = "linux_sudo_reads_shadow.yml"


def _sudo_rule(broken: str | None = None) -> str:
    text = (DEMO_RULES / SUDO_FILE).read_text(encoding="utf-8")
    if broken == "detection":  # the keywords no longer match the rule's own positive sample
        changed = text.replace(
            "        - 'COMMAND=/usr/bin/cat /etc/shadow'\n", "        - 'less /etc/shadow'\n"
        )
    elif broken == "logsource":  # mapped to the wrong view
        changed = text.replace("    product: linux\n    service: sudo\n", "    product: windows\n")
    else:
        return text
    assert changed != text
    return changed


def _install(data_dir: Path, broken: str | None = None) -> None:
    rules = data_dir / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    (rules / SUDO_FILE).write_text(_sudo_rule(broken), encoding="utf-8")
    (rules / "okta.yml").write_text((DEMO_RULES / "okta_push_denied.yml").read_text(encoding="utf-8"))


def _canary(data_dir: Path, *args: str) -> tuple[int, Any, BaseException | None]:
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "canary", *args])
    doc = json.loads(result.output[: result.output.rfind("}") + 1]) if "--json" in args else result.output
    return result.exit_code, doc, result.exception


def _incidents(data_dir: Path, **wanted: Any) -> list[Any]:
    database = open_database(None, data_dir)
    try:
        with database.session() as session:
            return list(list_incidents(session, IncidentFilter(**wanted)))
    finally:
        database.close()


def _monitor(data_dir: Path, policy: CanaryPolicy, synchronous: bool = False) -> CanaryMonitor:
    library = RuleLibrary.from_settings(load_settings(data_dir))
    store = DuckDBEventStore(data_dir / "events")
    return CanaryMonitor(store, library.snapshot, policy, data_dir / "canary", synchronous)


def test_working_rules_pass_and_nothing_reaches_the_queues(tmp_path: Path) -> None:
    _install(tmp_path)
    code, doc, error = _canary(tmp_path, "run", "--json")
    assert code == 0, error
    assert {r["id"]: r["passed"] for r in doc["rules"]} == {SUDO_ID: True, OKTA_ID: True}
    assert doc["events"] == 2 and doc["health_alerts"] == []
    store = DuckDBEventStore(tmp_path / "events")
    uids = store.query("SELECT metadata_uid FROM events").column(0).to_pylist()
    assert len(uids) == 2 and all(u.startswith(f"{UID_PREFIX}{doc['run_id']}-") for u in uids)
    marked = store.query(f"SELECT {CANARY_FIELD} FROM syslog").column(0).to_pylist()
    assert marked == [doc["run_id"]]
    assert _incidents(tmp_path) == [] and _incidents(tmp_path, queue="health") == []
    # A batch `detect` over the whole store sees the synthetic events too, and hands none on.
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "detect", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["alerts"] == 2 and summary["incidents_opened"] == 0
    assert _incidents(tmp_path, is_exercise=None) == []
    state = CanaryState.read(tmp_path / "canary" / "state.json")
    assert state.rules[SUDO_ID].last_success is not None and not state.rules[SUDO_ID].failing
    code, status, _ = _canary(tmp_path, "status", "--json")
    assert code == 0 and status["last_run"] == doc["run_id"]


@pytest.mark.parametrize("broken", ["detection", "logsource"])
def test_broken_rule_fails_the_run_and_raises_one_health_alert(tmp_path: Path, broken: str) -> None:
    _install(tmp_path, broken)
    code, doc, error = _canary(tmp_path, "run", "--json")
    assert code == 1 and isinstance(error, RuleError)
    assert {r["id"]: r["passed"] for r in doc["rules"]} == {SUDO_ID: False, OKTA_ID: True}
    assert doc["health_alerts"] == [f"watchfloor:canary:{SUDO_ID}"]
    health = _incidents(tmp_path, queue="health")
    assert len(health) == 1 and health[0].title == "Canary missed: Sudo Used to Read the Shadow Password File"
    assert health[0].severity == "high"
    assert [i for i in _incidents(tmp_path) if i.queue != "health"] == []
    # Still broken: recorded, but no second alert for the same failure streak.
    code, doc, _ = _canary(tmp_path, "run", "--json")
    assert code == 1 and doc["health_alerts"] == []
    assert CanaryState.read(tmp_path / "canary" / "state.json").rules[SUDO_ID].consecutive_failures == 2
    # Fixed: the recovery is recorded; the health incident stays for someone to close.
    _install(tmp_path)
    code, doc, _ = _canary(tmp_path, "run", "--json")
    assert code == 0
    state = CanaryState.read(tmp_path / "canary" / "state.json")
    assert state.rules[SUDO_ID].last_recovery is not None and not state.rules[SUDO_ID].failing
    assert [e["event"] for e in state.log] == ["canary.failed", "canary.recovered"]
    assert len(_incidents(tmp_path, queue="health")) == 1


def test_scheduler_notices_a_broken_rule_within_one_interval(tmp_path: Path) -> None:
    """Streaming detection's part is played by `detect_injected` + `observe`; the clock is ours."""
    _install(tmp_path, "detection")
    policy = CanaryPolicy(interval=900, silent_sources=False)
    monitor = _monitor(tmp_path, policy)
    t0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    first = monitor.tick(t0)
    assert first.injected is not None and not first.results and not first.health
    alerts = detect_injected(monitor.store, monitor.rules(), first.injected.parts)
    assert alerts and all(is_synthetic(a) for a in alerts)
    monitor.observe(alerts)
    assert monitor.tick(t0 + dt.timedelta(seconds=899)).health == ()  # the broken rule may still come
    judged = monitor.tick(t0 + dt.timedelta(seconds=900))
    assert {r.rule_id: r.passed for r in judged.results} == {OKTA_ID: True, SUDO_ID: False}
    assert [a.rule_id for a in judged.health] == [f"watchfloor:canary:{SUDO_ID}"]
    assert judged.health[0].level == "high" and judged.health[0].correlation_key
    # The next injection is due right away (one interval after the first); nothing new before then.
    second = monitor.tick(t0 + dt.timedelta(seconds=900))
    assert second.injected is not None and second.injected.run_id != first.injected.run_id
    # State survives a restart: a new monitor judges the pending run.
    again = _monitor(tmp_path, policy)
    later = again.tick(t0 + dt.timedelta(seconds=1800))
    assert {r.rule_id for r in later.results if not r.passed} == {SUDO_ID, OKTA_ID}
    assert [a.rule_id for a in later.health] == [f"watchfloor:canary:{OKTA_ID}"]  # sudo: same streak


def test_working_rules_pass_as_soon_as_observed(tmp_path: Path) -> None:
    _install(tmp_path)
    monitor = _monitor(tmp_path, CanaryPolicy(interval=900, silent_sources=False))
    t0 = dt.datetime.now(dt.UTC)
    first = monitor.tick(t0)
    assert first.injected is not None
    monitor.observe(detect_injected(monitor.store, monitor.rules(), first.injected.parts))
    done = monitor.tick(t0 + dt.timedelta(seconds=1))
    assert [r.passed for r in done.results] == [True, True] and done.health == ()


def test_scheduler_offers_a_failed_health_delivery_again(tmp_path: Path) -> None:
    _install(tmp_path, "detection")
    monitor = _monitor(tmp_path, CanaryPolicy(interval=10, silent_sources=False), synchronous=True)
    t0 = dt.datetime.now(dt.UTC)
    times = iter([t0, t0 + dt.timedelta(seconds=10), t0 + dt.timedelta(seconds=10)])
    delivered: list[str] = []

    def deliver(alerts: Any) -> None:
        if not delivered:
            delivered.append("refused")
            raise OSError("database is locked")
        delivered.extend(a.rule_id for a in alerts)

    scheduler = CanaryScheduler(monitor, deliver, clock=lambda: next(times))
    assert scheduler.step().injected is not None  # synchronous: detected at once, judged at the deadline
    with pytest.raises(OSError):
        scheduler.step()
    assert [a.rule_id for a in scheduler.undelivered] == [f"watchfloor:canary:{SUDO_ID}"]
    scheduler.step()
    assert delivered == ["refused", f"watchfloor:canary:{SUDO_ID}"] and scheduler.undelivered == []


def _part(store: DuckDBEventStore, source: str, tag: str, written: float | None = None) -> None:
    """One stored part of `source`; its write time set to `written` (epoch seconds) when given."""
    builder = BatchBuilder(source, "json", f"test:{tag}")
    builder.add({"msg": f"event {tag}", "host": "fw1"}, f"event {tag}", 0)
    table: pa.Table = add_core(builder.build(), MappingRegistry(), origin=f"test:{tag}")
    before = {p.name for p in store.parts()}
    store.append(table)
    if written is not None:
        for part in store.parts():
            if part.name not in before:
                os.utime(store.root / part.name, ns=(int(written * 1e9), int(written * 1e9)))


def test_silent_source_raises_once_and_records_recovery(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "events")
    start = time.time() - 4 * 3600
    for n in range(12):  # every 10 minutes for two hours, then nothing
        _part(store, "firewall", str(n), start + 600 * n)
    _part(store, "oneshot", "import")  # one delivery: too little history to learn an interval
    policy = CanaryPolicy(enabled=False)
    monitor = _monitor(tmp_path, policy)
    learned = {
        e.source: e for e in source_expectations(store.parts(), set(), policy, dt.datetime.now(dt.UTC))
    }
    assert learned["firewall"].expected == 2400 and learned["oneshot"].expected is None
    now = dt.datetime.now(dt.UTC)
    health, recovered = monitor.check_sources(now)
    assert [a.rule_id for a in health] == ["watchfloor:silent-source:firewall"] and recovered == []
    assert health[0].rule_title == "Source silent: firewall"
    assert monitor.check_sources(now + dt.timedelta(minutes=5)) == ([], [])  # once per silence
    _part(store, "firewall", "back")
    health, recovered = monitor.check_sources(dt.datetime.now(dt.UTC))
    assert health == [] and recovered == ["firewall"]
    outcome = monitor.tick(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))  # silent again, later
    assert [a.rule_id for a in outcome.health] == ["watchfloor:silent-source:firewall"]
    saved = CanaryState.read(tmp_path / "canary" / "state.json")
    assert saved.sources["firewall"].silences == 2 and saved.sources["firewall"].last_recovery
    assert [e["event"] for e in saved.log] == ["source.silent", "source.recovered", "source.silent"]


def test_canary_parts_and_configured_intervals(tmp_path: Path) -> None:
    parts = [StoredPart(f"p{n}", "web", n * 600 * 10**9) for n in range(6)]
    now = dt.datetime.fromtimestamp(3600, dt.UTC)
    policy = CanaryPolicy(history=10**6)
    (found,) = source_expectations(parts, {"p5"}, policy, now)
    assert found.last_ns == 4 * 600 * 10**9 and found.expected == 2400
    write_config(
        tmp_path, '[canary]\ninterval = "1s"\ntimeout = 0.5\n[sources.web]\nexpected_interval = "1h"\n'
    )
    configured = CanaryPolicy.from_settings(load_settings(tmp_path))
    assert configured.interval == 1 and configured.wait == 0.5 and configured.expected == {"web": 3600}
    (fixed,) = source_expectations(parts, set(), configured, now)
    assert fixed.expected == 3600 and not fixed.learned


@pytest.mark.network
def test_serve_notices_a_broken_rule_within_one_interval(tmp_path: Path) -> None:
    _install(tmp_path, "logsource")
    write_config(tmp_path, '[canary]\ninterval = "2s"\nsilent_sources = false\n')
    server = start_server(tmp_path)
    ready = time.monotonic()
    try:
        found = wait_for(lambda: _incidents(tmp_path, queue="health"), timeout=30, interval=0.1)
        noticed = time.monotonic() - ready
        assert len(found) == 1, server.output
        assert found[0].title.startswith("Canary missed: Sudo")
        print(f"broken rule noticed {noticed:.2f} s after serve was ready (interval 2 s)")
        assert noticed < 2 * 2 + 3, f"noticed after {noticed:.1f} s"
        state = wait_for(
            lambda: CanaryState.read(tmp_path / "canary" / "state.json").rules.get(OKTA_ID), timeout=10
        )
        assert state is not None and state.last_success is not None and not state.failing
    finally:
        server.stop()
    assert [i for i in _incidents(tmp_path) if i.queue != "health"] == []
