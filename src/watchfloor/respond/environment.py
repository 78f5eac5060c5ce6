"""The run environment of an installation: connectors from `watchfloor.toml`, the store for enrichment."""

from __future__ import annotations

from watchfloor.config import Settings
from watchfloor.intel import IntelLookupService
from watchfloor.respond.connectors import connectors_from_config
from watchfloor.respond.context import EnrichSources
from watchfloor.respond.steps import Environment
from watchfloor.store import open_store

__all__ = ["environment_for"]


def environment_for(settings: Settings) -> Environment:
    """Connectors from `[connectors.NAME]`, and the store when the installation has events."""
    store = open_store(settings.events_dir) if settings.events_dir.is_dir() else None
    return Environment(
        connectors_from_config(settings.extra), EnrichSources(store=store, intel=IntelLookupService(settings))
    )
