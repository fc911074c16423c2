"""Marketplace credentials encrypted at rest (DESIGN.md §3 "Credentials never travel").

Credentials are a small JSON dict (token, client_id/client_secret, api_key) encrypted with Fernet.
They are decrypted only inside adapters; nothing here logs or echoes them.

Key rotation (issue 14 item 4) is Fernet's own: reading accepts the current key and every previous
one (`SECRET_KEY_PREVIOUS`, or `secret.key.previous` beside the embedded key file), writing uses the
current key, and `rotate_credentials` re-encrypts every account under it. The steps an operator takes
are in docs/operations.md "Rotating the credentials key".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.core.config import ConfigError, get_settings, secret_value


class CredentialsError(Exception):
    """Stored credentials cannot be read with the configured key."""


def _key_file() -> Path:
    return get_settings().DATA_DIR / "secret.key"


def previous_key_file() -> Path:
    """Where the embedded default keeps the key it is rotating away from (one key per line)."""
    return get_settings().DATA_DIR / "secret.key.previous"


def _load_key() -> bytes:
    settings = get_settings()
    if settings.SECRET_KEY:
        return settings.SECRET_KEY.get_secret_value().encode()
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


def _previous_keys() -> list[bytes]:
    settings = get_settings()
    if settings.SECRET_KEY:
        listed = secret_value(settings.SECRET_KEY_PREVIOUS)
        return [key.strip().encode() for key in listed.split(",") if key.strip()]
    path = previous_key_file()
    if not path.exists():
        return []
    return [line.strip().encode() for line in path.read_bytes().decode().splitlines() if line.strip()]


def _fernet_of(key: bytes, setting: str) -> Fernet:
    try:
        return Fernet(key)
    except ValueError:
        raise ConfigError(
            f"{setting} is not a valid key (32 url-safe base64-encoded bytes); "
            "generate one with `adolf-marketing secret-key`"
        ) from None


def _fernet() -> MultiFernet:
    """The current key first (it encrypts), then the previous ones (they only decrypt)."""
    current = _fernet_of(_load_key(), "SECRET_KEY")
    previous = [_fernet_of(key, "SECRET_KEY_PREVIOUS") for key in _previous_keys()]
    return MultiFernet([current, *previous])


def uses_current_key(blob: bytes) -> bool:
    """True when `blob` is encrypted with the current key (no previous key is needed to read it)."""
    try:
        _fernet_of(_load_key(), "SECRET_KEY").decrypt(bytes(blob))
    except InvalidToken:
        return False
    return True


def reencrypt(blob: bytes) -> bytes:
    """`blob` encrypted again with the current key; CredentialsError when no known key reads it."""
    try:
        return _fernet().rotate(bytes(blob))
    except InvalidToken:
        raise CredentialsError(
            "stored credentials cannot be decrypted with SECRET_KEY or any SECRET_KEY_PREVIOUS"
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


def uses_key_file() -> bool:
    """True when the key lives in DATA_DIR (the embedded default), not in SECRET_KEY."""
    return not get_settings().SECRET_KEY and _key_file().exists()


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all, readable by the owner only."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def begin_key_file_rotation() -> None:
    """Put a new key in DATA_DIR's key file, keeping the old one readable beside it.

    The previous key is written first and the new one second, each whole (rename), so a worker
    reading the files at any moment reads every blob, old or re-encrypted. A rotation that stopped
    before `finish_key_file_rotation` is resumed: the key already in place stays."""
    current, previous = _key_file(), previous_key_file()
    if previous.exists():
        return
    _write_private(previous, current.read_bytes().strip() + b"\n")
    _write_private(current, Fernet.generate_key())


def finish_key_file_rotation() -> None:
    """Forget the previous key once every blob is under the current one."""
    previous_key_file().unlink(missing_ok=True)
