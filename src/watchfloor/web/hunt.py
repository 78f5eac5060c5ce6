"""The hunt page: read-only SQL over the event store, paged results, saved hunts, pins to incidents.

Running a query is a GET (`/hunt?sql=...&offset=...`): it changes nothing, so the query and page live
in the address and can be bookmarked or shared. It goes through `EventStore.query`, the same read-only
check as `POST /api/v1/hunt` and `watchfloor hunt`; a refused or failing query is shown as the store's
one-line reason. A page is `PAGE` rows: the store is asked for the rows up to the end of the page plus
one (to know whether there is a next page), so deep pages cost more and stop at `MAX_OFFSET`.

Saving a hunt and pinning a result row to an incident are POSTs with the session's CSRF token; the
pin goes through `cases.pin_event`, which decides whether the viewer's tier may work that incident.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from watchfloor.cases import CaseError, pin_event
from watchfloor.cases.audit import record
from watchfloor.errors import QueryError
from watchfloor.store import EventStore
from watchfloor.web.auth import STAFF, Guard, Viewer
from watchfloor.web.render import render
from watchfloor.web.saved_hunts import MAX_NAME, MAX_SQL, SavedHunts

__all__ = ["MAX_OFFSET", "PAGE", "HuntPage", "hunt_routes", "run_page"]

PAGE = 50
MAX_OFFSET = 10_000
MAX_CELL = 300
UID_COLUMN = "metadata_uid"


@dataclass(slots=True)
class HuntPage:
    """One page of a hunt's results, as the template shows it."""

    sql: str
    offset: int
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    uids: list[str] = field(default_factory=list)
    more: bool = False
    error: str = ""
    ran: bool = False

    @property
    def first(self) -> int:
        """1-based number of the first row shown."""
        return self.offset + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """1-based number of the last row shown."""
        return self.offset + len(self.rows)

    def link(self, offset: int) -> str:
        """The address of another page of the same query."""
        return "/hunt?" + urlencode({"sql": self.sql, "offset": max(offset, 0)})


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value.tzinfo else str(value)
    text = str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def run_page(store: EventStore, sql: str, offset: int) -> HuntPage:
    """Run `sql` read-only and keep rows `offset` to `offset + PAGE` (an error becomes one line)."""
    found = HuntPage(sql, offset, ran=bool(sql.strip()))
    if not found.ran:
        return found
    try:
        table = store.query(sql, offset + PAGE + 1)
    except QueryError as exc:
        found.error = exc.message.splitlines()[0] if exc.message else "the query failed"
        return found
    rows = table.to_pylist()
    found.columns = list(table.column_names)
    found.more = len(rows) > offset + PAGE
    page_rows = rows[offset : offset + PAGE]
    found.rows = [{c: _cell(row.get(c)) for c in found.columns} for row in page_rows]
    if UID_COLUMN in found.columns:
        found.uids = [str(row.get(UID_COLUMN) or "") for row in page_rows]
    return found


def _event_facts(store: EventStore, uid: str) -> tuple[dt.datetime | None, str]:
    """The pinned event's time (the timeline sorts by it) and a one-line summary naming its uid."""
    quoted = "'" + uid.replace("'", "''") + "'"
    try:
        table = store.query(f"SELECT * FROM events WHERE metadata_uid = {quoted}", 1)
    except QueryError:
        return None, f"hunt result {uid}"
    row = table.to_pylist()[0] if table.num_rows else {}
    when = row.get("time")
    what = " on ".join(str(row[c]) for c in ("class_name", "device_hostname") if row.get(c))
    summary = f"hunt result {uid}" + (f": {what}" if what else "")
    return (when if isinstance(when, dt.datetime) else None), summary


def hunt_routes(guard: Guard, store: EventStore, saved: SavedHunts) -> APIRouter:
    """`/hunt`, `/hunt/save` and `/hunt/pin`."""
    router = APIRouter(include_in_schema=False)
    Staff = Annotated[Viewer, Depends(guard.page(*STAFF))]
    Csrf = Annotated[str, Form()]
    Sql = Annotated[str, Form(max_length=MAX_SQL)]
    Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]

    def page(
        request: Request, viewer: Viewer, sql: str, offset: int, notice: str = "", status: int = 200
    ) -> Response:
        results = run_page(store, sql, offset)
        return render(
            request,
            "hunt.html",
            viewer,
            status,
            hunt=results,
            saved=saved.all(),
            notice=notice,
            page_size=PAGE,
            max_name=MAX_NAME,
        )

    @router.get("/hunt")
    def hunt_page(
        request: Request,
        viewer: Staff,
        sql: Annotated[str, Query(max_length=MAX_SQL)] = "",
        offset: Offset = 0,
        pinned: Annotated[str, Query(max_length=512)] = "",
        saved_as: Annotated[str, Query(max_length=MAX_NAME)] = "",
    ) -> Response:
        """The query editor and one page of the query's results."""
        notice = f"Pinned {pinned} to the incident's timeline." if pinned else ""
        notice = notice or (f"Saved the hunt {saved_as}." if saved_as else "")
        return page(request, viewer, sql, offset, notice)

    @router.post("/hunt/save")
    def save_hunt(
        request: Request,
        viewer: Staff,
        sql: Sql = "",
        name: Annotated[str, Form(max_length=MAX_NAME)] = "",
        csrf_token: Csrf = "",
    ) -> Response:
        """Save the query under a name for everyone in the installation; the save is audited."""
        guard.check_csrf(request, viewer, csrf_token)
        try:
            hunt = saved.save(name, sql, viewer.username, guard.config.now())
        except QueryError as exc:
            return page(request, viewer, sql, 0, exc.message, 400)
        with guard.database.session() as session:
            record(
                session,
                actor=viewer.username,
                action="hunt.saved",
                target_type="hunt",
                target_id=hunt.name,
                after={"sql": hunt.sql},
                request_id=viewer.actor.request_id,
            )
        return RedirectResponse("/hunt?" + urlencode({"sql": hunt.sql, "saved_as": hunt.name}), 303)

    @router.post("/hunt/pin")
    def pin(
        request: Request,
        viewer: Staff,
        incident_id: Annotated[int, Form(ge=1)],
        event_uid: Annotated[str, Form(min_length=1, max_length=512)],
        sql: Sql = "",
        offset: Annotated[int, Form(ge=0, le=MAX_OFFSET)] = 0,
        csrf_token: Csrf = "",
    ) -> Response:
        """Pin one result row's event to an incident's timeline, then show the same page again."""
        guard.check_csrf(request, viewer, csrf_token)
        when, summary = _event_facts(store, event_uid)
        try:
            with guard.database.session() as session:
                pin_event(session, viewer.actor, incident_id, event_uid, when, summary)
        except CaseError as exc:
            return page(request, viewer, sql, offset, f"Not pinned: {exc.message}", exc.http_status)
        target = {"sql": sql, "offset": offset, "pinned": event_uid}
        return RedirectResponse("/hunt?" + urlencode(target), 303)

    return router
