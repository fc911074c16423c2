"""The Watcher API (docs/watcher-api.md) served from the sandbox world."""

from __future__ import annotations

import httpx
import pytest

from app.core.marketplaces import Marketplace
from app.sandbox.server import SandboxWorld
from tests.sandbox.conftest import accounts, advance, wb_headers

pytestmark = pytest.mark.anyio


def key(world: SandboxWorld) -> dict[str, str]:
    return {"X-Watcher-Key": world.sandbox.watcher_key}


def wb_keyword(world: SandboxWorld) -> tuple[int, int, str]:
    account_id = accounts(world, Marketplace.WB)[0]["id"]
    campaign = next(
        c
        for c in world.sandbox.world.campaigns.values()
        if c.account_id == account_id
        and c.bid_type == "manual"
        and c.payment_type == "cpm"
        and c.status == "9"
    )
    nm = next(iter(campaign.items))
    cluster = world.sandbox.world.clusters[world.sandbox.world.products[nm].cluster_ids[0]]
    return campaign.id, nm, cluster.text


async def test_competitor_bids_by_keyword_with_freshness(
    world: SandboxWorld, watcher: httpx.AsyncClient
) -> None:
    _campaign, _nm, keyword = wb_keyword(world)
    reply = await watcher.get(
        "/v1/bids", params={"marketplace": "wildberries", "keyword": keyword}, headers=key(world)
    )
    data = reply.json()
    assert reply.status_code == 200 and data["status"] == "ok"
    assert data["unit"] == "kopecks_per_1000_views"
    bids = [c["bid"] for c in data["competitors"]]
    assert bids == sorted(bids, reverse=True) and [c["position"] for c in data["competitors"]] == list(
        range(1, len(bids) + 1)
    )
    assert data["observed_at"] <= (await watcher.get("/_sandbox/clock")).json()["now"] < data["fresh_until"]
    await advance(watcher, 1800)
    later = (
        await watcher.get(
            "/v1/bids", params={"marketplace": "wildberries", "keyword": keyword}, headers=key(world)
        )
    ).json()
    assert later["observed_at"] == data["fresh_until"], "a new observation every 30 minutes"


async def test_unknown_keyword_is_an_explicit_no_data_answer(
    world: SandboxWorld, watcher: httpx.AsyncClient
) -> None:
    reply = await watcher.get(
        "/v1/bids", params={"marketplace": "ozon", "keyword": "нет такого запроса"}, headers=key(world)
    )
    assert reply.status_code == 200
    assert (
        reply.json()["status"] == "no_data"
        and reply.json()["competitors"] == []
        and reply.json()["observed_at"] is None
    )


async def test_positions_follow_our_bids(world: SandboxWorld, watcher: httpx.AsyncClient) -> None:
    campaign, nm, keyword = wb_keyword(world)
    first = (
        await watcher.get(
            "/v1/positions", params={"marketplace": "wildberries", "sku": str(nm)}, headers=key(world)
        )
    ).json()
    assert first["status"] == "ok"
    before = next(p for p in first["positions"] if p["keyword"] == keyword)
    async with world.client("wildberries") as wb:
        body = {
            "bids": [
                {
                    "advert_id": campaign,
                    "nm_bids": [{"nm_id": nm, "bid_kopecks": 9_000_000, "placement": "search"}],
                }
            ]
        }
        assert (
            await wb.patch("/api/advert/v1/bids", json=body, headers=wb_headers(world))
        ).status_code == 200
        await advance(wb, 30)
    after = (
        await watcher.get(
            "/v1/positions", params={"marketplace": "wildberries", "sku": str(nm)}, headers=key(world)
        )
    ).json()
    now = next(p for p in after["positions"] if p["keyword"] == keyword)
    assert now["position"] == 1 <= before["position"]


async def test_batch_and_errors(world: SandboxWorld, watcher: httpx.AsyncClient) -> None:
    _c, nm, keyword = wb_keyword(world)
    batch = await watcher.post(
        "/v1/bids/batch",
        json={"marketplace": "wildberries", "keywords": [keyword, "?"], "skus": [str(nm)]},
        headers=key(world),
    )
    assert [r["status"] for r in batch.json()["results"]] == ["ok", "no_data", "ok"]
    assert (
        await watcher.get("/v1/bids", params={"marketplace": "wildberries", "keyword": keyword})
    ).status_code == 401
    bad = await watcher.get("/v1/bids", params={"marketplace": "amazon", "keyword": "x"}, headers=key(world))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    both = await watcher.get(
        "/v1/bids", params={"marketplace": "ozon", "keyword": "x", "sku": "1"}, headers=key(world)
    )
    assert both.status_code == 400
    big = await watcher.post(
        "/v1/bids/batch", json={"marketplace": "ozon", "keywords": ["x"] * 101}, headers=key(world)
    )
    assert big.status_code == 400
    ym_sku = next(iter(world.sandbox.world.ym_products_by_sku(accounts(world, Marketplace.YM)[0]["id"])))
    ym = (
        await watcher.get(
            "/v1/bids", params={"marketplace": "yandex_market", "sku": ym_sku}, headers=key(world)
        )
    ).json()
    assert ym["status"] == "ok" and ym["unit"] == "percent_of_price_x100"
