"""The API and console application on port 8000.

It serves `/health` (no authentication, no data), the ingestion routers that carry their own token
checks, and the data routes: hunting behind the configured `api_tokens`, incident management behind the
hashed, revocable tokens of `watchfloor tokens create`. `/openapi.json` and `/docs` are public on
purpose: they describe the routes, never any data, so clients can be generated without a token.

The incident database (`db` in the settings: `WATCHFLOOR_DB` or watchfloor.toml, else SQLite in the
data directory) is opened, and migrated, once here, when the application is created; its engine serves
every request.

The console (`watchfloor.web`) is mounted at `/` before the ingestion routers: a browser's `GET /` gets
the console, an Elasticsearch client's gets the cluster info (content negotiation, see web.app). Its
middleware puts the security headers on every response of the application and audits every denial.
"""

from __future__ import annotations

from fastapi import FastAPI

from watchfloor.api.context import context_router
from watchfloor.api.hunt import hunt_router
from watchfloor.api.incidents import case_error_response, incidents_router
from watchfloor.api.intel import intel_router
from watchfloor.api.metrics import metrics_router
from watchfloor.api.playbooks import playbooks_router
from watchfloor.api.taxii import taxii_router
from watchfloor.cases import CaseError, FidelityPolicy, open_database
from watchfloor.config import Settings
from watchfloor.events import Acknowledger
from watchfloor.ingest.listeners.bulk import bulk_router
from watchfloor.store import open_store
from watchfloor.web import install_console

__all__ = ["create_app"]


def create_app(settings: Settings, acknowledger: Acknowledger) -> FastAPI:
    """The application `watchfloor serve` runs on the API port."""
    app = FastAPI(title="Watchfloor", version="0.1.0")

    @app.get("/health", tags=["system"])
    async def health() -> dict[str, str]:
        """Liveness for load balancers and supervisors; says nothing about the data."""
        return {"status": "ok"}

    app.include_router(hunt_router(open_store(settings.events_dir), settings.api_tokens))
    app.state.cases_database = open_database(settings.db or None, settings.data_dir)
    app.include_router(incidents_router(app.state.cases_database))  # `/api/v1/incidents`, alerts, audit
    app.add_exception_handler(CaseError, case_error_response)
    app.state.fidelity = FidelityPolicy.from_config(settings.extra.get("fidelity"))  # for every close
    app.include_router(metrics_router(app.state.cases_database, settings))  # `/api/v1/metrics`, fidelity
    app.include_router(context_router(app.state.cases_database))  # `/api/v1/context`: assets, identities
    app.include_router(
        intel_router(app.state.cases_database, settings)
    )  # `/api/v1/intel`: feeds, pull, search
    app.include_router(playbooks_router(app.state.cases_database, settings))  # `/api/v1/playbooks`, runs
    app.include_router(taxii_router(settings))  # `/taxii2/`: TAXII 2.1 of Watchfloor's own intel
    install_console(app, app.state.cases_database, settings)  # `/`, `/login`, `/queues`, ...: before `_bulk`
    # Ingestion routers, each checking its own tokens (one line per router):
    app.include_router(bulk_router(acknowledger, settings.bulk_tokens))  # `/_bulk`, `/{index}/_bulk`
    return app
