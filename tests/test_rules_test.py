"""`rules test`: detection as code with each rule's samples, Watchfloor's and SigmaHQ's regression data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import corpus
from watchfloor.cli.detect import rules
from watchfloor.config import load_settings
from watchfloor.demo.run import DEMO_RULES
from watchfloor.detect import RuleLibrary

RULE = """title: Whoami run
id: 6a1d2c3b-4e5f-4a7b-8c9d-0e1f2a3b4c5d
status: test
logsource:
  product: windows
  category: process_creation
detection:
  sel:
    Image|endswith: '\\\\whoami.exe'
  condition: sel
watchfloor:
  samples:
    positive:
      - {EventID: 1, Channel: Microsoft-Windows-Sysmon/Operational, Image: 'C:\\Windows\\whoami.exe'}
      - name: not whoami at all
        events:
          - {EventID: 1, Channel: Microsoft-Windows-Sysmon/Operational, Image: 'C:\\x\\net.exe'}
    negative:
      - {EventID: 1, Channel: Microsoft-Windows-Sysmon/Operational, Image: 'C:\\x\\ipconfig.exe'}
"""


@click.group()
@click.option("--data-dir", type=click.Path(path_type=Path))
@click.pass_context
def cli(ctx: click.Context, data_dir: Path) -> None:
    ctx.obj = load_settings(data_dir, environ={})


cli.add_command(rules)


def _test(data: Path, *args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, ["--data-dir", str(data), "rules", "test", *args])


def test_demo_rules_pass_on_a_fresh_installation(tmp_path: Path) -> None:
    data = tmp_path / "wf"
    RuleLibrary(data / "rules").add(DEMO_RULES)
    result = _test(data, "--json")
    assert result.exit_code == 0, result.output
    checks = json.loads(result.output)
    assert len(checks) == 10  # nine files, one with a base rule and its correlation
    for check in checks:
        assert check["passed"], check
        assert check["positives"] >= 1 and check["negatives"] >= 1, check["title"]
        assert set(check) >= {"id", "title", "positives", "negatives", "passed", "failures"}
    text = _test(data)
    assert text.exit_code == 0
    RuleLibrary(data / "rules").set_disabled(["7c1f0b8e-2d4a-4c55-9a0e-6b3f1d2e9a08"])
    assert len(json.loads(_test(data, "--json").output)) == 9  # disabled rules are skipped
    assert (
        text.output.count("PASS  ") == 10
        and "10 rules tested: 10 passed, 0 failed; 0 rules without samples, 0 disabled" in text.output
    )


def test_every_demo_rule_file_carries_samples() -> None:
    for path in sorted(DEMO_RULES.glob("*.yml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            samples = doc["watchfloor"]["samples"]
            assert samples["positive"] and samples["negative"], path.name


def test_a_sample_that_does_not_fire_fails(tmp_path: Path) -> None:
    rule = tmp_path / "whoami.yml"
    rule.write_text(RULE, encoding="utf-8")
    result = _test(tmp_path / "wf", str(rule))
    assert result.exit_code == 1
    assert "FAIL  6a1d2c3b-4e5f-4a7b-8c9d-0e1f2a3b4c5d" in result.output
    assert "positive #2 (not whoami at all) did not fire" in result.output
    assert "positive #1" not in result.output and "negative #1" not in result.output
    as_json = _test(tmp_path / "wf", str(rule), "--json")
    assert as_json.exit_code == 1
    [check] = json.loads(as_json.stdout)
    assert check["failures"] == ["positive #2 (not whoami at all) did not fire"]
    assert (check["positives"], check["negatives"], check["passed"]) == (2, 1, False)


def test_malformed_samples_and_unsupported_rules_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(RULE.replace("    positive:\n", "    positive: 3\n    other:\n"), encoding="utf-8")
    result = _test(tmp_path / "wf", str(bad), "--json")
    assert result.exit_code == 1
    [check] = json.loads(result.stdout)
    assert "invalid samples" in check["failures"][0]

    odd = tmp_path / "odd.yml"
    odd.write_text(RULE.replace("category: process_creation", "category: no_such_category"), encoding="utf-8")
    [check] = json.loads(_test(tmp_path / "wf", str(odd), "--json").stdout)
    assert check["failures"][0].startswith("the rule cannot run (unsupported")


def _regression_cases(count: int) -> list[tuple[str, Path]]:
    """(rule id, rule file) of the first cases whose rule file sits where the folder says."""
    root = corpus("sigma")
    found = []
    for info in sorted((root / "regression_data").rglob("info.yml")):
        relative = info.parent.relative_to(root / "regression_data")
        rule = (root / relative).with_suffix(".yml")
        doc = yaml.safe_load(info.read_text(encoding="utf-8"))
        if rule.is_file() and list(info.parent.glob("*.evtx")):
            found.append((str(doc["rule_metadata"][0]["id"]), rule))
        if len(found) == count:
            break
    return found


@pytest.mark.parametrize("mode", ["beside the pack", "--regression"])
def test_sigmahq_regression_layout(tmp_path: Path, mode: str) -> None:
    cases = _regression_cases(3)
    assert len(cases) == 3
    if mode == "beside the pack":
        paths = [str(rule) for _, rule in cases]
        extra: list[str] = []
    else:  # the rules elsewhere (as in an installation), the regression data named
        folder = tmp_path / "pack"
        folder.mkdir()
        for _, rule in cases:
            shutil.copy(rule, folder / rule.name)
        paths = [str(folder)]
        extra = ["--regression", str(corpus("sigma") / "regression_data")]
    checks = []
    for path in paths:
        result = _test(tmp_path / "wf", path, *extra, "--json")
        assert result.exit_code == 0, result.output
        checks += json.loads(result.stdout)
    assert sorted(c["id"] for c in checks) == sorted(rule_id for rule_id, _ in cases)
    assert all(c["passed"] and c["positives"] == 1 for c in checks)


def test_installation_rules_use_configured_regression_data(tmp_path: Path) -> None:
    [(rule_id, rule)] = _regression_cases(1)
    data = tmp_path / "wf"
    RuleLibrary(data / "rules").add(rule)
    result = _test(data, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []  # no samples known
    (data / "watchfloor.toml").write_text(
        f'regression_data = "{corpus("sigma") / "regression_data"}"\n', encoding="utf-8"
    )
    result = _test(data, "--json")
    assert result.exit_code == 0, result.output
    assert [(c["id"], c["passed"]) for c in json.loads(result.stdout)] == [(rule_id, True)]
