"""`pip install .` builds without deprecation warnings (issue 17 item 12: `project.license` as a
table is deprecated by setuptools, removal announced for 2027-02-18)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_wheel_builds_without_deprecation_warnings(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    output = build.stdout + build.stderr
    assert "DeprecationWarning" not in output, output[-3000:]
    assert list(tmp_path.glob("adolf_marketing-*.whl"))
