"""Rotating the key credentials are encrypted with (issue 14 item 4): old key accepted until done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from app.core.celery_config import celery_app
from app.core.config import reset_settings_cache
from app.core.database import session_scope
from app.core.secrets import CredentialsError, decrypt_credentials, encrypt_credentials
from app.models.marketing import MarketplaceAccount
from app.services.credentials_rotation import rotate_credentials
from app.services.marketing.health import status_key
from tests.support.sandbox_system import SandboxSystem

REPO_ROOT = Path(__file__).resolve().parents[2]


def use_keys(monkeypatch: pytest.MonkeyPatch, current: str, previous: str | None) -> None:
    monkeypatch.setenv("SECRET_KEY", current)
    if previous is None:
        monkeypatch.delenv("SECRET_KEY_PREVIOUS", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY_PREVIOUS", previous)
    reset_settings_cache()


def blobs() -> dict[int, bytes]:
    with session_scope() as session:
        rows = session.execute(select(MarketplaceAccount.id, MarketplaceAccount.credentials_encrypted))
        return {account_id: bytes(blob) for account_id, blob in rows}


def readable_by_current_key_alone() -> dict[int, dict[str, str]]:
    return {account_id: decrypt_credentials(blob) for account_id, blob in blobs().items()}


def health_is_ok(redis_client: object) -> None:
    result = celery_app.send_task("app.tasks.marketing.health.check_api_health").get(timeout=120)
    assert set(result) == {"wb", "ozon", "ym"}, result
    for marketplace in ("wb", "ozon", "ym"):
        status = {k.decode(): v.decode() for k, v in redis_client.hgetall(status_key(marketplace)).items()}  # type: ignore[attr-defined]
        assert status["status"] in ("ok", "slow"), (marketplace, status)
        for account in json.loads(status["accounts"]).values():
            assert account["status"] in ("ok", "slow"), (marketplace, account)


def test_a_running_worker_reads_every_account_before_during_and_after_a_rotation(
    sandbox_system: SandboxSystem, worker_factory, redis_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = os.environ["SECRET_KEY"]
    plain = readable_by_current_key_alone()
    new = Fernet.generate_key().decode()
    use_keys(monkeypatch, new, old)  # every host first learns both keys ...
    worker = worker_factory(queues="marketing_high,marketing_default,marketing_low")
    health_is_ok(redis_client)  # ... and still reads the old blobs

    with session_scope() as session:
        rotation = rotate_credentials(session)
        health_is_ok(redis_client)  # mid-rotation: the worker sees the old blobs, not yet committed
    assert (rotation.reencrypted, rotation.already_current) == (len(plain), 0)
    health_is_ok(redis_client)  # after: the new blobs, under the new key

    use_keys(monkeypatch, new, None)  # the previous key is no longer needed anywhere
    assert readable_by_current_key_alone() == plain
    worker.stop()
    worker_factory(queues="marketing_high,marketing_default,marketing_low")  # a host with the new key only
    health_is_ok(redis_client)
    with session_scope() as session:
        again = rotate_credentials(session)
    assert (again.reencrypted, again.already_current) == (0, len(plain))


def test_an_account_no_known_key_reads_stops_the_rotation_and_changes_nothing(
    sandbox_system: SandboxSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = os.environ["SECRET_KEY"]
    stranger = Fernet.generate_key().decode()
    use_keys(monkeypatch, stranger, None)
    with session_scope() as session:
        lost = session.scalars(select(MarketplaceAccount).order_by(MarketplaceAccount.id)).first()
        assert lost is not None
        lost.credentials_encrypted = encrypt_credentials({"token": "written-with-a-lost-key"})
        lost_id = lost.id
    before = blobs()
    use_keys(monkeypatch, Fernet.generate_key().decode(), old)

    with (
        pytest.raises(
            CredentialsError, match=rf"accounts {lost_id} cannot be read .* nothing was re-encrypted"
        ),
        session_scope() as session,
    ):
        rotate_credentials(session)
    assert blobs() == before


def test_the_embedded_key_file_is_rotated_by_the_command(
    sandbox_system: SandboxSystem, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    key_file = data_dir / "secret.key"
    key_file.write_text(os.environ["SECRET_KEY"])  # the accounts were written with this key
    plain = readable_by_current_key_alone()
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SECRET_KEY_PREVIOUS"}}
    env["DATA_DIR"] = str(data_dir)

    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "secret-key", "--rotate"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip() == f"re-encrypted {len(plain)} account(s) with the current key; 0 already used it"
    )
    new = key_file.read_text().strip()
    assert new != os.environ["SECRET_KEY"] and not (data_dir / "secret.key.previous").exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    use_keys(monkeypatch, new, None)
    assert readable_by_current_key_alone() == plain
