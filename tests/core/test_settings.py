import re
from pathlib import Path

import pytest

from app.core.config import ConfigError, Settings, get_settings, reset_settings_cache

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_env_example_lists_every_setting_with_a_description() -> None:
    text = ENV_EXAMPLE.read_text()
    for name, field in Settings.model_fields.items():
        assert re.search(rf"^#? ?{name}=", text, re.MULTILINE), f"{name} missing from .env.example"
        assert field.description, f"{name} has no description (unit)"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://x", "Invalid setting DATABASE_URL: Value error, must be a PostgreSQL URL"),
        ("REDIS_URL", "http://x", "Invalid setting REDIS_URL: Value error, must be a Redis URL"),
        ("TASK_TIME_LIMIT", "soon", "Invalid setting TASK_TIME_LIMIT"),
        ("LOG_LEVEL", "LOUD", "Invalid setting LOG_LEVEL"),
        # Issue 17 item 5: a port that is not a number was a 60-line traceback.
        (
            "DATABASE_URL",
            "postgresql://u@db:abc/x",
            "Invalid setting DATABASE_URL: Value error, the port must",
        ),
        ("REDIS_URL", "redis://localhost:63 79/0", "Invalid setting REDIS_URL: Value error, the port must"),
        ("REDIS_URL", "redis://localhost:70000/0", "Invalid setting REDIS_URL: Value error, the port must"),
        ("BROKER_URL", "amqp://guest@mq:five/", "Invalid setting BROKER_URL: Value error, the port must"),
    ],
)
def test_bad_settings_give_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    reset_settings_cache()
    try:
        with pytest.raises(ConfigError) as error:
            get_settings()
        assert str(error.value).startswith(message)
        assert "\n" not in str(error.value)
    finally:
        monkeypatch.undo()
        reset_settings_cache()
