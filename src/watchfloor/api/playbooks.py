"""`/api/v1/playbooks`: response playbooks and their runs over HTTP, as `watchfloor playbooks` does.

Reading playbooks and runs is for every staff role. Running a playbook on an incident takes the
`write` scope and a role that may work on that incident's tier; approving a waiting step takes tier 2
or above (decided by `respond.approve`, which also audits it); cancelling takes tier 1 or above.

Playbooks are "managed over the API": `PUT /api/v1/playbooks/{name}` takes the YAML document as the
body, validates it with the same parser the loader uses, and writes it to `DATA_DIR/playbooks`
(a new file is `NAME.yml`; an installation file that already holds the playbook is replaced);
`DELETE` removes an installation playbook. A built-in cannot be deleted (an installation file of the
same name overrides it, and deleting that file brings the built-in back). Both take a detection
engineer or an administrator and are audited (`playbook.saved`, `playbook.deleted`) with the
document's hash. Playbooks are read from disk on every request, so a change applies at once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from watchfloor.api.identity import Credential, caller, needs
from watchfloor.cases import (
    Actor,
    Database,
    Forbidden,
    InvalidInput,
    NotAllowed,
    NotFound,
    Role,
    show_incident,
)
from watchfloor.cases.audit import record
from watchfloor.cases.users import require_tier
from watchfloor.config import Settings
from watchfloor.errors import Location
from watchfloor.respond import (
    BUILTIN_DIR,
    ApprovalError,
    PlaybookError,
    PlaybookSet,
    Runner,
    approve,
    cancel,
    list_runs,
    load_playbooks,
    parse_playbook,
    playbooks_dir,
    queue_run,
    show_run,
)
from watchfloor.respond.environment import environment_for
from watchfloor.respond.models import PlaybookRun

__all__ = ["CancelIn", "RunIn", "playbooks_router"]

Read = Annotated[Credential, Depends(needs("read"))]
Write = Annotated[Credential, Depends(needs("write"))]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MAX_DOCUMENT = 256 * 1024


class RunIn(BaseModel):
    """Run a playbook on an incident now."""

    incident_id: int = Field(ge=1)
    dry_run: bool = Field(default=False, description="call no connector and change no incident")


class CancelIn(BaseModel):
    """Why a pending or waiting run is cancelled."""

    reason: str = Field(min_length=1, max_length=2000)


def _staff(actor: Actor) -> None:
    if actor.role is Role.STAKEHOLDER:
        raise Forbidden(f"{actor.username} (stakeholder) cannot read playbooks")


def _author(actor: Actor) -> None:
    if actor.role not in (Role.DETECTION_ENGINEER, Role.ADMIN):
        raise Forbidden(
            f"{actor.username} ({actor.role.value}) cannot change playbooks: "
            "it needs a detection engineer or an administrator"
        )


def _name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(f"playbook name {name!r}: use letters, digits, ., - and _", Location(field="name"))
    return name


@contextmanager
def _respond_errors() -> Iterator[None]:
    """Response-automation errors as the API's statuses (unknown 404, not now 409, refused 403)."""
    try:
        yield
    except ApprovalError as exc:
        if "does not exist" in exc.message:
            raise NotFound(exc.message) from exc
        if "cannot approve" in exc.message:
            raise Forbidden(exc.message) from exc
        raise NotAllowed(exc.message) from exc
    except PlaybookError as exc:
        if exc.message.startswith("no playbook named"):
            raise NotFound(exc.message) from exc
        raise InvalidInput(str(exc), exc.location) from exc


def _installed(data_dir: Path, name: str) -> list[Path]:
    """The installation's files that hold playbook `name` (a broken file counts by its file name)."""
    folder = playbooks_dir(data_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            holds = parse_playbook(path.read_text(encoding="utf-8"), str(path)).name == name
        except (PlaybookError, OSError, UnicodeDecodeError):
            holds = path.stem == name
        if holds:
            found.append(path)
    return found


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write(path: Path, text: str) -> None:
    """Replace the file in one rename, so the loader never reads half a document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".playbook-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def playbooks_router(database: Database, settings: Settings) -> APIRouter:
    """Playbooks (list, save, delete), runs (list, show, start, approve, cancel) under `/api/v1/playbooks`."""
    router = APIRouter(prefix="/api/v1/playbooks", tags=["playbooks"])

    def current() -> PlaybookSet:
        return load_playbooks(settings.data_dir)

    def execute(found: PlaybookSet, run_id: int) -> dict[str, Any]:
        view = Runner(database, found, environment_for(settings)).execute(run_id)
        return view.as_dict()

    @router.get("")
    def list_playbooks(credential: Read) -> dict[str, Any]:
        """The built-in and installation playbooks, and the files that do not load."""
        with database.session() as session:
            _staff(caller(session, credential))
        found = current()
        return {
            "playbooks": [p.as_dict() for p in found.playbooks.values()],
            "errors": [str(e) for e in found.errors],
        }

    @router.get("/runs")
    def runs(
        credential: Read,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        playbook: Annotated[str | None, Query(max_length=128)] = None,
    ) -> list[dict[str, Any]]:
        """The newest runs first, optionally of one playbook."""
        with database.session() as session:
            _staff(caller(session, credential))
            return [r.as_dict() for r in list_runs(session, limit, playbook)]

    @router.get("/runs/{run_id}")
    def run_detail(credential: Read, run_id: int) -> dict[str, Any]:
        """One run, step by step: attempts, outputs, errors and timings."""
        with database.session() as session, _respond_errors():
            _staff(caller(session, credential))
            return show_run(session, run_id).as_dict()

    @router.post("/{name}/run")
    def start(credential: Write, name: str, body: RunIn) -> dict[str, Any]:
        """Run one playbook on one incident now; answers with the run in its final (or waiting) state."""
        found = current()
        with database.session() as session, _respond_errors():
            actor = caller(session, credential)
            if actor.tier < 1:
                raise Forbidden(f"{actor.username} ({actor.role.value}) cannot run playbooks")
            tier = show_incident(session, body.incident_id).incident.tier
            require_tier(actor, tier, f"run a playbook on incident #{body.incident_id} (tier {tier})")
            playbook = found.get(name)
            run_id = queue_run(session, playbook, body.incident_id, "manual", actor.username, body.dry_run).id
        return execute(found, run_id)

    @router.post("/runs/{run_id}/approve")
    def approve_run(credential: Write, run_id: int) -> dict[str, Any]:
        """Approve the step a run waits on (tier 2 or above), then let the run continue."""
        found = current()
        with database.session() as session, _respond_errors():
            actor = caller(session, credential)
            approve(session, actor, run_id)
        return execute(found, run_id)

    @router.post("/runs/{run_id}/cancel")
    def cancel_run(credential: Write, run_id: int, body: CancelIn) -> dict[str, Any]:
        """Cancel a pending run or one waiting for approval (tier 1 or above)."""
        with database.session() as session, _respond_errors():
            actor = caller(session, credential)
            if actor.tier < 1:
                raise Forbidden(f"{actor.username} ({actor.role.value}) cannot cancel playbook runs")
            if session.get(PlaybookRun, run_id) is None:
                raise NotFound(f"playbook run {run_id} does not exist")
            return cancel(session, actor, run_id, body.reason).as_dict()

    def save(credential: Credential, name: str, raw: bytes, response: Response) -> dict[str, Any]:
        with database.session() as session, _respond_errors():
            actor = caller(session, credential)
            _author(actor)
            _name(name)
            if len(raw) > _MAX_DOCUMENT:
                raise InvalidInput(f"the playbook document is over {_MAX_DOCUMENT} bytes")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput("the playbook document must be UTF-8 YAML") from None
            playbook = parse_playbook(text, f"api:{name}")
            if playbook.name != name:
                raise InvalidInput(
                    f"the document names playbook {playbook.name!r}, not {name!r}", Location(field="name")
                )
            existing = _installed(settings.data_dir, name)
            path = existing[0] if existing else playbooks_dir(settings.data_dir) / f"{name}.yml"
            before: dict[str, Any] = {}
            if existing:
                old = path.read_text(encoding="utf-8", errors="replace")
                before = {"sha256": _digest(old), "path": str(path)}
            record(
                session,
                actor=actor.username,
                action="playbook.saved",
                target_type="playbook",
                target_id=name,
                before=before,
                after={"version": playbook.version, "sha256": _digest(text), "path": str(path)},
                request_id=actor.request_id,
            )
            _write(path, text)  # inside the transaction: a failed write rolls the audit entry back
        response.status_code = status.HTTP_200_OK if existing else status.HTTP_201_CREATED
        loaded = parse_playbook(text, str(path))
        return loaded.as_dict()

    @router.put(
        "/{name}",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/yaml": {"schema": {"type": "string"}}}}
        },
    )
    async def put_playbook(
        credential: Write, name: str, request: Request, response: Response
    ) -> dict[str, Any]:
        """Create or replace an installation playbook from its YAML document (detection engineer, admin)."""
        raw = await request.body()
        result: dict[str, Any] = await run_in_threadpool(save, credential, name, raw, response)
        return result

    @router.delete("/{name}")
    def delete_playbook(credential: Write, name: str) -> dict[str, Any]:
        """Remove an installation playbook; a built-in cannot be deleted (detection engineer, admin)."""
        with database.session() as session:
            actor = caller(session, credential)
            _author(actor)
            _name(name)
            files = _installed(settings.data_dir, name)
            builtin = (
                any(
                    p.name == name and p.source.startswith("builtin:")
                    for p in load_playbooks(None).playbooks.values()
                )
                or (BUILTIN_DIR / f"{name}.yml").is_file()
            )
            if not files:
                if builtin:
                    raise NotAllowed(f"{name!r} is a built-in playbook and cannot be deleted")
                raise NotFound(f"no installation playbook named {name!r}")
            _audit_delete(session, actor, name, files, builtin)
            for path in files:
                path.unlink(missing_ok=True)
        return {"deleted": name, "files": [str(p) for p in files], "builtin_applies": builtin}

    return router


def _audit_delete(session: Session, actor: Actor, name: str, files: list[Path], builtin: bool) -> None:
    record(
        session,
        actor=actor.username,
        action="playbook.deleted",
        target_type="playbook",
        target_id=name,
        before={
            "files": [str(p) for p in files],
            "sha256": [_digest(p.read_text(encoding="utf-8", errors="replace")) for p in files],
        },
        after={"builtin_applies": builtin},
        request_id=actor.request_id,
    )
