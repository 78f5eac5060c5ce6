"""`/api/v1/intel`: threat-intel feeds, pulls and indicator search over HTTP, as `watchfloor intel` does.

Who may do what: every staff role (not stakeholders) lists feeds and searches indicators, which may
carry TLP:AMBER or RED statements; adding a feed and pulling feeds now changes what every analyst
is alerted on, so it takes the `write` scope and tier 2 or above, or a detection engineer. Both are
written to the audit log (`intel.feed_added`, `intel.pulled`) with who asked.

A feed's location is a URL or a path on the server (checked to exist): only the roles above may
point the server at one. Intel errors become statuses here: an unknown feed 404, a name taken 409,
a store busy with another process (the DuckDB file takes one process at a time) 503.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from watchfloor.api.identity import Credential, caller, needs
from watchfloor.cases import Actor, CaseError, Database, Forbidden, InvalidInput, NotAllowed, NotFound, Role
from watchfloor.cases.audit import record
from watchfloor.config import Settings
from watchfloor.errors import Location
from watchfloor.intel import FEED_KINDS, FeedInfo, IntelError, intel_store, policy_of, pull

__all__ = ["IntelUnavailable", "intel_router"]

Read = Annotated[Credential, Depends(needs("read"))]
Write = Annotated[Credential, Depends(needs("write"))]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class IntelUnavailable(CaseError):
    """The intel store cannot be opened now (another process holds it): retry later."""

    http_status = 503


class FeedIn(BaseModel):
    """A feed to add: what `watchfloor intel add-feed` takes."""

    name: str = Field(description="letters, digits, - and _")
    kind: str = Field(description="stix, taxii, misp, csv or list")
    location: str = Field(description="URL, or a file or folder on the server")
    collection: str | None = Field(default=None, description="TAXII collection id")
    columns: dict[str, str] = Field(default_factory=dict, description="CSV: attribute → header")


def _staff(actor: Actor) -> None:
    if actor.role is Role.STAKEHOLDER:
        raise Forbidden(f"{actor.username} (stakeholder) cannot read threat intel")


def _curator(actor: Actor, doing: str) -> None:
    if actor.tier < 2 and actor.role is not Role.DETECTION_ENGINEER:
        raise Forbidden(
            f"{actor.username} ({actor.role.value}) cannot {doing}: "
            "it needs tier 2 or above, or a detection engineer"
        )


def _intel_call(work: Any, *args: Any) -> Any:
    """Run an intel call, turning a locked store into 503 and other intel errors into 422."""
    try:
        return work(*args)
    except IntelError as exc:
        if "cannot open the intel store" in exc.message:
            raise IntelUnavailable(exc.message) from exc
        raise InvalidInput(exc.message) from exc


def _feed(body: FeedIn) -> FeedInfo:
    if not _NAME.match(body.name):
        raise InvalidInput(f"feed name {body.name!r}: use letters, digits, - and _", Location(field="name"))
    if body.kind not in FEED_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(sorted(FEED_KINDS))}", Location(field="kind"))
    if body.kind == "taxii" and not body.collection:
        raise InvalidInput("a TAXII feed needs a collection", Location(field="collection"))
    location = body.location.strip()
    if not location.startswith(("http://", "https://")):
        path = Path(location).expanduser()
        if not path.is_absolute() or not path.exists():
            raise InvalidInput(
                f"{location}: no such file or folder on the server", Location(field="location")
            )
        location = str(path.resolve())
    options = {"columns": dict(body.columns)} if body.columns else {}
    return FeedInfo(
        name=body.name, kind=body.kind, location=location, collection=body.collection, options=options
    )


def intel_router(database: Database, settings: Settings) -> APIRouter:
    """Feeds (list, add), pull now, and search, under `/api/v1/intel`."""
    router = APIRouter(prefix="/api/v1/intel", tags=["intel"])
    store = intel_store(settings)

    @router.get("/feeds")
    def list_feeds(credential: Read) -> list[dict[str, Any]]:
        """Feeds with their live indicators, sightings, verdicts and last pull."""
        with database.session() as session:
            _staff(caller(session, credential))
        if not store.exists():
            return []
        return [f.as_dict() for f in _intel_call(store.feeds)]

    @router.post("/feeds", status_code=status.HTTP_201_CREATED)
    def add_feed(credential: Write, body: FeedIn) -> dict[str, Any]:
        """Add a feed (tier 2+, or a detection engineer); `POST /api/v1/intel/pull` fetches it."""
        with database.session() as session:
            actor = caller(session, credential)
            _curator(actor, "add a threat-intel feed")
            feed = _feed(body)
            if store.exists() and any(f.name == feed.name for f in _intel_call(store.feeds)):
                raise NotAllowed(f"a feed named {feed.name!r} already exists", Location(field="name"))
            _intel_call(store.add_feed, feed)
            record(
                session,
                actor=actor.username,
                action="intel.feed_added",
                target_type="intel_feed",
                target_id=feed.name,
                after=feed.as_dict(),
                request_id=actor.request_id,
            )
        return feed.as_dict()

    @router.post("/pull")
    def pull_now(
        credential: Write, feed: Annotated[str | None, Query(description="only this feed")] = None
    ) -> list[dict[str, Any]]:
        """Fetch every feed (or one) now; each result, errors included (tier 2+ or detection engineer)."""
        with database.session() as session:
            actor = caller(session, credential)
            _curator(actor, "pull threat-intel feeds")
            known = [f.name for f in _intel_call(store.feeds)] if store.exists() else []
            if feed is not None and feed not in known:
                raise NotFound(f"no feed named {feed!r}", Location(field="feed"))
            results = _intel_call(pull, settings, feed) if known else []
            record(
                session,
                actor=actor.username,
                action="intel.pulled",
                target_type="intel_feed",
                target_id=feed or "*",
                after={"feeds": {r.feed: {"stored": r.stored, "error": r.error} for r in results}},
                request_id=actor.request_id,
            )
        return [r.as_dict() for r in results]

    @router.get("/search")
    def search(
        credential: Read, value: Annotated[str, Query(min_length=1, max_length=2048)]
    ) -> list[dict[str, Any]]:
        """Every feed's statement of a value (exact, case-insensitive) with its confidence now."""
        with database.session() as session:
            _staff(caller(session, credential))
        if not store.exists():
            return []
        rows: list[dict[str, Any]] = _intel_call(store.search, value, policy_of(settings))
        return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]

    return router
