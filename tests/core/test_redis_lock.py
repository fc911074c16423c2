import time

import pytest

from app.core.redis import acquire_lock, release_lock


def test_second_holder_is_refused_until_release(redis_client) -> None:
    first = acquire_lock("marketing:lock:test", timeout=10)
    assert first
    assert acquire_lock("marketing:lock:test", timeout=10) is None
    assert release_lock(first)
    second = acquire_lock("marketing:lock:test", timeout=10)
    assert second
    release_lock(second)


def test_expired_holder_does_not_release_the_new_owner(redis_client) -> None:
    stale = acquire_lock("marketing:lock:test", timeout=1)
    assert stale
    time.sleep(1.2)
    fresh = acquire_lock("marketing:lock:test", timeout=10)
    assert fresh
    assert release_lock(stale) is False
    assert redis_client.get("marketing:lock:test") is not None
    assert release_lock(fresh)


def test_lock_without_expiry_is_refused(redis_client) -> None:
    with pytest.raises(ValueError, match="positive"):
        acquire_lock("marketing:lock:test", timeout=0)
