"""Shared fixtures. Corpora are read in place from ../shared/corpora, never copied into the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("WATCHFLOOR_CORPORA", REPO.parent / "shared" / "corpora")).resolve()


def corpus(*parts: str) -> Path:
    """A path inside the shared corpora; the test is skipped with a reason if they are not there."""
    path = CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus not available: {path}")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "wf"
