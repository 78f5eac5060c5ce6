"""The installation's own rules: `<data>/rules/`, filled by `rules load`, read by `detect` and `serve`.

Loading copies the given file or folder in (a folder keeps its layout under its own name), so that the
installation does not depend on where the rules were first found. Rules listed in `disabled.txt` (one
id a line) are loaded with status disabled and not run. Folders named in `watchfloor.toml`
(`rule_folders = ["/srv/detections", ...]`, relative paths from the data directory) are read in place
beside it: that is where a team's own rules, kept in version control, are deployed.

A long-running process (streaming detection under `serve`) asks `current()` before each batch. It
returns the same parsed `LoadResult` object until a rule file, `disabled.txt` or the suppressions
change: the check is one `stat` per file (paths, sizes, modification times and inode numbers), with
no reading or parsing, so custom rules are picked up without a restart at little cost (`max_age`
bounds how often even that runs). An edit that keeps a file's size, inode and modification time
(within the file system's timestamp granularity) is not seen until the next change. A change
re-parses the whole library: seconds for the full SigmaHQ pack, so a caller that cannot wait that
long should check from a background thread.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchfloor.config import Settings
from watchfloor.detect.convert import Placeholders
from watchfloor.detect.engine import validate_for_duckdb
from watchfloor.detect.errors import RuleError
from watchfloor.detect.loader import RULE_SUFFIXES, LoadResult, iter_rule_files, load_rules
from watchfloor.detect.suppress import SuppressionSet, SuppressionStore
from watchfloor.errors import ConfigError, Location

__all__ = ["DISABLED_FILE", "Fingerprint", "RuleLibrary", "RuleSnapshot", "rule_folders_of"]

DISABLED_FILE = "disabled.txt"
#: A digest of every rule file and side file (path, size, mtime in ns, inode), and how many there are.
Fingerprint = tuple[int, int]


@dataclass(frozen=True, slots=True)
class RuleSnapshot:
    """The library as parsed at one fingerprint: its rules and its suppressions."""

    fingerprint: Fingerprint
    loaded: LoadResult
    suppressions: SuppressionSet


def rule_folders_of(settings: Settings) -> tuple[Path, ...]:
    """The extra rule folders of `watchfloor.toml` (`rule_folders`), relative to the data directory."""
    value = settings.extra.get("rule_folders", ())
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError("rule_folders must be a list of paths", Location(field="rule_folders"))
    return tuple(settings.data_dir / Path(v).expanduser() for v in value)


class _Marks:
    """A running, order-independent digest of (path, size, mtime, inode) entries and their count.

    Python's `hash` is stable within a process, which is all a change check needs; keeping no list of
    entries keeps the check free of allocations that would wake the garbage collector.
    """

    __slots__ = ("count", "digest")

    def __init__(self) -> None:
        self.digest = 0
        self.count = 0

    def add(self, path: str, st: os.stat_result | None) -> None:
        mark = (path, -1, -1, -1) if st is None else (path, st.st_size, st.st_mtime_ns, st.st_ino)
        self.digest ^= hash(mark)
        self.count += 1


def _scan(path: str, marks: _Marks) -> None:
    """Rule files under `path`, recursively (one `stat` each; scandir gives the rest)."""
    try:
        entries = os.scandir(path)
    except FileNotFoundError:
        marks.add(path, None)
        return
    except NotADirectoryError:
        _stat(path, marks)
        return
    with entries:
        for entry in entries:
            if entry.is_dir():
                _scan(entry.path, marks)
            elif entry.name.endswith(RULE_SUFFIXES):
                marks.add(entry.path, entry.stat())


def _stat(path: str, marks: _Marks) -> None:
    try:
        marks.add(path, os.stat(path))
    except FileNotFoundError:
        marks.add(path, None)


class RuleLibrary:
    """Rule files of one installation (its folder and configured folders) and the ids disabled there."""

    def __init__(
        self,
        root: Path,
        placeholders: Placeholders | None = None,
        folders: Iterable[Path] = (),
        suppressions: SuppressionStore | None = None,
    ) -> None:
        self.root = root
        self.placeholders = placeholders
        self.folders = tuple(folders)
        self.suppressions = suppressions
        #: How many times the rules were parsed (by `load` or a changed `current`).
        self.parses = 0
        self._snapshot: RuleSnapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> RuleLibrary:
        """The library of an installation: `<data>/rules`, `rule_folders`, placeholders, suppressions."""
        placeholders = settings.extra.get("placeholders")
        return cls(
            settings.data_dir / "rules",
            _placeholders(placeholders),
            rule_folders_of(settings),
            SuppressionStore(settings.data_dir / "suppressions"),
        )

    def add(self, path: Path) -> list[Path]:
        """Copy a rule file or a folder of them in; returns the files now in the library."""
        if not path.exists():
            raise RuleError("no such file or folder", Location(str(path)))
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / path.name
        if path.is_dir():
            shutil.copytree(path, target, dirs_exist_ok=True)
            return list(iter_rule_files([target]))
        shutil.copy2(path, target)
        return [target]

    def disabled(self) -> set[str]:
        """Rule ids disabled in this installation."""
        file = self.root / DISABLED_FILE
        if not file.is_file():
            return set()
        return {line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()}

    def set_disabled(self, ids: Iterable[str]) -> None:
        """Replace the disabled list."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / DISABLED_FILE).write_text("".join(f"{i}\n" for i in sorted(set(ids))), encoding="utf-8")

    def rule_paths(self) -> list[Path]:
        """Where the library's rules are read from: its own folder (once it exists) and the configured."""
        return [*([self.root] if self.root.is_dir() else []), *self.folders]

    def load(self, extra: Iterable[Path] = ()) -> LoadResult:
        """Every rule of the library (and of `extra` paths), compiled for the DuckDB engine; parses anew."""
        self.parses += 1
        present = [p for p in [*self.rule_paths(), *extra] if p.exists()]
        missing = [p for p in self.folders if not p.exists()]
        result = load_rules(present, self.disabled(), self.placeholders, validate_for_duckdb)
        if not missing:
            return result
        errors = tuple(RuleError("configured rule folder does not exist", Location(str(p))) for p in missing)
        return LoadResult(result.rules, errors + result.errors)

    def fingerprint(self) -> Fingerprint:
        """The identity of every rule file and side file now: equal fingerprints mean nothing changed."""
        marks = _Marks()
        for folder in (self.root, *self.folders):
            _scan(str(folder), marks)
        _stat(str(self.root / DISABLED_FILE), marks)
        if self.suppressions is not None:
            _stat(str(self.suppressions.path), marks)
        return (marks.digest, marks.count)

    def snapshot(self, max_age: float = 0.0) -> RuleSnapshot:
        """The parsed library, re-parsed only when the fingerprint changed since the last check.

        With `max_age` (seconds), a snapshot checked less than that long ago is returned without
        looking at the files at all: a caller running many batches a second bounds the check's cost.
        """
        with self._lock:
            now = time.monotonic()
            if self._snapshot is not None and now - self._checked < max_age:
                return self._snapshot
            self._checked = now
            mark = self.fingerprint()
            if self._snapshot is not None and self._snapshot.fingerprint == mark:
                return self._snapshot
            sups = self.suppressions.read() if self.suppressions is not None else SuppressionSet()
            self._snapshot = RuleSnapshot(mark, self.load(), sups)
            return self._snapshot

    def current(self, max_age: float = 0.0) -> LoadResult:
        """The library's rules, the same object until something changed (call before each batch)."""
        return self.snapshot(max_age).loaded

    def reload_if_changed(self) -> bool:
        """Re-parse if anything changed; True when it did (or on the first call)."""
        before = self._snapshot
        return self.snapshot() is not before


def _placeholders(value: Any) -> Placeholders | None:
    """`[placeholders]` of watchfloor.toml: name → list of values (a single value is a list of one)."""
    if not isinstance(value, Mapping):
        return None
    return {str(k): [str(x) for x in v] if isinstance(v, list) else [str(v)] for k, v in value.items()}
