"""Custom rule folders reloaded without a restart: `RuleLibrary.current()` re-parses only on change."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from tests.conftest import corpus
from watchfloor.config import load_settings
from watchfloor.detect import RuleLibrary, SuppressionStore

RULE = """title: {title}
id: {rule_id}
status: test
logsource:
  product: windows
  category: process_creation
detection:
  sel:
    Image|endswith: '\\\\{image}'
  condition: sel
"""
A = "5d0e2a1c-6b7f-4c3e-9a8d-1e2f3a4b5c01"
B = "5d0e2a1c-6b7f-4c3e-9a8d-1e2f3a4b5c02"


def _write(path: Path, rule_id: str, title: str, image: str = "whoami.exe") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RULE.format(rule_id=rule_id, title=title, image=image), encoding="utf-8")


def _bump(path: Path) -> None:
    """Move the modification time on, as a later save would (timestamps can be coarse)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def _titles(library: RuleLibrary) -> dict[str, str]:
    return {r.id: r.title for r in library.current().rules}


def test_unchanged_library_is_not_parsed_again(tmp_path: Path) -> None:
    library = RuleLibrary(tmp_path / "rules")
    _write(tmp_path / "rules" / "mine" / "a.yml", A, "First")
    first = library.current()
    assert library.current() is first and library.parses == 1
    assert not library.reload_if_changed()
    assert library.current(max_age=60) is first and library.parses == 1


def test_edit_add_remove_are_seen(tmp_path: Path) -> None:
    rule_a = tmp_path / "rules" / "mine" / "a.yml"
    _write(rule_a, A, "First")
    library = RuleLibrary(tmp_path / "rules")
    assert _titles(library) == {A: "First"}

    _write(rule_a, A, "First, edited", image="net.exe")
    _bump(rule_a)
    assert _titles(library) == {A: "First, edited"}

    _write(tmp_path / "rules" / "mine" / "deeper" / "b.yml", B, "Second")
    assert _titles(library) == {A: "First, edited", B: "Second"}

    rule_a.unlink()
    assert _titles(library) == {B: "Second"}

    library.set_disabled([B])
    assert [r.status for r in library.current().rules] == ["disabled"]
    assert library.parses == 5


def test_configured_rule_folders_and_suppressions_count(tmp_path: Path) -> None:
    data = tmp_path / "wf"
    data.mkdir()
    team = tmp_path / "team-rules"
    _write(team / "a.yml", A, "Team rule")
    (data / "watchfloor.toml").write_text(f'rule_folders = ["{team}", "missing"]\n', encoding="utf-8")
    library = RuleLibrary.from_settings(load_settings(data, environ={}))
    loaded = library.current()
    assert [r.id for r in loaded.rules] == [A]
    assert any("missing" in str(e) and "does not exist" in str(e) for e in loaded.errors)

    assert isinstance(library.suppressions, SuppressionStore)
    snapshot = library.snapshot()
    library.suppressions.add(A, "sam", "lab host", dt.datetime.now(dt.UTC).date(), [])
    after = library.snapshot()
    assert after is not snapshot and len(after.suppressions.items) == 1

    _write(data / "missing" / "b.yml", B, "Now there")
    assert {r.id for r in library.current().rules} == {A, B}
    assert not library.current().errors


def test_change_check_is_cheap_on_the_sigmahq_pack(tmp_path: Path) -> None:
    root = corpus("sigma")
    folders = [root / "rules", root / "rules-threat-hunting", root / "rules-emerging-threats"]
    library = RuleLibrary(tmp_path / "rules", folders=folders)
    digest, files = library.fingerprint()
    assert files > 3000
    rounds = 5
    started = time.perf_counter()
    for _ in range(rounds):
        assert library.fingerprint() == (digest, files)
    per_check = (time.perf_counter() - started) / rounds
    load = os.getloadavg()[0]
    print(f"fingerprint of {files} rule files: {per_check * 1000:.1f} ms (load average {load:.1f})")
    assert per_check < 2.0  # generous: a loaded 2-core machine; typically 40-150 ms
