"""Marketplace credentials encrypted at rest (DESIGN.md §3 "Credentials never travel").

Credentials are a small JSON dict (token, client_id/client_secret, api_key) encrypted with Fernet.
They are decrypted only inside adapters; nothing here logs or echoes them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from app.core.config import ConfigError, get_settings


class CredentialsError(Exception):
    """Stored credentials cannot be read with the configured key."""


def _key_file() -> Path:
    return get_settings().DATA_DIR / "secret.key"


def _load_key() -> bytes:
    settings = get_settings()
    if settings.SECRET_KEY:
        return settings.SECRET_KEY.encode()
    path = _key_file()
    if path.exists():
        # The embedded default's key; `up` hands its children the embedded DATABASE_URL, so they
        # find the key here rather than by the URL being unset.
        return path.read_bytes().strip()
    if settings.DATABASE_URL:
        raise ConfigError(
            "SECRET_KEY is not set: with an external DATABASE_URL every host must share one key; "
            "generate one with `adolf-marketing secret-key` and set SECRET_KEY"
        )
    # Embedded default: one key generated in DATA_DIR, readable by the owner only.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


def _fernet() -> Fernet:
    try:
        return Fernet(_load_key())
    except ValueError:
        raise ConfigError(
            "SECRET_KEY is not a valid key (32 url-safe base64-encoded bytes); "
            "generate one with `adolf-marketing secret-key`"
        ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode()


def encrypt_credentials(credentials: dict[str, str]) -> bytes:
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode())


def decrypt_credentials(blob: bytes) -> dict[str, str]:
    try:
        data = json.loads(_fernet().decrypt(bytes(blob)))
    except InvalidToken:
        raise CredentialsError(
            "stored credentials cannot be decrypted with the configured SECRET_KEY "
            "(was the key changed?); re-add the account with `adolf-marketing accounts add`"
        ) from None
    if not isinstance(data, dict):
        raise CredentialsError("stored credentials are not a JSON object; re-add the account")
    return {str(k): str(v) for k, v in data.items()}


SECRET_FIELD_MARKERS = ("token", "secret", "password", "api_key", "apikey", "credential", "authorization")


def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in SECRET_FIELD_MARKERS)


def redact(value: object) -> object:
    """A copy of `value` with every secret-looking field replaced (for dead letters and logs)."""
    if isinstance(value, dict):
        return {k: ("***" if is_secret_field(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str) and value.lower().startswith(("bearer ", "basic ")):
        return "***"
    return value
