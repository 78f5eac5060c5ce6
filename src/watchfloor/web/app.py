"""The console mounted on the API application: its routes, static files, error pages and headers.

`install_console(app, database, settings)` is what `api.create_app` calls. It must run before the
`_bulk` router is included: `GET /` is shared with Elasticsearch clients, and is resolved by content
negotiation. The console's root route matches only a browser's request (an `Accept` naming `text/html`
and no Elastic client header); anything else falls through to the `_bulk` router's cluster info.

Adding a page: write a module with a `*_routes(guard, ...) -> APIRouter` factory whose routes declare
their roles with `guard.page(...)` (and `guard.check_csrf` on every POST), put its template under
`templates/`, include it in the list in `install_console`, and add its rows to the authorization matrix in
tests/test_web_security.py (the test fails on any route missing there).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import Scope

from watchfloor.cases import Database, FidelityPolicy
from watchfloor.config import Settings
from watchfloor.store import open_store
from watchfloor.web.admin import admin_routes
from watchfloor.web.auth import CsrfRejected, Guard, LoginRequired, PageForbidden
from watchfloor.web.config import ConsoleConfig
from watchfloor.web.dashboards import dashboard_routes
from watchfloor.web.hunt import hunt_routes
from watchfloor.web.incident import incident_routes
from watchfloor.web.queues import queue_routes
from watchfloor.web.render import STATIC_DIR, render
from watchfloor.web.routes_auth import auth_routes, landing
from watchfloor.web.rules import rules_routes
from watchfloor.web.saved_hunts import SavedHunts
from watchfloor.web.security import SecurityMiddleware

__all__ = ["BrowserRoute", "install_console", "is_browser"]

ELASTIC_HEADERS = ("x-elastic-client-meta", "x-opaque-id", "x-elastic-product-origin")


def is_browser(scope: Scope) -> bool:
    """Whether a request is a person's browser asking for a page, not an Elasticsearch client's probe."""
    headers = Headers(scope=scope)
    if any(name in headers for name in ELASTIC_HEADERS):
        return False
    return "text/html" in headers.get("accept", "")


class BrowserRoute(APIRoute):
    """A route that only matches browsers, so the same path can serve Elasticsearch clients elsewhere."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """No match for a non-browser request: routing goes on to the next route with this path."""
        match, child = super().matches(scope)
        if match is not Match.NONE and not is_browser(scope):
            return Match.NONE, {}
        return match, child


def _add_root(app: FastAPI, guard: Guard) -> None:
    """`GET /` for browsers, added to the application itself.

    A route inside an included router is matched by FastAPI's own route context, which would not
    consult `BrowserRoute.matches`.
    """

    def root(request: Request) -> Response:
        """The console's front door: the viewer's landing page, or the login page."""
        viewer = guard.current(request)
        if viewer is None:
            return RedirectResponse("/login", 302)
        return RedirectResponse("/password" if viewer.must_change_password else landing(viewer.role), 302)

    app.router.add_api_route(
        "/", root, methods=["GET"], route_class_override=BrowserRoute, include_in_schema=False
    )


Handler = Callable[[Request, Exception], Coroutine[Any, Any, Response]]


def _handlers(guard: Guard) -> dict[type[Exception], Handler]:
    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(exc.next_path, 302)

    async def forbidden(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/console/api/"):
            return JSONResponse({"detail": str(exc), "code": "forbidden"}, 403)
        viewer = getattr(request.state, "viewer", None)
        return render(request, "error.html", viewer, 403, title="Not allowed", message=str(exc))

    return {LoginRequired: login_required, PageForbidden: forbidden, CsrfRejected: forbidden}


def install_console(app: FastAPI, database: Database, settings: Settings) -> Guard:
    """Mount the console on `app` (before `_bulk`); its guard is also what the API's identity uses."""
    guard = Guard(database, ConsoleConfig.from_settings(settings))
    app.state.console = guard
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_root(app, guard)
    store = open_store(settings.events_dir)
    fidelity = FidelityPolicy.from_config(settings.extra.get("fidelity"))
    for router in (
        auth_routes(guard),
        queue_routes(guard),
        incident_routes(guard, store),
        hunt_routes(guard, store, SavedHunts(settings.data_dir / "hunts" / "saved.jsonl")),
        rules_routes(guard, settings, fidelity),
        dashboard_routes(guard, fidelity),
        admin_routes(guard),
    ):
        app.include_router(router)
    for exc_class, handler in _handlers(guard).items():
        app.add_exception_handler(exc_class, handler)
    app.add_middleware(SecurityMiddleware, database=database)
    return guard
