"""The API and console application on port 8000.

It serves `/health` (no authentication, no data), the ingestion routers that carry their own token
checks, and the data routes (hunting), each behind the API's bearer-token check.
"""

from __future__ import annotations

from fastapi import FastAPI

from watchfloor.api.hunt import hunt_router
from watchfloor.config import Settings
from watchfloor.events import Acknowledger
from watchfloor.ingest.listeners.bulk import bulk_router
from watchfloor.store import open_store

__all__ = ["create_app"]


def create_app(settings: Settings, acknowledger: Acknowledger) -> FastAPI:
    """The application `watchfloor serve` runs on the API port."""
    app = FastAPI(title="Watchfloor", version="0.1.0")

    @app.get("/health", tags=["system"])
    async def health() -> dict[str, str]:
        """Liveness for load balancers and supervisors; says nothing about the data."""
        return {"status": "ok"}

    app.include_router(hunt_router(open_store(settings.events_dir), settings.api_tokens))
    # Ingestion routers, each checking its own tokens (one line per router):
    app.include_router(bulk_router(acknowledger, settings.bulk_tokens))  # `/_bulk`, `/{index}/_bulk`
    return app
