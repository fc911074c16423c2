"""Where the official specs are: env ADOLF_SPECS_DIR, else ../shared/specs next to the repo root.

The specs are never copied into the project (they are data owned by the marketplaces); a test that
needs one skips with the path it looked at when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def specs_dir() -> Path:
    return Path(os.environ.get("ADOLF_SPECS_DIR", REPO_ROOT.parent / "shared" / "specs"))


def spec_file(relative: str) -> Path:
    """The path of one spec file, or skip the calling test with a clear reason."""
    path = specs_dir() / relative
    if not path.exists():
        pytest.skip(f"official spec {relative} not found under {specs_dir()} (set ADOLF_SPECS_DIR)")
    return path
