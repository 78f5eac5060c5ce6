"""A TAXII 2.1 server of Watchfloor's own intelligence: one read-only collection under `/taxii2/`.

Discovery (`/taxii2/`), the API root (`/taxii2/intel/`), its collections and the collection's objects
(`added_after`, `limit`, `next`, `match[type]`), with the `X-TAXII-Date-Added-First/Last` headers
clients use to poll incrementally. What is published, and at which TLP, is decided by
`intel.published_objects`; this module only pages it. Every route needs an API token (Bearer), like
the other data routes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from watchfloor.api.auth import bearer_token_guard
from watchfloor.config import Settings
from watchfloor.intel import intel_store, policy_of, published_objects

__all__ = ["TAXII_MEDIA_TYPE", "taxii_router"]

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
COLLECTION_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "watchfloor:intel:indicators"))
_MAX_PAGE = 1000
_COLLECTION = {
    "id": COLLECTION_ID,
    "title": "Watchfloor indicators and sightings",
    "description": "Live indicators with their current confidence, and what was seen of them.",
    "can_read": True,
    "can_write": False,
    "media_types": [STIX_MEDIA_TYPE],
}


def _taxii(
    body: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, media_type=TAXII_MEDIA_TYPE, headers=headers)


def _error(status_code: int, title: str, description: str) -> JSONResponse:
    return _taxii({"title": title, "description": description, "http_status": str(status_code)}, status_code)


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def taxii_router(settings: Settings) -> APIRouter:
    """The TAXII routes over the installation's intel store."""
    router = APIRouter(
        prefix="/taxii2", tags=["taxii"], dependencies=[Depends(bearer_token_guard(settings.api_tokens))]
    )
    max_tlp = str((settings.extra.get("intel") or {}).get("share_tlp", "amber"))

    @router.get("/")
    async def discovery(request: Request) -> JSONResponse:
        """Server discovery: the one API root."""
        root = str(request.url_for("api_root"))
        return _taxii(
            {
                "title": "Watchfloor TAXII 2.1",
                "description": "Watchfloor intelligence",
                "default": root,
                "api_roots": [root],
            }
        )

    @router.get("/intel/", name="api_root")
    async def api_root() -> JSONResponse:
        """The API root's information."""
        return _taxii(
            {
                "title": "Watchfloor intelligence",
                "versions": [TAXII_MEDIA_TYPE],
                "max_content_length": 10_485_760,
            }
        )

    @router.get("/intel/collections/")
    async def collections() -> JSONResponse:
        """The one collection."""
        return _taxii({"collections": [_COLLECTION]})

    @router.get("/intel/collections/{collection_id}/")
    async def collection(collection_id: str) -> JSONResponse:
        """The collection's description."""
        if collection_id != COLLECTION_ID:
            return _error(404, "Collection not found", f"no collection {collection_id}")
        return _taxii(_COLLECTION)

    @router.get("/intel/collections/{collection_id}/objects/")
    async def objects(request: Request, collection_id: str) -> JSONResponse:
        """Objects added after `added_after`, `limit` at a time; `next` continues a page."""
        if collection_id != COLLECTION_ID:
            return _error(404, "Collection not found", f"no collection {collection_id}")
        params = request.query_params
        after = _parse_time(params["added_after"]) if "added_after" in params else None
        if "added_after" in params and after is None:
            return _error(400, "Bad added_after", f"not a timestamp: {params['added_after']!r}")
        try:
            limit = min(_MAX_PAGE, max(1, int(params.get("limit", 100))))
            offset = int(params.get("next", 0))
        except ValueError:
            return _error(400, "Bad paging", "limit and next must be integers")
        types = set(filter(None, params.get("match[type]", "").split(",")))
        store = intel_store(settings)
        found = (
            await run_in_threadpool(published_objects, store, policy_of(settings), max_tlp)
            if store.exists()
            else []
        )
        chosen = [
            p
            for p in found
            if (after is None or p.added > after) and (not types or p.object["type"] in types)
        ]
        page = chosen[offset : offset + limit]
        body: dict[str, Any] = {"more": offset + limit < len(chosen), "objects": [p.object for p in page]}
        if body["more"]:
            body["next"] = str(offset + limit)
        headers = {}
        if page:
            headers = {
                "X-TAXII-Date-Added-First": _stamp(page[0].added),
                "X-TAXII-Date-Added-Last": _stamp(page[-1].added),
            }
        return _taxii(body, headers=headers)

    return router
