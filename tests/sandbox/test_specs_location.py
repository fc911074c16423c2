"""A missing spec skips a test outside CI and fails it under CI=true (issue 17 item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sandbox.specs import spec_file


def test_missing_spec_skips_with_the_path_outside_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ADOLF_SPECS_DIR", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"wildberries/promotion.json not found under {tmp_path}"):
        spec_file("wildberries/promotion.json")


def test_missing_spec_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ADOLF_SPECS_DIR", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true requires the specs"):
        spec_file("wildberries/promotion.json")


def test_present_spec_is_returned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "wildberries").mkdir()
    (tmp_path / "wildberries" / "promotion.json").write_text("{}")
    monkeypatch.setenv("ADOLF_SPECS_DIR", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    assert spec_file("wildberries/promotion.json") == tmp_path / "wildberries" / "promotion.json"
