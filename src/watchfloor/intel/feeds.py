"""Feeds: where intelligence comes from, and one reader per kind, declared in `FEED_KINDS`.

A feed's location is a file, a folder or an http(s) URL (`stix`, `misp`, `csv`), or a TAXII 2.1 API
root URL with a collection id (`taxii`). Credentials are never stored with the feed: they come from the
installation's settings (`[intel.credentials.NAME]` in watchfloor.toml: `username` and `password`, or
`api_key` sent as the `Authorization` header) and are never printed or logged; `Credentials` hides them
from its repr.

TAXII feeds are polled with `added_after` set to the `X-TAXII-Date-Added-Last` the server gave on the
previous pull, so each pull fetches only what was added since.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from watchfloor.errors import Location
from watchfloor.intel.errors import IntelError
from watchfloor.intel.misp import event_uuids, indicators_from_event
from watchfloor.intel.stix import ParseResult, indicators_from_bundle, indicators_from_objects
from watchfloor.intel.store import FeedInfo, IntelStore
from watchfloor.intel.tabular import indicators_from_csv

__all__ = ["FEED_KINDS", "Credentials", "PullResult", "credentials_for", "pull_feed", "read_location"]

_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Credentials:
    """A feed's secrets from the settings; `repr` shows only which are set."""

    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)

    def headers(self) -> dict[str, str]:
        """HTTP headers for an API key (basic auth is passed separately)."""
        return {"Authorization": self.api_key} if self.api_key else {}

    def basic(self) -> tuple[str, str] | None:
        """(username, password) when both are set."""
        return (self.username, self.password) if self.username and self.password else None


def credentials_for(extra: Mapping[str, Any], feed: str) -> Credentials | None:
    """The `[intel.credentials.<feed>]` table of the settings, if any."""
    intel = extra.get("intel")
    table = intel.get("credentials", {}).get(feed) if isinstance(intel, Mapping) else None
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise IntelError(
            f"intel.credentials.{feed} must be a table", Location(field=f"intel.credentials.{feed}")
        )
    return Credentials(
        username=table.get("username"), password=table.get("password"), api_key=table.get("api_key")
    )


def _is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def read_location(location: str, relative: str | None, credentials: Credentials | None) -> bytes:
    """The bytes at a file path or URL (joined with `relative` for a folder or base URL)."""
    if _is_url(location):
        url = location if relative is None else location.rstrip("/") + "/" + relative
        creds = credentials or Credentials()
        try:
            response = httpx.get(
                url, headers=creds.headers(), auth=creds.basic(), timeout=_TIMEOUT, follow_redirects=True
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise IntelError(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from exc
        return response.content
    path = Path(location) if relative is None else Path(location) / relative
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IntelError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _files(location: str, suffixes: tuple[str, ...]) -> Sequence[str | None]:
    """For a local folder: its files with these suffixes (relative names); otherwise the location itself."""
    path = Path(location)
    if not _is_url(location) and path.is_dir():
        return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.suffix.lower() in suffixes)
    return [None]


@dataclass(slots=True)
class PullResult:
    """One feed's pull: what it yielded, the next TAXII cursor, and the error if it failed."""

    feed: str
    parsed: ParseResult = field(default_factory=ParseResult)
    stored: int = 0
    cursor: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Summary for `intel pull --json`."""
        return {
            "feed": self.feed,
            "indicators": self.stored,
            "unsupported": len(self.parsed.unsupported),
            "unsupported_examples": [
                {"origin": u.origin, "pattern": u.pattern, "reason": u.reason}
                for u in self.parsed.unsupported[:5]
            ],
            "error": self.error,
        }


def _pull_stix(feed: FeedInfo, creds: Credentials | None, result: PullResult) -> None:
    for name in _files(feed.location, (".json",)):
        origin = feed.location if name is None else name
        result.parsed.extend(
            indicators_from_bundle(read_location(feed.location, name, creds), feed.name, origin)
        )


def _pull_csv(feed: FeedInfo, creds: Credentials | None, result: PullResult) -> None:
    columns = feed.options.get("columns") or {}
    for name in _files(feed.location, (".csv", ".txt", ".tsv", ".list")):
        origin = feed.location if name is None else name
        text = read_location(feed.location, name, creds).decode("utf-8", errors="replace")
        result.parsed.extend(indicators_from_csv(text, feed.name, origin, columns))


def _pull_misp(feed: FeedInfo, creds: Credentials | None, result: PullResult) -> None:
    manifest = read_location(feed.location, "manifest.json", creds)
    for uuid in event_uuids(manifest, feed.location + "/manifest.json"):
        name = f"{uuid}.json"
        result.parsed.extend(
            indicators_from_event(read_location(feed.location, name, creds), feed.name, name)
        )


class _CursorCapture:
    """A requests auth hook that keeps the last `X-TAXII-Date-Added-Last` the server answered with."""

    def __init__(self, basic: tuple[str, str] | None, headers: Mapping[str, str]) -> None:
        self.basic = basic
        self.headers = dict(headers)
        self.last: str | None = None

    def __call__(self, request: Any) -> Any:
        import requests.auth  # comes with taxii2-client

        if self.basic:
            request = requests.auth.HTTPBasicAuth(*self.basic)(request)
        request.headers.update(self.headers)
        request.register_hook("response", self._seen)
        return request

    def _seen(self, response: Any, *args: Any, **kwargs: Any) -> None:
        value = response.headers.get("X-TAXII-Date-Added-Last")
        if value:
            self.last = value


def _pull_taxii(feed: FeedInfo, creds: Credentials | None, result: PullResult) -> None:
    from taxii2client.v21 import Collection, as_pages  # optional: only TAXII feeds need it

    if not feed.collection:
        raise IntelError(f"feed {feed.name!r}: a TAXII feed needs a collection id")
    creds = creds or Credentials()
    capture = _CursorCapture(creds.basic(), creds.headers())
    url = f"{feed.location.rstrip('/')}/collections/{feed.collection}/"
    filters: dict[str, Any] = {"added_after": feed.cursor} if feed.cursor else {}
    try:
        collection = Collection(url, auth=capture)
        for page in as_pages(
            collection.get_objects, per_request=int(feed.options.get("page_size", 500)), **filters
        ):
            objects = [o for o in page.get("objects", []) if isinstance(o, dict)]
            result.parsed.extend(indicators_from_objects(objects, feed.name, url))
    except IntelError:
        raise
    except Exception as exc:  # the client raises requests' and its own errors; report them all alike
        raise IntelError(f"TAXII {url}: {type(exc).__name__}: {exc}") from exc
    result.cursor = capture.last


#: Feed kind → reader. A new kind is one function and one line here.
FEED_KINDS: Mapping[str, Callable[[FeedInfo, Credentials | None, PullResult], None]] = {
    "csv": _pull_csv,
    "misp": _pull_misp,
    "stix": _pull_stix,
    "taxii": _pull_taxii,
}


def pull_feed(
    store: IntelStore, feed: FeedInfo, credentials: Credentials | None, now: dt.datetime | None = None
) -> PullResult:
    """Fetch one feed now and store its indicators; a failure is recorded on the feed and returned."""
    when = now or dt.datetime.now(dt.UTC)
    result = PullResult(feed.name)
    reader = FEED_KINDS.get(feed.kind)
    try:
        if reader is None:
            raise IntelError(f"unknown feed kind {feed.kind!r}")
        reader(feed, credentials, result)
        result.stored = store.upsert(result.parsed.indicators, when)
    except IntelError as exc:
        result.error = exc.message
    store.record_pull(feed.name, when, result.stored, result.cursor, result.error)
    return result
