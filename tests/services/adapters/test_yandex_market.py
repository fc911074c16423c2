"""The Yandex Market adapter against the sandbox (in-process over ASGI, and over real HTTP)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from app.core.config import get_settings
from app.sandbox.clock import moscow_date
from app.sandbox.server import SandboxWorld, ServerThread
from app.services.marketing.adapters import AccountRef, get_adapter, limits
from app.services.marketing.adapters import yandex_market as ym_module
from app.services.marketing.adapters.base import (
    AuthError,
    BidChange,
    Keyword,
    MarketplaceAdapter,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from app.services.marketing.adapters.yandex_market import YandexMarketAdapter
from tests.services.adapters.conftest import sandbox_account
from tests.support.request_contract import check_requests

pytestmark = pytest.mark.anyio

YM_APP = "yandex_market"
STATE_DELAY_S = 121  # the sandbox applies a bid after YM_BID_DELAY_S (120 s): "up to several minutes"


def adapter_of(make_adapter: Callable[..., MarketplaceAdapter], **kwargs: Any) -> YandexMarketAdapter:
    adapter = make_adapter("ym", **kwargs)
    assert isinstance(adapter, YandexMarketAdapter)
    return adapter


def clock_sleep(world: SandboxWorld) -> Callable[[float], Awaitable[None]]:
    """Report polling moves the sandbox's virtual clock instead of waiting in real time."""

    async def sleep(seconds: float) -> None:
        world.sandbox.clock.advance(seconds)
        await asyncio.sleep(0)

    return sleep


def business(world: SandboxWorld) -> tuple[str, Any]:
    ref, _ = sandbox_account(world, "ym")
    account = world.sandbox.world.accounts[ref.id]
    return str(account.ym_business_id), world.sandbox.world.campaigns[account.ym_business_id]


def api_skus(world: SandboxWorld) -> dict[str, int]:
    """The sandbox's truth: SKU → boost bid of the business's API campaign."""
    _, campaign = business(world)
    products = world.sandbox.world.products
    return {products[pid].shop_sku: item.bids["boost"] for pid, item in campaign.items.items()}


def calls(sent: list[httpx.Request], method: str, suffix: str) -> int:
    return sum(1 for r in sent if r.method == method and r.url.path.endswith(suffix))


async def add_fault(world: SandboxWorld, **rule: Any) -> None:
    async with world.client(YM_APP) as control:
        response = await control.post("/_sandbox/faults", json={"marketplace": YM_APP, **rule})
        assert response.status_code == 201, response.text


# --- every method against the sandbox ----------------------------------------------------------------


async def test_lists_the_one_business_campaign(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = adapter_of(make_adapter)
    business_id, _ = business(sandbox_world)
    (campaign,) = await adapter.list_campaigns()
    assert (campaign.external_id, campaign.campaign_type, campaign.payment_type) == (
        business_id,
        "boost",
        "cpo",
    )
    assert (campaign.status, campaign.marketplace_status) == ("active", "HAS_API_BIDS")
    await adapter.ping()
    await adapter.aclose()
    assert check_requests("ym", sent_requests) == 2


async def test_a_business_without_api_bids_is_a_draft_campaign(
    make_adapter: Any, sandbox_world: SandboxWorld
) -> None:
    adapter = adapter_of(make_adapter)
    business_id, _ = business(sandbox_world)
    removals = [BidChange(business_id, sku, 0) for sku in api_skus(sandbox_world)]
    assert all(r.ok for r in await adapter.set_bids(removals))
    sandbox_world.sandbox.clock.advance(STATE_DELAY_S)
    (campaign,) = await adapter.list_campaigns()
    assert (campaign.status, campaign.marketplace_status) == ("draft", "NO_API_BIDS")
    assert await adapter.get_keywords([business_id]) == []


async def test_keywords_are_the_skus_with_api_bids_in_native_units(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = adapter_of(make_adapter)
    business_id, _ = business(sandbox_world)
    keywords = await adapter.get_keywords([business_id])
    truth = api_skus(sandbox_world)
    assert len(truth) >= 5
    assert {k.external_id: k.current_bid for k in keywords} == truth  # hundredths of a percent, as sent
    assert {(k.kind, k.campaign_external_id, k.status) for k in keywords} == {("sku", business_id, "active")}
    assert all(k.product_id == k.external_id == k.keyword for k in keywords)
    assert check_requests("ym", sent_requests) == 1


async def test_keywords_of_another_campaign_id_are_skipped_with_a_reason(
    make_adapter: Any, sent_requests: list[httpx.Request], caplog: pytest.LogCaptureFixture
) -> None:
    adapter = adapter_of(make_adapter)
    with caplog.at_level(logging.WARNING):
        assert await adapter.get_keywords(["123"]) == []
        assert await adapter.get_campaign_stats(["123"], datetime.now(UTC).date()) == []
    assert "only YM campaign of this account is business" in caplog.text
    assert sent_requests == []


async def test_keywords_are_paged_with_page_tokens(
    make_adapter: Any,
    sandbox_world: SandboxWorld,
    sent_requests: list[httpx.Request],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ym_module, "INFO_PAGE_LIMIT", 2)
    adapter = adapter_of(make_adapter)
    business_id, _ = business(sandbox_world)
    keywords = await adapter.get_keywords([business_id])
    truth = api_skus(sandbox_world)
    assert {k.external_id: k.current_bid for k in keywords} == truth
    assert calls(sent_requests, "POST", "/bids/info") == math.ceil(len(truth) / 2)
    assert sum("pageToken=" in str(r.url) for r in sent_requests) == math.ceil(len(truth) / 2) - 1
    assert check_requests("ym", sent_requests) == len(sent_requests)


async def test_sets_bids_and_reads_them_back_after_the_apply_delay(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = adapter_of(make_adapter)
    business_id, _ = business(sandbox_world)
    skus = sorted(api_skus(sandbox_world))
    changes = [BidChange(business_id, skus[0], 570), BidChange(business_id, skus[1], 0)]
    results = await adapter.set_bids(changes)
    assert [(r.key, r.ok, r.error) for r in results] == [(c.key, True, None) for c in changes]
    put = next(r for r in sent_requests if r.method == "PUT")
    assert put.read() == b'{"bids":[{"sku":"%s","bid":570},{"sku":"%s","bid":0}]}' % (
        skus[0].encode(),
        skus[1].encode(),
    )
    sandbox_world.sandbox.clock.advance(STATE_DELAY_S)
    keywords = [Keyword(business_id, s, s, "sku", s, None) for s in skus[:3]]
    current = await adapter.get_current_bids(keywords)
    assert current == {
        (business_id, skus[0]): 570,
        (business_id, skus[1]): 0,  # removed from the campaign
        (business_id, skus[2]): api_skus(sandbox_world)[skus[2]],
    }
    assert check_requests("ym", sent_requests) == 2


async def test_refuses_bad_changes_per_item_and_sends_the_rest(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = adapter_of(make_adapter)
    business_id, _ = business(sandbox_world)
    sku = sorted(api_skus(sandbox_world))[0]
    changes = [
        BidChange(business_id, sku, 800),
        BidChange(business_id, "SKU-X", 49),  # below the API minimum
        BidChange(business_id, "SKU-Y", 57_000),  # kopecks sent by mistake: 570 % of the price
        BidChange("999", "SKU-Z", 500),  # another business
        BidChange(business_id, "SKU-D", 500),
        BidChange(business_id, "SKU-D", 600),  # two commands for one SKU
    ]
    results = await adapter.set_bids(changes)
    assert [r.ok for r in results] == [True, False, False, False, False, False]
    assert "outside 50..9999" in (results[1].error or "") and "570" in (results[2].error or "")
    assert "not this account's business" in (results[3].error or "")
    assert "appears 2 times" in (results[4].error or "")
    assert calls(sent_requests, "PUT", "/bids") == 1
    check_requests("ym", sent_requests)


async def test_a_400_naming_items_fails_them_and_resends_the_others(
    make_adapter: Any,
    sandbox_world: SandboxWorld,
    sent_requests: list[httpx.Request],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Our own checks mirror the spec, so make one slip through to see the API's per-item answer.
    monkeypatch.setattr(ym_module.YandexMarketAdapter, "_bid_problem", lambda self, change, n: None)
    adapter = adapter_of(make_adapter)
    business_id, _ = business(sandbox_world)
    changes = [
        BidChange(business_id, "SKU-A", 500),
        BidChange(business_id, "SKU-B", 10),
        BidChange(business_id, "SKU-C", 700),
    ]
    results = await adapter.set_bids(changes)
    assert [r.ok for r in results] == [True, False, True]
    assert "bids[1].bid must be 0 (remove) or from 50 to 9999" in (results[1].error or "")
    assert "HTTP 400" in (results[1].error or "")
    assert calls(sent_requests, "PUT", "/bids") == 2


async def test_pause_keyword_sets_bid_zero_and_is_idempotent(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = adapter_of(make_adapter)
    business_id, _ = business(sandbox_world)
    sku = sorted(api_skus(sandbox_world))[0]
    keyword = Keyword(business_id, sku, sku, "sku", sku, 500)
    await adapter.pause_keyword(keyword)
    sandbox_world.sandbox.clock.advance(STATE_DELAY_S)
    await adapter.pause_keyword(keyword)
    sandbox_world.sandbox.clock.advance(STATE_DELAY_S)
    assert sku not in api_skus(sandbox_world)
    assert await adapter.get_current_bids([keyword]) == {(business_id, sku): 0}
    assert check_requests("ym", sent_requests) == 3


async def test_campaign_pause_and_resume_are_refused_with_the_reason(
    make_adapter: Any, sent_requests: list[httpx.Request]
) -> None:
    adapter = adapter_of(make_adapter)
    for method in (adapter.pause_campaign, adapter.resume_campaign):
        with pytest.raises(PermanentError, match="no switch for the boost campaign"):
            await method(adapter.business_id)
    assert sent_requests == []


async def test_recommendations_are_the_marketplace_signal_in_native_units(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = adapter_of(make_adapter)
    business_id, _ = business(sandbox_world)
    skus = sorted(api_skus(sandbox_world))[:4]
    keywords = [Keyword(business_id, s, s, "sku", s, None) for s in [*skus, "SKU-UNKNOWN"]]
    recommendations = await adapter.get_recommendations(keywords)
    assert sorted(r.keyword_external_id for r in recommendations) == skus  # no advice for unknown SKUs
    for item in recommendations:
        assert item.source == "marketplace_recommendation" and item.min_bid == 50
        assert len(item.bids_by_position) == 4  # the sandbox's 100/70/40/10 % levels
        assert list(item.bids_by_position) == sorted(item.bids_by_position, reverse=True)
        assert all(50 <= bid <= 9999 for bid in item.bids_by_position)
        assert item.fetched_at.tzinfo is not None
    assert check_requests("ym", sent_requests) == 1


async def test_budget_and_balance_are_not_exposed(
    make_adapter: Any, sent_requests: list[httpx.Request]
) -> None:
    adapter = adapter_of(make_adapter)
    assert await adapter.get_budget(adapter.business_id) is None
    assert await adapter.get_balance() is None
    assert sent_requests == []


async def test_stats_come_from_the_boost_report_with_fee_in_kopecks(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    sandbox = sandbox_world.sandbox
    sandbox.clock.set_speed(0)  # time moves only when the adapter's polling advances it
    adapter = adapter_of(make_adapter)
    adapter.sleep = clock_sleep(sandbox_world)
    business_id, campaign = business(sandbox_world)
    day = moscow_date(sandbox.now())
    (total,) = await adapter.get_campaign_stats([business_id], day)
    per_sku = await adapter.get_keyword_stats([business_id], day)
    products = {p.shop_sku: p.id for p in sandbox.world.products.values()}
    assert per_sku, "the seeded day has boost activity"
    for snapshot in per_sku:
        truth = sandbox.market.totals(campaign.id, day, products[snapshot.keyword_external_id or ""])
        assert (snapshot.views, snapshot.clicks, snapshot.orders) == (
            int(truth[0]),
            int(truth[1]),
            int(truth[3]),
        )
        assert snapshot.spent == int(truth[6])  # kopecks → rubles (sandbox) → kopecks (adapter)
        assert snapshot.stat_date == day and snapshot.revenue == 0
    assert total.keyword_external_id is None and total.campaign_external_id == business_id
    assert total.spent == sum(s.spent for s in per_sku) and total.views == sum(s.views for s in per_sku)
    # One report served both calls (generate is limited to 1 per 2 minutes); polling was paced.
    assert calls(sent_requests, "POST", "/boost-consolidated/generate") == 1
    (download,) = [r for r in sent_requests if r.url.path.startswith("/_sandbox/files/")]
    assert "api-key" not in download.headers  # a report link may be on another host: no token there
    assert check_requests("ym", sent_requests) >= 2


async def test_a_day_without_boost_activity_gives_zero_totals(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = adapter_of(make_adapter)
    adapter.sleep = clock_sleep(sandbox_world)
    business_id, _ = business(sandbox_world)
    long_ago = moscow_date(sandbox_world.sandbox.now()) - timedelta(days=200)
    (total,) = await adapter.get_campaign_stats([business_id], long_ago)
    assert (total.views, total.clicks, total.orders, total.spent) == (0, 0, 0, 0)
    assert await adapter.get_keyword_stats([business_id], long_ago) == []
    check_requests("ym", sent_requests)


async def test_report_polling_backs_off_and_is_bounded(
    make_adapter: Any,
    sandbox_world: SandboxWorld,
    sent_requests: list[httpx.Request],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ym_module, "REPORT_MAX_WAIT_S", 100.0)
    sandbox_world.sandbox.clock.set_speed(0)  # nobody advances the clock: the report stays PENDING
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    adapter = adapter_of(make_adapter)
    adapter.sleep = no_wait
    # The server's estimate first (35 s; the fast profile quickens the report service too), then
    # doubling, capped at a minute, until 100 s have been waited.
    low, _ = ym_module.REPORT_FIRST_POLL_S
    expected = [max(low, int(35_000 / sandbox_world.sandbox.profile.factor) / 1000)]
    while sum(expected) < 100.0:
        expected.append(min(ym_module.REPORT_MAX_POLL_S, expected[-1] * 2))
    with pytest.raises(TransientError, match=rf"report boost-\S+ still PENDING after {sum(expected):.0f} s"):
        await adapter.get_campaign_stats([adapter.business_id], moscow_date(sandbox_world.sandbox.now()))
    assert waits == pytest.approx(expected)
    assert sum(1 for r in sent_requests if r.url.path.startswith("/v2/reports/info/")) == len(expected)


# --- batch sizes at the documented maxima ------------------------------------------------------------


async def test_batches_are_the_documented_maxima(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = adapter_of(make_adapter)
    business_id, _ = business(sandbox_world)
    n = 3001
    skus = [f"SKU-BATCH-{i:05d}" for i in range(n)]  # unknown SKUs: accepted and ignored by YM
    results = await adapter.set_bids([BidChange(business_id, s, 100 + i % 900) for i, s in enumerate(skus)])
    assert all(r.ok for r in results) and len(results) == n
    keywords = [Keyword(business_id, s, s, "sku", s, None) for s in skus]
    current = await adapter.get_current_bids(keywords)
    assert len(current) == n and set(current.values()) == {0}
    await adapter.get_recommendations(keywords)
    assert calls(sent_requests, "PUT", "/bids") == math.ceil(n / ym_module.PUT_BIDS_BATCH) == 3
    assert calls(sent_requests, "POST", "/bids/info") == math.ceil(n / ym_module.INFO_SKUS_BATCH) == 7
    assert calls(sent_requests, "POST", "/bids/recommendations") == math.ceil(
        n / ym_module.RECOMMENDATIONS_BATCH
    )
    assert check_requests("ym", sent_requests) == 3 + 7 + 3


# --- errors ------------------------------------------------------------------------------------------


async def test_a_wrong_api_key_is_an_auth_error_that_never_shows_the_key(
    sandbox_world: SandboxWorld, shared_redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    ref, _ = sandbox_account(sandbox_world, "ym")
    token = "ACMA:super-secret-token-value-0123456789"
    adapter = get_adapter(
        "ym",
        ref,
        client=sandbox_world.client(YM_APP),
        redis_client=shared_redis,
        credentials={"api_key": token},
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as raised:
        await adapter.list_campaigns()
    assert raised.value.status == 401 and "Api-Key is invalid" in str(raised.value)
    assert token not in str(raised.value) and token not in repr(raised.value.args)
    assert token not in caplog.text


async def test_set_bids_raises_an_auth_error_instead_of_failing_items(
    sandbox_world: SandboxWorld, shared_redis: aioredis.Redis
) -> None:
    # No item of a rejected key can succeed: the whole account needs fixing, so it is raised.
    ref, _ = sandbox_account(sandbox_world, "ym")
    adapter = get_adapter(
        "ym",
        ref,
        client=sandbox_world.client(YM_APP),
        redis_client=shared_redis,
        credentials={"api_key": "wrong"},
    )
    with pytest.raises(AuthError, match="HTTP 401"):
        await adapter.set_bids([BidChange(str(ref.settings["business_id"]), "SKU-A", 500)])


async def test_a_business_the_key_does_not_own_is_an_auth_error(
    sandbox_world: SandboxWorld, shared_redis: aioredis.Redis
) -> None:
    ref, secret = sandbox_account(sandbox_world, "ym")
    other = AccountRef(ref.id, "ym", ref.name, {**ref.settings, "business_id": "777"})
    adapter = get_adapter(
        "ym", other, client=sandbox_world.client(YM_APP), redis_client=shared_redis, credentials=secret
    )
    with pytest.raises(AuthError, match="no access to this business"):
        await adapter.get_keywords(["777"])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"business_id": "12a"}, "business_id must be"),
        ({}, "business_id must be"),
        ({"business_id": "1", "ym_tier": "gold"}, "ym_tier must be one of none, medium"),
    ],
)
def test_bad_account_settings_are_refused_with_how_to_fix(
    settings: dict[str, str], message: str, sandbox_world: SandboxWorld
) -> None:
    ref = AccountRef(1, "ym", "x", settings)
    with pytest.raises(PermanentError, match=message):
        get_adapter("ym", ref, client=sandbox_world.client(YM_APP), credentials={"api_key": "k"})
    with pytest.raises(AuthError, match="no api_key"):
        get_adapter(
            "ym",
            AccountRef(1, "ym", "x", {"business_id": "1"}),
            client=sandbox_world.client(YM_APP),
            credentials={},
        )


async def test_the_tier_sets_the_limit_key_and_the_semaphore_is_per_business(
    sandbox_world: SandboxWorld, shared_redis: aioredis.Redis
) -> None:
    ref, secret = sandbox_account(sandbox_world, "ym")
    medium = AccountRef(ref.id, "ym", ref.name, {**ref.settings, "ym_tier": "medium"})
    adapter = get_adapter(
        "ym", medium, client=httpx.AsyncClient(timeout=7.0), redis_client=shared_redis, credentials=secret
    )
    assert isinstance(adapter, YandexMarketAdapter)
    pacing = adapter._api.pacing
    assert pacing.limit_key == "medium"
    assert pacing.parallel is not None
    assert pacing.parallel.key == f"marketing:ym:parallel:{ref.settings['business_id']}"
    assert pacing.parallel.capacity == limits.YM_PARALLEL_REQUESTS == 4
    assert pacing.parallel.lease_seconds == 4 * 7.0 + ym_module.LEASE_MARGIN_S


async def test_persistent_5xx_gives_bounded_retries_then_a_transient_error(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    await add_fault(sandbox_world, kind="error", path="/v2/businesses/*/bids/info", status=503, count=50)
    adapter = adapter_of(make_adapter)
    with pytest.raises(TransientError, match=r"ym read bids \(HTTP 503\): injected fault") as raised:
        await adapter.get_keywords([adapter.business_id])
    assert not isinstance(raised.value, RateLimitedError)
    assert calls(sent_requests, "POST", "/bids/info") == get_settings().HTTP_MAX_ATTEMPTS


async def test_a_transient_5xx_is_retried_and_succeeds(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    await add_fault(sandbox_world, kind="error", path="/v2/businesses/*/bids/info", status=500, count=2)
    adapter = adapter_of(make_adapter)
    assert await adapter.get_keywords([adapter.business_id])
    assert calls(sent_requests, "POST", "/bids/info") == 3


async def test_malformed_replies_give_bounded_retries_then_a_clear_error(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    await add_fault(sandbox_world, kind="malformed", path="/v2/businesses/*/bids/recommendations", count=50)
    adapter = adapter_of(make_adapter)
    keyword = Keyword(adapter.business_id, "SKU-A", "SKU-A", "sku", "SKU-A", None)
    with pytest.raises(TransientError, match="malformed JSON in a 2xx reply"):
        await adapter.get_recommendations([keyword])
    assert calls(sent_requests, "POST", "/bids/recommendations") == get_settings().HTTP_MAX_ATTEMPTS


async def test_a_failed_set_bids_call_fails_its_items_not_the_batch(
    make_adapter: Any, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    # 1501 changes = two calls; the first keeps failing with 500, the second goes through.
    await add_fault(
        sandbox_world,
        kind="error",
        path="/v2/businesses/*/bids",
        method="PUT",
        count=get_settings().HTTP_MAX_ATTEMPTS,
    )
    adapter = adapter_of(make_adapter)
    changes = [BidChange(adapter.business_id, f"SKU-{i}", 500) for i in range(1501)]
    results = await adapter.set_bids(changes)
    assert [r.ok for r in results] == [False] * 1500 + [True]
    assert "HTTP 500" in (results[0].error or "")


async def test_timeouts_over_real_http_give_bounded_retries_then_a_transient_error(
    sandbox_world: SandboxWorld, sandbox_server: ServerThread, shared_redis: aioredis.Redis
) -> None:
    await add_fault(sandbox_world, kind="timeout", path="/v2/businesses/*/bids/info", delay_s=3, count=50)
    ref, secret = sandbox_account(sandbox_world, "ym")
    client = httpx.AsyncClient(base_url=sandbox_server.url(YM_APP), timeout=0.3)
    adapter = get_adapter("ym", ref, client=client, redis_client=shared_redis, credentials=secret)
    with pytest.raises(TransientError, match="timeout"):
        await adapter.ping()
    rules = sandbox_world.sandbox.faults.rules()
    assert rules[0].remaining == 50 - get_settings().HTTP_MAX_ATTEMPTS
    await adapter.aclose()


@pytest.mark.parametrize("profile", ["fast", "official"], indirect=True)
async def test_every_method_over_real_http(
    sandbox_world: SandboxWorld,
    sandbox_server: ServerThread,
    make_adapter: Any,
    sent_requests: list[httpx.Request],
) -> None:
    adapter = adapter_of(make_adapter, base_url=sandbox_server.url(YM_APP))
    adapter.sleep = clock_sleep(sandbox_world)
    business_id = adapter.business_id
    await adapter.ping()
    (campaign,) = await adapter.list_campaigns()
    keywords = await adapter.get_keywords([campaign.external_id])
    current = await adapter.get_current_bids(keywords)
    assert current == {(business_id, k.external_id): k.current_bid for k in keywords}
    assert all(
        r.ok for r in await adapter.set_bids([BidChange(business_id, k.external_id, 600) for k in keywords])
    )
    await adapter.pause_keyword(keywords[0])
    assert len(await adapter.get_recommendations(keywords)) == len(keywords)
    day = moscow_date(sandbox_world.sandbox.now())
    (total,) = await adapter.get_campaign_stats([business_id], day)
    assert total.views > 0 and total.spent > 0
    assert len(await adapter.get_keyword_stats([business_id], day)) > 0
    await adapter.aclose()
    assert check_requests("ym", sent_requests) >= 9


# --- the 4-parallel-requests rule and 420 ------------------------------------------------------------


def recording_client(world: SandboxWorld, statuses: list[int]) -> httpx.AsyncClient:
    async def record(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    return world.client(YM_APP, timeout=30.0, event_hooks={"response": [record]})


async def test_concurrent_calls_of_two_instances_never_exceed_four_in_flight(
    sandbox_world: SandboxWorld, shared_redis: aioredis.Redis
) -> None:
    await add_fault(sandbox_world, kind="slow", path="/v2/businesses/*/bids/info", delay_s=0.05, count=1000)
    ref, secret = sandbox_account(sandbox_world, "ym")
    statuses: list[int] = []
    adapters = [
        get_adapter(
            "ym",
            ref,
            client=recording_client(sandbox_world, statuses),
            redis_client=shared_redis,
            credentials=secret,
        )
        for _ in range(2)
    ]
    await asyncio.gather(*(adapters[i % 2].ping() for i in range(10)))
    assert statuses == [200] * 10


async def test_without_the_semaphore_the_sandbox_does_answer_420(
    sandbox_world: SandboxWorld, shared_redis: aioredis.Redis
) -> None:
    # The control experiment of the test above: it would see 420s if the semaphore did nothing.
    ref, secret = sandbox_account(sandbox_world, "ym")
    statuses: list[int] = []
    adapter = get_adapter(
        "ym",
        ref,
        client=recording_client(sandbox_world, statuses),
        redis_client=shared_redis,
        credentials=secret,
    )
    assert isinstance(adapter, YandexMarketAdapter)
    adapter._api.pacing.parallel = None
    await asyncio.gather(*(adapter.ping() for _ in range(10)), return_exceptions=True)
    assert 420 in statuses


class Until420Transport(httpx.AsyncBaseTransport):
    """Answers the first request with YM's 420 and a wall-clock `X-RateLimit-Resource-Until`, then
    passes everything to the sandbox. (The sandbox's own Until is on its virtual clock, which the
    fixtures start a day away from the wall clock — see the report.)"""

    def __init__(self, inner: httpx.AsyncBaseTransport, wait_s: float) -> None:
        self.inner = inner
        self.wait_s = wait_s
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(asyncio.get_running_loop().time())
        if len(self.sent) == 1:
            until = datetime.now(UTC) + timedelta(seconds=self.wait_s)
            return httpx.Response(
                420,
                headers={"X-RateLimit-Resource-Until": format_datetime(until, usegmt=True)},
                json={"status": "ERROR", "errors": [{"code": "LIMIT_EXCEEDED", "message": "Hit rate limit"}]},
            )
        return await self.inner.handle_async_request(request)


async def test_a_420_is_waited_out_until_the_resource_frees_then_succeeds(
    sandbox_world: SandboxWorld, shared_redis: aioredis.Redis
) -> None:
    ref, secret = sandbox_account(sandbox_world, "ym")
    transport = Until420Transport(httpx.ASGITransport(app=sandbox_world.app(YM_APP)), wait_s=2.0)
    client = httpx.AsyncClient(transport=transport, base_url="http://ym.sandbox")
    adapter = get_adapter("ym", ref, client=client, redis_client=shared_redis, credentials=secret)
    await adapter.ping()
    assert len(transport.sent) == 2
    assert transport.sent[1] - transport.sent[0] >= 1.0  # RFC 822 has whole seconds


async def test_a_420_that_persists_is_a_rate_limited_error(
    make_adapter: Any, sandbox_world: SandboxWorld
) -> None:
    await add_fault(sandbox_world, kind="error", path="/v2/businesses/*/bids/info", status=420, count=50)
    adapter = adapter_of(make_adapter)
    with pytest.raises(RateLimitedError, match=r"HTTP 420"):
        await adapter.ping()
