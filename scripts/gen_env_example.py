"""Regenerate .env.example from app/core/config.py (tests/core/test_settings.py keeps them in sync)."""

from __future__ import annotations

from pathlib import Path

from app.core.config import Settings

HEADER = (
    "# ADOLF Marketing settings: copy to .env and adjust. Every field of app/core/config.py, with its unit."
)


def render() -> str:
    lines = [HEADER, ""]
    for name, field in Settings.model_fields.items():
        lines.append(f"# {field.description}")
        default = None if field.default_factory is not None else field.default
        lines.append(f"# {name}=" if default is None else f"{name}={default}")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    (Path(__file__).resolve().parents[1] / ".env.example").write_text(render())
