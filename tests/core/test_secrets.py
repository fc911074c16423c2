import pytest
from cryptography.fernet import Fernet

from app.core.config import ConfigError, reset_settings_cache
from app.core.secrets import CredentialsError, decrypt_credentials, encrypt_credentials, redact


def test_credentials_round_trip_and_are_not_plain_text() -> None:
    blob = encrypt_credentials({"token": "very-secret-token"})
    assert b"very-secret-token" not in blob
    assert decrypt_credentials(blob) == {"token": "very-secret-token"}


def test_another_key_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    blob = encrypt_credentials({"token": "t"})
    monkeypatch.setenv("SECRET_KEY", Fernet.generate_key().decode())
    reset_settings_cache()
    try:
        with pytest.raises(CredentialsError, match="cannot be decrypted"):
            decrypt_credentials(blob)
    finally:
        monkeypatch.undo()
        reset_settings_cache()


def test_invalid_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "not-a-key")
    reset_settings_cache()
    try:
        with pytest.raises(ConfigError, match="SECRET_KEY is not a valid key"):
            encrypt_credentials({"token": "t"})
    finally:
        monkeypatch.undo()
        reset_settings_cache()


def test_redact_hides_secret_fields_at_any_depth() -> None:
    assert redact({"account_id": 1, "api_key": "k", "nested": [{"Authorization": "x"}, "Bearer abc"]}) == {
        "account_id": 1,
        "api_key": "***",
        "nested": [{"Authorization": "***"}, "***"],
    }
