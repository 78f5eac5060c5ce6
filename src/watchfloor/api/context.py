"""Business context over the API: list, import and resolve assets, identities and business services.

The same parser and store as `watchfloor context import|list|resolve`: an import is all or nothing,
every problem names its row and field, and the change is audited by the cases layer (which also
requires tier 2 or above to import). The body carries either JSON records or CSV text, so a CMDB
export can be posted as it is.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field, model_validator

from watchfloor.api.identity import Credential, caller, needs
from watchfloor.cases import Database, context_index, import_context, list_context
from watchfloor.cases.context_records import kind_of, record_fields, resolution_fields
from watchfloor.context import ContextKind, parse_text

__all__ = ["context_router"]

Read = Annotated[Credential, Depends(needs("read"))]
Write = Annotated[Credential, Depends(needs("write"))]


class ContextImportIn(BaseModel):
    """One import: the kind, and the records as JSON objects or as CSV text with a header row."""

    kind: ContextKind
    records: list[dict[str, Any]] | None = None
    csv: str | None = Field(default=None, max_length=50_000_000)

    @model_validator(mode="after")
    def _one_payload(self) -> ContextImportIn:
        if (self.records is None) == (self.csv is None):
            raise ValueError("give exactly one of `records` (JSON objects) or `csv` (text with a header)")
        return self


def context_router(database: Database) -> APIRouter:
    """`/api/v1/context`: list, import, resolve."""
    router = APIRouter(prefix="/api/v1/context", tags=["context"])

    @router.get("")
    def list_route(credential: Read, kind: ContextKind | None = None) -> list[dict[str, Any]]:
        """Every stored asset, identity and service (or one kind), with its criticality and owner."""
        with database.session() as session:
            caller(session, credential)
            return [{"kind": kind_of(r).value, **record_fields(r)} for r in list_context(session, kind)]

    @router.post("/import", status_code=status.HTTP_201_CREATED)
    def import_route(body: ContextImportIn, credential: Write) -> dict[str, Any]:
        """Import records (all or nothing); 422 lists every problem with its row and field."""
        if body.records is not None:
            parsed = parse_text(json.dumps(body.records), "request.json", body.kind)
        else:
            parsed = parse_text(body.csv or "", "request.csv", body.kind)
        if parsed.errors:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                {"message": "nothing imported", "problems": [str(e) for e in parsed.errors]},
            )
        with database.session() as session:
            return import_context(session, caller(session, credential), parsed).as_dict()

    @router.get("/resolve")
    def resolve_route(credential: Read, value: Annotated[str, Query(max_length=512)]) -> list[dict[str, Any]]:
        """Which record a host name, address or user name from an event resolves to, and how."""
        with database.session() as session:
            caller(session, credential)
            found = context_index(session).resolve(value)
        return [resolution_fields(r) for r in found]

    return router
