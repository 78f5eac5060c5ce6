"""The installation's own rules: `<data>/rules/`, filled by `rules load`, read by `detect`.

Loading copies the given file or folder in (a folder keeps its layout under its own name), so that the
installation does not depend on where the rules were first found. Rules listed in `disabled.txt` (one
id a line) are loaded with status disabled and not run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from watchfloor.detect.convert import Placeholders
from watchfloor.detect.engine import validate_for_duckdb
from watchfloor.detect.errors import RuleError
from watchfloor.detect.loader import LoadResult, iter_rule_files, load_rules
from watchfloor.errors import Location

__all__ = ["RuleLibrary"]

DISABLED_FILE = "disabled.txt"


class RuleLibrary:
    """Rule files of one installation and the ids disabled there."""

    def __init__(self, root: Path, placeholders: Placeholders | None = None) -> None:
        self.root = root
        self.placeholders = placeholders

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

    def load(self, extra: Iterable[Path] = ()) -> LoadResult:
        """Every rule of the library (and of `extra` paths), compiled for the DuckDB engine."""
        paths = [self.root] if self.root.is_dir() else []
        return load_rules([*paths, *extra], self.disabled(), self.placeholders, validate_for_duckdb)
