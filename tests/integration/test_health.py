"""check_api_health against the sandbox (spec 7.4.4; issue 4 item 5)."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx

from app.core.clock import now_utc
from app.services.marketing.health import errors_key, run_health_check, status_key
from tests.support.sandbox_system import SandboxSystem


def test_every_marketplace_gets_a_status_with_account_detail(
    sandbox_system: SandboxSystem, redis_client
) -> None:
    summary = run_health_check()
    assert set(summary) == {"wb", "ozon", "ym"}
    for marketplace in ("wb", "ozon", "ym"):
        status = {k.decode(): v.decode() for k, v in redis_client.hgetall(status_key(marketplace)).items()}
        assert status["status"] in ("ok", "slow"), status
        assert int(status["error_count_24h"]) == 0
        assert int(status["response_time_ms"]) >= 0
        assert json.loads(status["accounts"])


def test_errors_count_in_a_true_24_hour_window_without_secrets(
    sandbox_system: SandboxSystem, redis_client
) -> None:
    # An error from more than a day ago must not count any more.
    old = (now_utc() - timedelta(hours=25)).timestamp()
    redis_client.zadd(errors_key("wb"), {f"{old}:1:0": old})
    reply = httpx.post(
        sandbox_system.server.url("wildberries") + "/_sandbox/faults",
        json={"path": "/adv/v1/promotion/count", "kind": "error", "status": 503, "count": 100},
        timeout=10,
    )
    assert reply.status_code == 201
    run_health_check()
    status = {k.decode(): v.decode() for k, v in redis_client.hgetall(status_key("wb")).items()}
    assert status["status"] == "error"
    wb_accounts = json.loads(status["accounts"])
    assert int(status["error_count_24h"]) == len(wb_accounts)
    token = sandbox_system.world.sandbox.accounts_json("wildberries")[0]["credentials"]["tokens"]["personal"]
    assert token not in status["last_error"] and "503" in status["last_error"]
    httpx.delete(sandbox_system.server.url("wildberries") + "/_sandbox/faults", timeout=10)
    run_health_check()
    status = {k.decode(): v.decode() for k, v in redis_client.hgetall(status_key("wb")).items()}
    assert status["status"] in ("ok", "slow")
    assert int(status["error_count_24h"]) == len(wb_accounts)  # still inside the window
