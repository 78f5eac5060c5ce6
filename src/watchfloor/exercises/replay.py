"""Replaying telemetry as an exercise: times shifted to now, every event marked with the exercise run.

`ShiftingSink` stands between ingestion and the exercise's own event store. It holds every parsed
table until `finish`, because the shift must be one offset for the whole replay (the latest event
lands at "now" and every other keeps its distance to it, across files and sources), and it adds the
producer column `exercise_run` to every row. The exercise store lives under
`<data>/exercises/<run>/events`, never in the installation's event store, so real hunts and real
detection runs cannot see a drill's events at all; the column says which drill an exported event came from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from watchfloor.events import EventSink
from watchfloor.schema import CORE_COLUMN

__all__ = ["EXERCISE_COLUMN", "ShiftingSink"]

#: Producer column every replayed event carries: the exercise run it belongs to.
EXERCISE_COLUMN = "exercise_run"


@dataclass(slots=True)
class ShiftingSink:
    """An `EventSink` that keeps tables until `finish(now)` shifts and marks them into `target`."""

    target: EventSink
    run_id: str
    _tables: list[pa.Table] = field(default_factory=list)

    def append(self, table: pa.Table) -> int:
        """Hold a table (nothing is written before `finish`); count its rows as taken."""
        self._tables.append(table)
        return int(table.num_rows)

    def offset(self, now: dt.datetime) -> dt.timedelta:
        """How far every event moves: from the latest event time to `now`."""
        latest: dt.datetime | None = None
        for table in self._tables:
            value = pc.max(pc.struct_field(table.column(CORE_COLUMN), "time")).as_py()
            if value is not None and (latest is None or value > latest):
                latest = value
        return dt.timedelta(0) if latest is None else now - latest

    def finish(self, now: dt.datetime) -> int:
        """Shift every held event by one offset (the latest lands at `now`), mark it, and store it."""
        delta = self.offset(now)
        stored = 0
        for table in self._tables:
            stored += self.target.append(_shifted(table, delta, self.run_id))
        self._tables.clear()
        return stored


def _shifted(table: pa.Table, delta: dt.timedelta, run_id: str) -> pa.Table:
    core = table.column(CORE_COLUMN).combine_chunks()
    names = [core.type.field(i).name for i in range(core.type.num_fields)]
    children = [core.field(i) for i in range(core.type.num_fields)]
    at = names.index("time")
    shift = pa.scalar(delta, pa.duration("us"))
    children[at] = pc.add(children[at], shift).cast(core.type.field(at).type)
    moved = pa.StructArray.from_arrays(children, fields=list(core.type), mask=core.is_null())
    position = table.schema.get_field_index(CORE_COLUMN)
    table = table.set_column(position, CORE_COLUMN, moved)
    mark = pa.array([run_id] * table.num_rows, pa.string())
    if EXERCISE_COLUMN in table.column_names:
        return table.set_column(table.schema.get_field_index(EXERCISE_COLUMN), EXERCISE_COLUMN, mark)
    return table.append_column(EXERCISE_COLUMN, mark)
