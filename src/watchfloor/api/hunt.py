"""`POST /api/v1/hunt`: the same read-only SQL as `watchfloor hunt`, over HTTP.

Thin: it validates the request, asks the `EventStore` and shapes the answer. Bad or writing SQL is a
400 with the store's one-line reason, exactly what the CLI prints.

Callers are scripts with a configured `api_tokens` bearer token, or analysts in the console with their
session (and its CSRF token, as on every POST); stakeholders do not hunt (403).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from watchfloor.api.auth import bearer_token_guard
from watchfloor.api.identity import console_viewer
from watchfloor.cases import Forbidden, Role
from watchfloor.errors import QueryError
from watchfloor.store import EventStore

__all__ = ["HuntRequest", "HuntResult", "hunt_router"]

MAX_ROWS = 100_000


class HuntRequest(BaseModel):
    """One SELECT over the views (`events` and one per source)."""

    sql: str = Field(min_length=1, examples=["SELECT count(*) AS n FROM events"])
    limit: int = Field(default=10_000, ge=1, le=MAX_ROWS, description="Return at most this many rows.")


class HuntResult(BaseModel):
    """Rows as objects keyed by column, in the query's column order."""

    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool


def _hunt_guard(tokens: tuple[str, ...]) -> Callable[[Request], None]:
    """A configured bearer token, else a console session of anyone but a stakeholder."""
    bearer = bearer_token_guard(tokens)

    def guard(request: Request) -> None:
        if "authorization" not in request.headers:
            actor = console_viewer(request, unsafe=True)
            if actor is not None:
                if actor.role is Role.STAKEHOLDER:
                    raise Forbidden(f"{actor.username} is a stakeholder: stakeholders do not hunt")
                return
        bearer(request)

    return guard


def hunt_router(store: EventStore, tokens: tuple[str, ...]) -> APIRouter:
    """The hunting routes, every one behind the API token or console session check."""
    router = APIRouter(prefix="/api/v1", tags=["hunt"], dependencies=[Depends(_hunt_guard(tokens))])

    @router.post("/hunt", response_model=HuntResult)
    async def hunt(request: HuntRequest) -> HuntResult:
        """Run a read-only query; statements that could change data are refused."""
        try:
            table = await run_in_threadpool(store.query, request.sql, request.limit + 1)
        except QueryError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
        rows = table.to_pylist()
        return HuntResult(
            columns=table.column_names, rows=rows[: request.limit], truncated=len(rows) > request.limit
        )

    return router
