"""The Ozon Performance adapter against the sandbox (issue 4 items 1–2), in-process and over HTTP."""

from __future__ import annotations

import json
import logging
import math
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from app.core.marketplaces import Marketplace
from app.sandbox.market import ATBS, SPEND, VIEWS
from app.sandbox.ozon import MIN_CPC_KOPECKS
from app.sandbox.server import SandboxWorld, ServerThread
from app.services.marketing.adapters.base import (
    AuthError,
    BidChange,
    MarketplaceAdapter,
    PermanentError,
    StatsSnapshot,
    TransientError,
)
from app.services.marketing.adapters.limits import OZON_QUOTAS
from app.services.marketing.adapters.ozon import OzonAdapter
from tests.services.adapters.conftest import AdapterFactory
from tests.support.request_contract import check_requests

pytestmark = pytest.mark.anyio


def ozon(make_adapter: AdapterFactory, **kwargs: Any) -> OzonAdapter:
    adapter = make_adapter("ozon", **kwargs)
    assert isinstance(adapter, OzonAdapter)
    return adapter


def world_campaigns(world: SandboxWorld, **match: str) -> list[Any]:
    return sorted(
        (
            c
            for c in world.sandbox.world.campaigns.values()
            if c.marketplace == Marketplace.OZON
            and c.account_id == first_account_id(world)
            and all(getattr(c, k) == v for k, v in match.items())
        ),
        key=lambda c: c.id,
    )


def first_account_id(world: SandboxWorld) -> int:
    return next(a["id"] for a in world.sandbox.accounts_json() if a["marketplace"] == "ozon")


def contract_requests(sent: list[httpx.Request]) -> list[httpx.Request]:
    """The requests the spec's schemas can check. POST /api/client/token is described only in the
    spec's prose (tag "Token"), and the `/json` variants are "the same address + /json" (method
    descriptions): they are checked against the CSV operation they mirror. POST
    /statistics/products/sku declares `pattern: " YYYY-MM-DD"` for its dates — a placeholder no
    date matches — so its body is checked by `assert_sku_stats_body` instead."""
    out = []
    for request in sent:
        path = request.url.path
        if path == "/api/client/token":
            continue
        if path == "/api/client/statistics/products/sku":
            assert_sku_stats_body(request)
            continue
        if path.endswith("/json"):
            request = httpx.Request(
                request.method,
                request.url.copy_with(path=path.removesuffix("/json")),
                headers=request.headers,
                content=request.content,
            )
        out.append(request)
    return out


def assert_sku_stats_body(request: httpx.Request) -> None:
    body = json.loads(request.content)
    assert set(body) == {"campaignIds", "dateFrom", "dateTo"}
    assert body["campaignIds"] and all(isinstance(i, str) and i.isdigit() for i in body["campaignIds"])
    for field in ("dateFrom", "dateTo"):
        assert date.fromisoformat(body[field]).isoformat() == body[field]


def effects(world: SandboxWorld, action: str) -> list[dict[str, Any]]:
    return [
        e.to_json()["effect"]
        for e in world.sandbox.effects.since(0, Marketplace.OZON.long_name)
        if e.to_json()["effect"].get("action") == action
    ]


@pytest.mark.parametrize("profile", ["fast", "official"], indirect=True)
async def test_ping_and_list_campaigns_map_states_types_and_money(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    await adapter.ping()
    campaigns = await adapter.list_campaigns()
    expected = world_campaigns(sandbox_world)
    assert [c.external_id for c in campaigns] == [str(c.id) for c in expected]
    by_id = {c.external_id: c for c in campaigns}
    for remote in expected:
        mine = by_id[str(remote.id)]
        assert mine.marketplace_status == remote.status
        assert mine.daily_budget == (remote.daily_budget_kopecks or None)
    assert {c.status for c in campaigns} >= {"active", "paused", "draft", "archived", "stopped"}
    assert {c.campaign_type for c in campaigns} >= {"sku", "search_promo", "banner"}
    assert {c.payment_type for c in campaigns} == {"cpc", "cpm", "cpo"}
    assert check_requests("ozon", contract_requests(sent_requests)) >= 2
    await adapter.aclose()


def today(world: SandboxWorld) -> date:
    from app.sandbox.clock import moscow_date

    return moscow_date(world.sandbox.now())


def calls(sent: list[httpx.Request], method: str, path_part: str) -> int:
    return sum(1 for r in sent if r.method == method and path_part in r.url.path)


def grow_campaign(world: SandboxWorld, campaign: Any, size: int) -> list[str]:
    """Give a sandbox campaign `size` SKUs (more than one page / one PUT / one competitive call)."""
    from dataclasses import replace

    from app.sandbox.world import CampaignItem

    template = world.sandbox.world.products[next(iter(campaign.items))]
    next_sku = max(world.sandbox.world.products) + 1
    while len(campaign.items) < size:
        world.sandbox.world.products[next_sku] = replace(template, id=next_sku)
        campaign.items[next_sku] = CampaignItem(next_sku, bids={"cpc": 1500})
        next_sku += 1
    return [str(s) for s in sorted(campaign.items)]


async def test_keywords_are_campaign_skus_with_bids_in_kopecks(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    running = world_campaigns(sandbox_world, kind="SKU", status="CAMPAIGN_STATE_RUNNING")
    keywords = await adapter.get_keywords([str(c.id) for c in running])
    expected = {
        (str(c.id), str(sku)): item.bids["cpc" if c.payment_type == "CPC" else "cpm"]
        for c in running
        for sku, item in c.items.items()
    }
    assert {(k.campaign_external_id, k.external_id): k.current_bid for k in keywords} == expected
    assert all(k.kind == "sku" and k.product_id == k.external_id for k in keywords)
    assert calls(sent_requests, "GET", "/v2/products") == len(running)
    lists = [r for r in sent_requests if r.url.path == "/api/client/campaign"]
    assert len(lists) == 1  # the campaigns' types, in one call
    bids = await adapter.get_current_bids(keywords[:3])
    assert bids == {(k.campaign_external_id, k.external_id): k.current_bid for k in keywords[:3]}
    check_requests("ozon", contract_requests(sent_requests))


async def test_get_keywords_reads_only_pay_per_click_product_campaigns(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = ozon(make_adapter)
    running = world_campaigns(sandbox_world, kind="SKU", status="CAMPAIGN_STATE_RUNNING")[0]
    per_order = world_campaigns(sandbox_world, kind="SEARCH_PROMO")[0]
    keywords = await adapter.get_keywords([str(running.id), "999", str(per_order.id)])
    assert {k.campaign_external_id for k in keywords} == {str(running.id)}
    assert f"rejected campaign '{per_order.id}': not a pay-per-click product campaign" in caplog.text
    assert "rejected campaign '999'" in caplog.text


@pytest.mark.parametrize("profile", ["fast", "official"], indirect=True)
async def test_batches_are_at_the_documented_maximum(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    campaign = world_campaigns(sandbox_world, kind="SKU", payment_type="CPC")[0]
    n = 1201
    skus = grow_campaign(sandbox_world, campaign, n)
    cid = str(campaign.id)
    keywords = await adapter.get_keywords([cid])
    assert len(keywords) == n
    assert calls(sent_requests, "GET", "/v2/products") == math.ceil(n / OZON_QUOTAS.products_per_campaign)
    results = await adapter.set_bids([BidChange(cid, sku, 2000 + i) for i, sku in enumerate(skus)])
    assert all(r.ok for r in results) and len(results) == n
    assert calls(sent_requests, "PUT", "/products") == math.ceil(n / OZON_QUOTAS.products_per_campaign)
    assert campaign.items[int(skus[-1])].bids["cpc"] == 2000 + n - 1
    recommendations = await adapter.get_recommendations(keywords)
    assert calls(sent_requests, "GET", "/bids/competitive") == math.ceil(
        n / OZON_QUOTAS.competitive_bids_max_skus
    )
    assert len(recommendations) == n
    assert all(r.source == "marketplace_competitive" and r.bids_by_position[0] > 0 for r in recommendations)
    assert calls(sent_requests, "POST", "/api/client/min/sku") == math.ceil(n / 200)
    products = sandbox_world.sandbox.world.products
    for r in recommendations:
        # The sandbox's minimum CPC: 8 ₽ plus 1 ₽ per price segment of the category.
        assert r.min_bid == MIN_CPC_KOPECKS + products[int(r.keyword_external_id)].subject_id % 4 * 100
    check_requests("ozon", contract_requests(sent_requests))


async def test_set_bids_sends_micro_rubles_and_reports_each_item(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    campaign = world_campaigns(
        sandbox_world, kind="SKU", payment_type="CPC", status="CAMPAIGN_STATE_RUNNING"
    )[0]
    cid = str(campaign.id)
    a, b, c, d = (str(s) for s in sorted(campaign.items))
    changes = [
        BidChange(cid, a, 1234),
        BidChange(cid, b, 5),  # below Ozon's minimum: refused by the API for this item only
        BidChange(cid, c, 4321),
        BidChange(cid, c, 999),  # duplicate in one batch
        BidChange(cid, d, 0),  # not a bid
        BidChange("999", a, 1500),  # not this seller's campaign
    ]
    results = await adapter.set_bids(changes)
    assert [r.ok for r in results] == [True, False, True, False, False, False]
    assert [r.key for r in results] == [ch.key for ch in changes]
    assert "bids[1].bid" in (results[1].error or "") and "HTTP 400" in (results[1].error or "")
    assert "duplicate" in (results[3].error or "")
    assert "campaign 999 not found" in (results[5].error or "")
    assert campaign.items[int(a)].bids["cpc"] == 1234
    assert campaign.items[int(c)].bids["cpc"] == 4321
    puts = [r for r in sent_requests if r.method == "PUT" and f"/campaign/{cid}/" in r.url.path]
    assert json.loads(puts[-1].content)["bids"] == [
        {"sku": a, "bid": "12340000"},
        {"sku": c, "bid": "43210000"},
    ]
    check_requests("ozon", contract_requests(sent_requests))


async def test_pause_and_resume_campaign_are_idempotent(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    campaign = world_campaigns(sandbox_world, status="CAMPAIGN_STATE_RUNNING")[0]
    cid = str(campaign.id)
    await adapter.pause_campaign(cid)
    assert campaign.status == "CAMPAIGN_STATE_INACTIVE"
    await adapter.pause_campaign(cid)
    await adapter.resume_campaign(cid)
    assert campaign.status == "CAMPAIGN_STATE_RUNNING"
    await adapter.resume_campaign(cid)
    assert campaign.status == "CAMPAIGN_STATE_RUNNING"
    assert len(effects(sandbox_world, "deactivate")) == 1 and len(effects(sandbox_world, "activate")) == 1
    # Stopped for lack of budget: not running, so already paused.
    stopped = world_campaigns(sandbox_world, status="CAMPAIGN_STATE_STOPPED")[0]
    await adapter.pause_campaign(str(stopped.id))
    assert stopped.status == "CAMPAIGN_STATE_STOPPED"
    archived = world_campaigns(sandbox_world, status="CAMPAIGN_STATE_ARCHIVED")[0]
    await adapter.pause_campaign(str(archived.id))
    with pytest.raises(PermanentError, match="cannot be activated"):
        await adapter.resume_campaign(str(archived.id))
    # A planned campaign starts by itself when its dates come: "already paused" would be a lie.
    planned = world_campaigns(sandbox_world, status="CAMPAIGN_STATE_PLANNED")[0]
    with pytest.raises(PermanentError, match="cannot be deactivated"):
        await adapter.pause_campaign(str(planned.id))
    check_requests("ozon", contract_requests(sent_requests))


async def test_pause_keyword_removes_the_sku_idempotently(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    campaign = world_campaigns(sandbox_world, kind="SKU", status="CAMPAIGN_STATE_RUNNING")[0]
    keyword = (await adapter.get_keywords([str(campaign.id)]))[0]
    await adapter.pause_keyword(keyword)
    assert int(keyword.external_id) not in campaign.items
    await adapter.pause_keyword(keyword)
    assert keyword.external_id not in {k.external_id for k in await adapter.get_keywords([str(campaign.id)])}
    check_requests("ozon", contract_requests(sent_requests))


async def test_budget_in_kopecks_and_no_balance_endpoint(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    for campaign in world_campaigns(sandbox_world):
        expected = campaign.budget_kopecks or campaign.weekly_budget_kopecks or None
        assert await adapter.get_budget(str(campaign.id)) == expected
    assert await adapter.get_balance() is None
    with pytest.raises(PermanentError, match="not found"):
        await adapter.get_budget("999")
    check_requests("ozon", contract_requests(sent_requests))


async def test_campaign_and_keyword_stats_of_one_moscow_day(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    day = today(sandbox_world)
    sandbox_world.sandbox.clock.advance(3 * 3600)  # some traffic today
    ids = [str(c.id) for c in world_campaigns(sandbox_world, kind="SKU")]
    campaign_stats = await adapter.get_campaign_stats(ids, day)
    keyword_stats = await adapter.get_keyword_stats(ids, day)
    assert campaign_stats and keyword_stats
    assert all(s.stat_date == day for s in campaign_stats + keyword_stats)
    assert all(s.keyword_external_id is None for s in campaign_stats)
    for total in campaign_stats:
        rows = [s for s in keyword_stats if s.campaign_external_id == total.campaign_external_id]
        assert abs(sum(r.spent for r in rows) - total.spent) <= len(rows) * 100  # ruble rounding per row
        assert abs(sum(r.clicks for r in rows) - total.clicks) <= len(rows)
    market = sandbox_world.sandbox.market
    for s in keyword_stats:
        values = market.totals(int(s.campaign_external_id), day, int(s.keyword_external_id or 0))
        assert (s.spent, s.views, s.add_to_cart) == (
            int(values[SPEND]),
            int(values[VIEWS]),
            int(values[ATBS]),
        )
    assert calls(sent_requests, "GET", "/statistics/daily/json") == 1
    assert calls(sent_requests, "POST", "/statistics/products/sku") == 1
    check_requests("ozon", contract_requests(sent_requests))


def advancing_sleep(world: SandboxWorld) -> Any:
    """The report poller's sleep, moving the sandbox clock instead of waiting in real time."""

    async def sleep(seconds: float) -> None:
        world.sandbox.clock.advance(seconds)

    return sleep


@pytest.mark.parametrize("profile", ["fast", "official"], indirect=True)
async def test_report_flow_batches_ten_campaigns_and_matches_sync_stats(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    adapter.sleep = advancing_sleep(sandbox_world)
    day = today(sandbox_world) - timedelta(days=1)  # a closed day: its counters no longer move
    ids = [str(c.id) for c in world_campaigns(sandbox_world)]
    assert len(ids) > OZON_QUOTAS.report_max_campaigns
    snapshots = await adapter.get_report_stats(ids, day, day)
    assert calls(sent_requests, "POST", "/statistics/json") == math.ceil(
        len(ids) / OZON_QUOTAS.report_max_campaigns
    )
    per_sku: dict[tuple[str, str | None], StatsSnapshot] = {
        (s.campaign_external_id, s.keyword_external_id): s for s in snapshots if s.keyword_external_id
    }
    totals = {s.campaign_external_id: s for s in snapshots if s.keyword_external_id is None}
    assert set(totals) == set(ids)  # one "Всего" row per campaign, CSV and ZIP alike
    sync = await adapter.get_keyword_stats(ids, day)
    for row in sync:
        report_row = per_sku[(row.campaign_external_id, row.keyword_external_id)]
        assert (report_row.views, report_row.clicks, report_row.orders) == (row.views, row.clicks, row.orders)
        assert (report_row.spent, report_row.revenue) == (row.spent, row.revenue)
    polls = calls(sent_requests, "GET", "/api/client/statistics/") - calls(sent_requests, "GET", "/report")
    assert polls >= 4  # NOT_STARTED / IN_PROGRESS seen, then OK
    check_requests("ozon", contract_requests(sent_requests))


async def test_reports_of_one_account_run_one_at_a_time(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    import asyncio

    first, second = ozon(make_adapter), ozon(make_adapter)  # two workers, one account
    for adapter in (first, second):
        adapter.sleep = advancing_sleep(sandbox_world)
    day = today(sandbox_world)
    ids = [str(c.id) for c in world_campaigns(sandbox_world)][:2]
    a, b = await asyncio.gather(
        first.get_report_stats(ids[:1], day, day), second.get_report_stats(ids[1:], day, day)
    )
    assert {s.campaign_external_id for s in a} == {ids[0]} and {s.campaign_external_id for s in b} == {ids[1]}
    # The sandbox answers 429 to a second running report; none was sent, so none was retried.
    assert calls(sent_requests, "POST", "/statistics/json") == 2


async def test_report_period_over_62_days_is_refused_before_sending(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    day = today(sandbox_world)
    with pytest.raises(PermanentError, match=r"1\.\.62 days"):
        await adapter.get_report_stats(["1"], day - timedelta(days=62), day)
    assert not sent_requests


async def test_report_in_error_state_is_a_permanent_error(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld
) -> None:
    adapter = ozon(make_adapter)
    day = today(sandbox_world)
    campaign = world_campaigns(sandbox_world)[0]

    async def fail_reports(seconds: float) -> None:
        for job in sandbox_world.sandbox.reports.values():
            job.failed = True
        sandbox_world.sandbox.clock.advance(seconds)

    adapter.sleep = fail_reports
    with pytest.raises(PermanentError, match="failed"):
        await adapter.get_report_stats([str(campaign.id)], day, day)


async def test_expired_token_is_refreshed_transparently(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    await adapter.ping()
    sandbox_world.sandbox.clock.advance(OZON_QUOTAS.token_lifetime_s + 1)  # the sandbox says 401
    assert await adapter.list_campaigns()
    assert calls(sent_requests, "POST", "/api/client/token") == 2


async def test_token_is_renewed_a_minute_before_it_expires(
    make_adapter: AdapterFactory, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    now = [1000.0]
    adapter.clock = lambda: now[0]
    await adapter.ping()
    now[0] += OZON_QUOTAS.token_lifetime_s - 120
    await adapter.ping()
    assert calls(sent_requests, "POST", "/api/client/token") == 1  # still fresh
    now[0] += 61  # inside the last minute
    await adapter.ping()
    assert calls(sent_requests, "POST", "/api/client/token") == 2
    assert calls(sent_requests, "GET", "/api/client/campaign") == 3  # no request met a 401


async def test_wrong_secret_is_an_auth_error_without_secrets(
    sandbox_world: SandboxWorld, shared_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from app.services.marketing.adapters import get_adapter
    from tests.services.adapters.conftest import sandbox_account

    caplog.set_level(logging.DEBUG)
    ref, secret = sandbox_account(sandbox_world, "ozon")
    wrong = {**secret, "client_secret": "not-the-secret"}
    adapter = get_adapter(
        "ozon", ref, client=sandbox_world.client("ozon"), redis_client=shared_redis, credentials=wrong
    )
    with pytest.raises(AuthError, match="invalid client_id or client_secret") as caught:
        await adapter.ping()
    assert caught.value.status == 401
    assert "not-the-secret" not in str(caught.value) and "not-the-secret" not in caplog.text
    with pytest.raises(AuthError, match="client_id and client_secret"):
        get_adapter(
            "ozon", ref, client=sandbox_world.client("ozon"), redis_client=shared_redis, credentials={}
        )


async def test_token_never_in_errors_or_logs(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = ozon(make_adapter)
    await adapter.ping()
    token = adapter._token
    assert token
    sandbox_world.sandbox.faults.add({"kind": "error", "path": "/api/client/campaign", "status": 403})
    with pytest.raises(AuthError) as forbidden:
        await adapter.list_campaigns()
    sandbox_world.sandbox.faults.add(
        {"kind": "error", "path": "/api/client/campaign", "status": 401, "count": 2}
    )
    with pytest.raises(AuthError) as unauthorized:
        await adapter.list_campaigns()  # one refresh, then the 401 stands
    sandbox_world.sandbox.faults.add(
        {"kind": "error", "path": "/api/client/campaign", "status": 500, "count": 9}
    )
    with pytest.raises(TransientError) as broken:
        await adapter.list_campaigns()
    for error in (forbidden.value, unauthorized.value, broken.value):
        assert token not in str(error) and (adapter._token or "") not in str(error)
    assert token not in caplog.text and (adapter._token or "-") not in caplog.text
    assert "Bearer" not in caplog.text


async def test_injected_5xx_is_retried_then_typed(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = ozon(make_adapter)
    faults = sandbox_world.sandbox.faults
    faults.add({"kind": "error", "path": "/api/client/campaign", "status": 502, "count": 2})
    assert await adapter.list_campaigns()  # two failures, third attempt answers
    assert calls(sent_requests, "GET", "/api/client/campaign") == 3
    faults.add({"kind": "error", "path": "/api/client/campaign", "status": 503, "count": 50})
    before = calls(sent_requests, "GET", "/api/client/campaign")
    with pytest.raises(TransientError, match=r"ozon list campaigns \(HTTP 503\): injected fault") as caught:
        await adapter.list_campaigns()
    assert caught.value.retryable
    from app.core.config import get_settings

    assert calls(sent_requests, "GET", "/api/client/campaign") - before == get_settings().HTTP_MAX_ATTEMPTS
    faults.clear()


async def test_malformed_body_is_retried_then_typed(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld
) -> None:
    adapter = ozon(make_adapter)
    faults = sandbox_world.sandbox.faults
    campaign = world_campaigns(sandbox_world, kind="SKU", status="CAMPAIGN_STATE_RUNNING")[0]
    faults.add({"kind": "malformed", "path": f"/api/client/campaign/{campaign.id}/v2/products", "count": 1})
    assert await adapter.get_keywords([str(campaign.id)])
    faults.add({"kind": "malformed", "path": "/api/client/statistics/products/sku", "count": 50})
    with pytest.raises(TransientError, match="malformed JSON"):
        await adapter.get_keyword_stats([str(campaign.id)], today(sandbox_world))
    faults.clear()


@pytest.mark.parametrize("profile", ["fast", "official"], indirect=True)
async def test_over_real_http_with_timeouts(
    make_adapter: AdapterFactory,
    sandbox_world: SandboxWorld,
    sandbox_server: ServerThread,
    sent_requests: list[httpx.Request],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.core.config import reset_settings_cache

    monkeypatch.setenv("HTTP_TIMEOUT", "0.5")
    reset_settings_cache()
    adapter = ozon(make_adapter, base_url=sandbox_server.url("ozon"))
    campaigns = await adapter.list_campaigns()
    assert len(campaigns) == len(world_campaigns(sandbox_world))
    campaign = world_campaigns(
        sandbox_world, kind="SKU", payment_type="CPC", status="CAMPAIGN_STATE_RUNNING"
    )[0]
    keywords = await adapter.get_keywords([str(campaign.id)])
    results = await adapter.set_bids(
        [BidChange(k.campaign_external_id, k.external_id, 1700) for k in keywords]
    )
    assert all(r.ok for r in results)
    assert all(item.bids["cpc"] == 1700 for item in campaign.items.values())
    faults = sandbox_world.sandbox.faults
    faults.add({"kind": "timeout", "path": "/api/client/campaign", "delay_s": 3, "count": 1})
    assert await adapter.list_campaigns()  # one timeout, then an answer
    faults.add({"kind": "timeout", "path": "/api/client/campaign", "delay_s": 3, "count": 50})
    with pytest.raises(TransientError, match="timeout"):
        await adapter.ping()
    faults.clear()
    check_requests("ozon", contract_requests(sent_requests))
    await adapter.aclose()


async def test_adapter_satisfies_the_protocol(make_adapter: AdapterFactory) -> None:
    assert isinstance(ozon(make_adapter), MarketplaceAdapter)


async def test_paging_stops_when_the_server_ignores_the_page_number(
    make_adapter: AdapterFactory,
    sandbox_world: SandboxWorld,
    sent_requests: list[httpx.Request],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.services.marketing.adapters import ozon as ozon_module

    campaign = world_campaigns(sandbox_world, kind="SKU", payment_type="CPC")[0]
    grow_campaign(sandbox_world, campaign, 20)
    adapter = ozon(make_adapter)
    real = adapter.api.products

    async def always_first_page(campaign_id: str, page: int, page_size: int) -> Any:
        return await real(campaign_id, 1, page_size)

    adapter.api.products = always_first_page  # type: ignore[method-assign]
    monkeypatch.setattr(ozon_module, "PRODUCT_PAGE_SIZE", 20)  # a full page: a second is asked for
    keywords = await adapter.get_keywords([str(campaign.id)])
    assert len(keywords) == 20
    assert calls(sent_requests, "GET", "/v2/products") == 2


async def test_a_message_echoing_the_token_is_scrubbed(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld
) -> None:
    adapter = ozon(make_adapter)
    await adapter.ping()
    token = adapter._token or ""
    sandbox_world.sandbox.clock.advance(OZON_QUOTAS.token_lifetime_s + 1)
    await adapter.ping()  # a second token; the first may still appear in a late error

    async def fail(leaked: str) -> None:
        raise PermanentError("ozon", "set bids", f"bad header Bearer {leaked}", 400)

    for leaked in (token, adapter._token or ""):
        with pytest.raises(PermanentError) as caught:
            await adapter._guard(fail(leaked))
        assert leaked not in str(caught.value) and leaked not in caught.value.detail
        assert "<token>" in str(caught.value) and caught.value.status == 400


async def test_refused_entries_are_isolated_a_bounded_number_of_times(
    make_adapter: AdapterFactory,
    sandbox_world: SandboxWorld,
    sent_requests: list[httpx.Request],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.services.marketing.adapters import ozon as ozon_module

    monkeypatch.setattr(ozon_module, "MAX_REFUSED_PER_BATCH", 1)
    adapter = ozon(make_adapter)
    campaign = world_campaigns(
        sandbox_world, kind="SKU", payment_type="CPC", status="CAMPAIGN_STATE_RUNNING"
    )[0]
    cid = str(campaign.id)
    a, b, c, _ = (str(s) for s in sorted(campaign.items))
    results = await adapter.set_bids([BidChange(cid, a, 1), BidChange(cid, b, 2), BidChange(cid, c, 1800)])
    assert [r.ok for r in results] == [False, False, False]
    assert "bids[0].bid" in (results[0].error or "")
    assert (results[2].error or "").startswith("not sent: 1 entries refused")
    assert calls(sent_requests, "PUT", f"/campaign/{cid}/products") == 2
    assert campaign.items[int(c)].bids["cpc"] != 1800


async def test_malformed_report_is_a_transient_error(
    make_adapter: AdapterFactory, sandbox_world: SandboxWorld
) -> None:
    adapter = ozon(make_adapter)
    adapter.sleep = advancing_sleep(sandbox_world)
    day = today(sandbox_world)
    ids = [str(c.id) for c in world_campaigns(sandbox_world)][:2]  # a ZIP, cut in half
    sandbox_world.sandbox.faults.add({"kind": "malformed", "path": "/api/client/statistics/report"})
    with pytest.raises(TransientError, match="unreadable report"):
        await adapter.get_report_stats(ids, day, day)
    assert await adapter.get_report_stats(ids, day, day)  # the slot was released
