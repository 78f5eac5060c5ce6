"""Server-side rendering: one Jinja2 environment over the packaged templates, autoescaping on.

Pages get the viewer (for the navigation and the CSRF token every form carries) and the current time;
nothing is rendered by the browser except the queue's periodic refresh, which builds rows with DOM
methods, never HTML strings.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from watchfloor.metrics import format_duration
from watchfloor.web.auth import CSRF_FIELD, Viewer

__all__ = ["STATIC_DIR", "TEMPLATE_DIR", "render"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _when(value: dt.datetime | None) -> str:
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


_ENV = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(["html", "svg"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["when"] = _when
_ENV.filters["duration"] = format_duration
_ENV.filters["share"] = _share


def render(
    request: Request, template: str, viewer: Viewer | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A template as a response; `viewer` may be None on the login page only."""
    html = _ENV.get_template(template).render(
        request=request, viewer=viewer, csrf_field=CSRF_FIELD, path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status_code)
