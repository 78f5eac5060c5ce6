"""Layering and public surface: the import-linter contract holds and every `__all__` is sorted."""

from __future__ import annotations

import importlib
import pkgutil
import shutil
import subprocess
from pathlib import Path

import watchfloor

REPO = Path(__file__).resolve().parents[1]


def test_import_linter_contract() -> None:
    linter = shutil.which("lint-imports") or str(Path(__import__("sys").executable).parent / "lint-imports")
    done = subprocess.run([linter], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_every_module_has_sorted_all() -> None:
    for info in pkgutil.walk_packages(watchfloor.__path__, "watchfloor."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        names = getattr(module, "__all__", None)
        assert names is not None, f"{info.name} has no __all__"
        assert list(names) == sorted(names, key=_isort_key), f"{info.name}.__all__ is not sorted"
        for name in names:
            assert hasattr(module, name), f"{info.name}.__all__ names missing {name}"
