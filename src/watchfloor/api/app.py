"""The API and console application on port 8000.

For now it serves `/health` (no authentication, no data) and the ingestion routers that carry their
own token checks. Routes that read data arrive with the API's authentication; nothing here reads the
event store.
"""

from __future__ import annotations

from fastapi import FastAPI

from watchfloor.config import Settings
from watchfloor.events import Acknowledger
from watchfloor.ingest.listeners.bulk import bulk_router

__all__ = ["create_app"]


def create_app(settings: Settings, acknowledger: Acknowledger) -> FastAPI:
    """The application `watchfloor serve` runs on the API port."""
    app = FastAPI(title="Watchfloor", version="0.1.0")

    @app.get("/health", tags=["system"])
    async def health() -> dict[str, str]:
        """Liveness for load balancers and supervisors; says nothing about the data."""
        return {"status": "ok"}

    # Ingestion routers, each checking its own tokens (one line per router):
    app.include_router(bulk_router(acknowledger, settings.bulk_tokens))  # `/_bulk`, `/{index}/_bulk`
    return app
