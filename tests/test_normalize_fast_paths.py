"""The OCSF core's shortcuts give exactly what the plain rules give.

`add_core` skips the placeholder lookup for columns with no short value and takes path basenames once
per distinct path when paths repeat. Both are checked here against the rules written out in Python,
row by row, on generated columns that take each branch: repetitive and unique paths, placeholders,
nulls, several chunks, and tables below and above the size where the shortcuts start.
"""

from __future__ import annotations

import datetime as dt
import random
import re

import pyarrow as pa
import pytest

from watchfloor.events import EventBatch
from watchfloor.schema import MappingRegistry, SourceMapping, add_core

PLACEHOLDERS = {"", "-", "N/A", "null", "NULL"}
SEPARATOR = re.compile(r"^.*[\\/]")


def _paths(rng: random.Random, rows: int, distinct: int) -> list[str | None]:
    pool = [rf"C:\Windows\System32\tool{n}.exe" if n % 3 else f"/usr/bin/töol-{n}" for n in range(distinct)]
    pool += ["plain.exe", "", "-", "dir/", "N/A"]
    return [None if rng.random() < 0.05 else rng.choice(pool) for _ in range(rows)]


def _expected_basename(value: str | None) -> str | None:
    if value is None or value in PLACEHOLDERS:
        return None
    return SEPARATOR.sub("", value, count=1)


@pytest.mark.parametrize(("rows", "distinct"), [(10, 3), (5000, 8), (5000, 4000)])
def test_core_paths_and_placeholders_match_the_plain_rules(rows: int, distinct: int) -> None:
    rng = random.Random(rows + distinct)
    image = _paths(rng, rows, distinct)
    parent = _paths(rng, rows, distinct)
    long_text = [f"host-{n:06d}.corp.example.com" for n in range(rows)]  # no value short enough
    half = rows // 2  # two chunks, as a table read in blocks has
    fields = pa.table(
        {
            "Image": pa.chunked_array([image[:half], image[half:]], pa.string()),
            "ParentImage": pa.array(parent, pa.string()),
            "Hostname": pa.chunked_array([long_text[:half], long_text[half:]], pa.string()),
        }
    )
    registry = MappingRegistry()
    registry.register(
        SourceMapping(
            source="fast_paths",
            product="Test",
            hostname=("Hostname",),
            process_path=("Image",),
            parent_path=("ParentImage",),
        )
    )
    batch = EventBatch(
        "fast_paths",
        "test",
        "mem",
        fields,
        pa.array([f"line {n}" for n in range(rows)], pa.string()),
        pa.array(range(1, rows + 1), pa.int64()),
    )
    stored = add_core(batch, registry, dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    core = stored.column("ocsf").combine_chunks()
    assert core.field("process_name").to_pylist() == [_expected_basename(v) for v in image]
    assert core.field("process_parent_process_name").to_pylist() == [_expected_basename(v) for v in parent]
    assert core.field("process_file_path").to_pylist() == [None if v in PLACEHOLDERS else v for v in image]
    assert core.field("device_hostname").to_pylist() == long_text
    assert stored.column("Image").to_pylist() == image  # producer fields are untouched
