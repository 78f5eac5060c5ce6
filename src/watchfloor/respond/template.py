"""`{{ expression }}` templates in step parameters, connector requests and messages.

A string that is exactly one placeholder keeps the value's type (a list of hosts stays a list); a
placeholder inside longer text is written as text. Placeholders are expressions of `expr`, so a
template can read the run context but cannot run code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from watchfloor.respond.expr import check_expression, evaluate

__all__ = ["check_template", "render", "render_text"]

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def render_text(template: str, scope: Mapping[str, Any]) -> str:
    """Every placeholder replaced by its value as text."""
    return _PLACEHOLDER.sub(lambda m: _text(evaluate(m.group(1), scope)), template)


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render strings, and the strings inside lists and mappings, keeping non-text values as they are."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value.strip())
        if whole and value.count("{{") == 1:
            return evaluate(whole.group(1), scope)
        return render_text(value, scope)
    if isinstance(value, Mapping):
        return {str(k): render(v, scope) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [render(item, scope) for item in value]
    return value


def check_template(value: Any) -> None:
    """Vet every placeholder at load time, so a typo fails `playbooks list`, not a run at 3 a.m."""
    if isinstance(value, str):
        for match in _PLACEHOLDER.finditer(value):
            check_expression(match.group(1))
    elif isinstance(value, Mapping):
        for item in value.values():
            check_template(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            check_template(item)
