"""Saved hunts: a name and its SQL, kept per installation in `<data>/hunts/saved.jsonl`.

One JSON object a line (name, sql, owner, saved_at), appended under a lock so two analysts saving at
once cannot interleave a line. Saving a name again adds a newer line; the newest line of a name wins
when the list is read, so history stays in the file and nothing is rewritten in place. The save itself
is audited by the caller (`cases.audit.record`), in the same request.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from watchfloor.errors import Location, QueryError

__all__ = ["MAX_NAME", "MAX_SQL", "SavedHunt", "SavedHunts"]

MAX_NAME = 120
MAX_SQL = 20_000


@dataclass(frozen=True, slots=True)
class SavedHunt:
    """One saved query and who saved it when."""

    name: str
    sql: str
    owner: str
    saved_at: str


class SavedHunts:
    """The installation's saved hunts file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def save(self, name: str, sql: str, owner: str, now: dt.datetime) -> SavedHunt:
        """Append a hunt; a blank or oversized name or query is a `QueryError` naming the field."""
        name, sql = name.strip(), sql.strip()
        if not name or len(name) > MAX_NAME:
            raise QueryError(
                f"a saved hunt needs a name of 1 to {MAX_NAME} characters", Location(field="name")
            )
        if not sql or len(sql) > MAX_SQL:
            raise QueryError(
                f"a saved hunt needs a query of 1 to {MAX_SQL} characters", Location(field="sql")
            )
        hunt = SavedHunt(name, sql, owner, now.astimezone(dt.UTC).isoformat(timespec="seconds"))
        line = json.dumps(asdict(hunt), ensure_ascii=False, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line)
        return hunt

    def all(self) -> list[SavedHunt]:
        """The newest version of every saved name, newest first; damaged lines are skipped."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        latest: dict[str, SavedHunt] = {}
        for line in lines:
            try:
                doc = json.loads(line)
                hunt = SavedHunt(str(doc["name"]), str(doc["sql"]), str(doc["owner"]), str(doc["saved_at"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
            latest.pop(hunt.name, None)
            latest[hunt.name] = hunt
        return list(reversed(latest.values()))
