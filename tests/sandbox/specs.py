"""Where the official specs are: env ADOLF_SPECS_DIR, else ../shared/specs next to the repo root.

The specs are never copied into the project (they are data owned by the marketplaces; README
"Test it" says where they come from). A test that needs one skips with the path it looked at when
it is absent — except in CI (`CI=true`), where a missing spec fails the test: a CI run that skipped
every contract test would pass without checking anything (issue 17 item 6).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def specs_dir() -> Path:
    return Path(os.environ.get("ADOLF_SPECS_DIR", REPO_ROOT.parent / "shared" / "specs"))


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def spec_file(relative: str) -> Path:
    """The path of one spec file; skips the calling test with a clear reason (fails it in CI)."""
    path = specs_dir() / relative
    if not path.exists():
        reason = (
            f"official spec {relative} not found under {specs_dir()} "
            "(set ADOLF_SPECS_DIR; README 'Test it' says where the specs come from)"
        )
        if in_ci():
            pytest.fail(f"{reason}; CI=true requires the specs", pytrace=False)
        pytest.skip(reason)
    return path
