"""Security headers on every response, and every denial (401, 403) written to the audit log.

A plain ASGI middleware rather than Starlette's `BaseHTTPMiddleware`, so streaming and the `_bulk`
hot path pay only a header merge. The Content-Security-Policy allows scripts, styles, images and
fetches from the application's own origin only: no inline script, no remote origin, no framing. The
one exception is FastAPI's `/docs` and `/redoc` pages, which load their viewers from a CDN; they hold no
data and the console never links to them.

Denials are recorded after the response is sent, in their own transaction (the request's own one was
rolled back by the error), with the method, path, status, address and, when known, the user.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from watchfloor.cases import Database
from watchfloor.cases.audit import new_request_id, record

__all__ = ["CONSOLE_CSP", "SecurityMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_COMMON = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityMiddleware:
    """Adds the headers; `Cache-Control: no-store` on everything but static assets."""

    def __init__(self, app: App, database: Database | None = None) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through, merging the headers into its response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        status: list[int] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                csp = _DOCS_CSP if path.startswith(("/docs", "/redoc")) else CONSOLE_CSP
                extra = [*_COMMON, (b"content-security-policy", csp.encode())]
                if not path.startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))
                headers.extend((name, value) for name, value in extra if name not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
        if status and status[0] in (401, 403) and self.database is not None:
            await anyio.to_thread.run_sync(self._audit_denial, scope, status[0])

    def _audit_denial(self, scope: Scope, status: int) -> None:
        state = scope.get("state") or {}
        actor = str(state.get("actor") or "anonymous")
        client = scope.get("client") or ("unknown", 0)
        assert self.database is not None
        with self.database.session() as session:
            record(
                session,
                actor=actor[:128],
                action="auth.denied",
                target_type="route",
                target_id=f"{scope.get('method', '')} {scope.get('path', '')}"[:512],
                after={"status": status, "address": str(client[0])},
                request_id=new_request_id(),
            )
