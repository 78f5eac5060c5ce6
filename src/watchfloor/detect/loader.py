"""Reading Sigma files into rules with a status: active (compiled), unsupported (with why), or disabled.

pySigma parses and validates each document; a file that is not YAML is reported with its line and the
other files still load. A rule is compiled here into the engine-neutral plan for its logsource; the
query engine may then refuse parts of it (`validate`), which also makes it unsupported with a reason.
A rule is never kept as one that silently matches nothing.

Correlation rules are compiled once every detection rule is: they are active only when all the rules
they reference are. As in pySigma, a base rule referenced by an active correlation without
`generate: true` still runs (its matches feed the correlation) but raises no alerts of its own
(`Rule.generate` is False).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from watchfloor.detect.convert import Placeholders, rule_predicate
from watchfloor.detect.correlate import Correlation, compile_correlation
from watchfloor.detect.errors import RuleError, UnsupportedRule
from watchfloor.detect.ir import Const, Node, all_of, any_of
from watchfloor.detect.logsource import resolve_logsource
from watchfloor.errors import Location

__all__ = ["LoadResult", "Rule", "compile_detection", "iter_rule_files", "load_rules"]

RULE_SUFFIXES = (".yml", ".yaml")
Validator = Callable[[Node], None]


@dataclass(frozen=True, slots=True)
class Rule:
    """One loaded rule and what became of it; `plan` is set exactly when `status` is active."""

    id: str
    title: str
    status: str
    path: str
    reason: str | None = None
    level: str | None = None
    tags: tuple[str, ...] = ()
    source: str | None = None
    kind: str = "detection"
    plan: Node | None = None
    correlation: Correlation | None = None
    generate: bool = True
    sigma: SigmaRule | SigmaCorrelationRule | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The listing shape (`rules list --json`)."""
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "kind": self.kind,
            "level": self.level,
            "source": self.source,
            "path": self.path,
        }
        if self.reason:
            out["reason"] = self.reason
        if not self.generate:
            out["generate"] = False
        return out


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Rules loaded (every status) and the files that could not be read at all."""

    rules: tuple[Rule, ...]
    errors: tuple[RuleError, ...]

    def by_status(self, status: str) -> list[Rule]:
        """The rules with one status."""
        return [r for r in self.rules if r.status == status]


def iter_rule_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Rule files under the paths (files as given, folders searched recursively), in sorted order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file())
        elif path.exists():
            yield path
        else:
            raise RuleError("no such file or folder", Location(str(path)))


def _read_documents(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"cannot read: {exc}", Location(str(path))) from exc
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RuleError(f"invalid YAML: {problem}", Location(str(path), line)) from exc
    for doc in docs:
        if not isinstance(doc, dict):
            raise RuleError("a Sigma document must be a mapping", Location(str(path)))
    return docs


def _first_error(errors: list[SigmaError]) -> str:
    return "; ".join(str(e).split("\n")[0] for e in errors[:3])


def compile_detection(rule: SigmaRule, placeholders: Placeholders | None = None) -> tuple[str, Node]:
    """The view a detection rule reads and its plan there; raises `UnsupportedRule`."""
    logsource = rule.logsource
    target = resolve_logsource(logsource.product, logsource.category, logsource.service)
    node = any_of([all_of([v.condition, rule_predicate(rule, v, placeholders)]) for v in target.variants])
    if isinstance(node, Const) and not node.value:
        raise UnsupportedRule("the rule can never match in this logsource (its fields are all absent)")
    return target.source, node


def _rule_path(rule: SigmaRule | SigmaCorrelationRule | SigmaFilter, fallback: str) -> str:
    source = rule.source
    return str(source.path) if source is not None and source.path is not None else fallback


def _rule_id(sigma: SigmaRule | SigmaCorrelationRule, path: str | None = None) -> str:
    """A rule's Watchfloor id: its Sigma id, else its name, else file and title."""
    origin = path if path is not None else _rule_path(sigma, "<unknown>")
    return str(sigma.id) if sigma.id else (sigma.name or f"{origin}:{sigma.title}")


def _make_rule(
    sigma: SigmaRule | SigmaCorrelationRule,
    path: str,
    disabled: frozenset[str],
    placeholders: Placeholders | None,
    validate: Validator | None,
) -> Rule:
    rule_id = _rule_id(sigma, path)
    common: dict[str, Any] = {
        "id": rule_id,
        "title": sigma.title or rule_id,
        "path": path,
        "level": sigma.level.name.lower() if sigma.level else None,
        "tags": tuple(f"{t.namespace}.{t.name}" for t in sigma.tags),
        "sigma": sigma,
    }
    if isinstance(sigma, SigmaCorrelationRule):
        common["kind"] = "correlation"
    if sigma.errors:
        return Rule(status="unsupported", reason=_first_error(sigma.errors), **common)
    status_name = sigma.status.name.lower() if sigma.status else None
    if rule_id in disabled or status_name in {"deprecated", "unsupported"}:
        why = "disabled in this installation" if rule_id in disabled else f"Sigma status {status_name}"
        return Rule(status="disabled", reason=why, **common)
    if isinstance(sigma, SigmaCorrelationRule):
        try:
            correlation = compile_correlation(sigma, _rule_id)
        except UnsupportedRule as exc:
            return Rule(status="unsupported", reason=exc.message, **common)
        return Rule(status="active", correlation=correlation, **common)
    try:
        source, node = compile_detection(sigma, placeholders)
        if validate is not None:
            validate(node)
    except UnsupportedRule as exc:
        return Rule(status="unsupported", reason=exc.message, **common)
    except SigmaError as exc:
        return Rule(status="unsupported", reason=str(exc).split("\n")[0], **common)
    return Rule(status="active", source=source, plan=node, **common)


def load_rules(
    paths: Iterable[Path],
    disabled: Iterable[str] = (),
    placeholders: Placeholders | None = None,
    validate: Validator | None = None,
) -> LoadResult:
    """Load every rule under the paths; unreadable files are reported and loading goes on."""
    errors: list[RuleError] = []
    items: list[SigmaRule | SigmaCorrelationRule | SigmaFilter] = []
    for path in iter_rule_files(paths):
        try:
            docs = _read_documents(path)
        except RuleError as exc:
            errors.append(exc)
            continue
        try:
            collection = SigmaCollection.from_dicts(
                docs,
                collect_errors=True,
                source=SigmaRuleLocation(path),
                resolve_references=False,
                collect_filters=True,
            )
        except SigmaError as exc:
            errors.append(RuleError(f"invalid Sigma: {str(exc).splitlines()[0]}", Location(str(path))))
            continue
        items.extend(collection.rules)
        items.extend(collection.filters)
    combined = SigmaCollection(items, collect_filters=True, resolve_references=False)
    filters = list(combined.filters)
    off = frozenset(disabled)
    rules: list[Rule] = []
    for sigma in combined.rules:
        origin = _rule_path(sigma, "<unknown>")
        if isinstance(sigma, SigmaRule):
            for rule_filter in filters:
                try:
                    sigma = rule_filter.apply_on_rule(sigma)
                except SigmaError as exc:
                    sigma.errors.append(exc)
        elif isinstance(sigma, SigmaCorrelationRule):
            try:
                sigma.resolve_rule_references(combined)
            except SigmaError as exc:
                sigma.errors.append(exc)
        rules.append(_make_rule(sigma, origin, off, placeholders, validate))
    return LoadResult(tuple(_link_correlations(rules)), tuple(errors))


def _link_correlations(rules: list[Rule]) -> list[Rule]:
    """Correlations whose base rules are not all active become unsupported; silenced bases are marked."""
    by_id = {r.id: r for r in rules}
    silenced: set[str] = set()
    out: list[Rule] = []
    for rule in rules:
        spec = rule.correlation
        if spec is not None and rule.status == "active":
            missing = [
                by_id.get(i) for i in spec.rules if by_id.get(i) is None or by_id[i].status != "active"
            ]
            if missing:
                first = missing[0]
                why = "is not loaded" if first is None else f"is {first.status}"
                name = "a referenced rule" if first is None else f"referenced rule {first.id}"
                rule = replace(rule, status="unsupported", reason=f"{name} {why}", correlation=None)
            elif isinstance(rule.sigma, SigmaCorrelationRule) and not rule.sigma.generate:
                silenced.update(spec.rules)
        out.append(rule)
    return [replace(r, generate=False) if r.id in silenced else r for r in out]
