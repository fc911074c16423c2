import re
from pathlib import Path

import pytest

from app.core.config import (
    ConfigError,
    LogLevel,
    ProjectionMode,
    Settings,
    SmtpSecurity,
    get_settings,
    reset_settings_cache,
)

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
        ("LOG_LEVEL", "LOUD", "Invalid setting LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING'"),
        (
            "BUDGET_PROJECTION",
            "sometimes",
            "Invalid setting BUDGET_PROJECTION: Input should be 'pause', 'alert'",
        ),
        (
            "SMTP_SECURITY",
            "tls",
            "Invalid setting SMTP_SECURITY: Input should be 'starttls', 'ssl' or 'none'",
        ),
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


def test_choice_settings_are_enums_and_the_log_level_is_read_in_any_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(LOG_LEVEL="debug", BUDGET_PROJECTION="alert", SMTP_SECURITY="ssl")
    assert settings.LOG_LEVEL is LogLevel.DEBUG
    assert settings.BUDGET_PROJECTION is ProjectionMode.ALERT
    assert settings.SMTP_SECURITY is SmtpSecurity.SSL
    assert f"--loglevel={settings.LOG_LEVEL.lower()}" == "--loglevel=debug"  # what up passes its children


def test_secret_settings_never_show_in_a_repr_or_an_error() -> None:
    canary = "Zm9yLWEtdGVzdC1vbmx5LW5ldmVyLWEtcmVhbC1rZXk="
    settings = Settings(SECRET_KEY=canary, SECRET_KEY_PREVIOUS=canary, WATCHER_API_KEY=canary)
    assert canary not in repr(settings) and canary not in str(settings.model_dump())
    assert settings.SECRET_KEY is not None and settings.SECRET_KEY.get_secret_value() == canary
