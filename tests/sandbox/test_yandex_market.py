"""The YM boost-bids sandbox against specs/yandex-market/openapi (split YAML, loaded from its root)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.core.marketplaces import Marketplace
from app.sandbox.server import SandboxWorld
from tests.sandbox import contract
from tests.sandbox.conftest import accounts, advance, ym_headers

pytestmark = pytest.mark.anyio


def business(world: SandboxWorld) -> dict[str, Any]:
    return dict(accounts(world, Marketplace.YM)[0]["credentials"])


def catalogue(world: SandboxWorld) -> list[str]:
    account_id = accounts(world, Marketplace.YM)[0]["id"]
    return sorted(world.sandbox.world.ym_products_by_sku(account_id))


async def checked(
    client: httpx.AsyncClient, method: str, path: str, pattern: str, **kwargs: Any
) -> httpx.Response:
    reply = await client.request(method, path, **kwargs)
    contract.validate("yandex_market", reply, path_pattern=pattern)
    assert reply.status_code < 500, reply.text
    for header in (
        "X-RateLimit-Resource-Limit",
        "X-RateLimit-Resource-Remaining",
        "X-RateLimit-Resource-Until",
    ):
        if reply.status_code not in (401, 403):
            assert header in reply.headers, header
    return reply


BIDS = "/v2/businesses/{businessId}/bids"
INFO = "/v2/businesses/{businessId}/bids/info"
RECS = "/v2/businesses/{businessId}/bids/recommendations"


async def test_put_bids_become_visible_after_the_documented_delay(
    world: SandboxWorld, ym: httpx.AsyncClient
) -> None:
    b = business(world)
    h = ym_headers(world)
    skus = catalogue(world)
    path = f"/v2/businesses/{b['business_id']}/bids"
    body = {"bids": [{"sku": skus[1], "bid": 777}, {"sku": "NO-SUCH-SKU", "bid": 500}]}
    reply = await checked(ym, "PUT", path, BIDS, json=body, headers=h)
    assert reply.json() == {"status": "OK"}
    info_path = f"/v2/businesses/{b['business_id']}/bids/info"
    before = (await checked(ym, "POST", info_path, INFO, json={"skus": [skus[1]]}, headers=h)).json()
    assert before["result"]["bids"] == [], "not visible yet"
    await advance(ym, 120)
    after = (
        await checked(ym, "POST", info_path, INFO, json={"skus": [skus[1], "NO-SUCH-SKU"]}, headers=h)
    ).json()
    assert after["result"]["bids"] == [{"sku": skus[1], "bid": 777}], "unknown SKUs are ignored"
    await checked(ym, "PUT", path, BIDS, json={"bids": [{"sku": skus[1], "bid": 0}]}, headers=h)
    await advance(ym, 120)
    removed = (await checked(ym, "POST", info_path, INFO, json={"skus": [skus[1]]}, headers=h)).json()
    assert removed["result"]["bids"] == [], "bid 0 removes the SKU"
    store = b["campaign_ids"][0]
    by_store = await checked(
        ym,
        "PUT",
        f"/v2/campaigns/{store}/bids",
        "/v2/campaigns/{campaignId}/bids",
        json={"bids": [{"sku": skus[2], "bid": 60}]},
        headers=h,
    )
    assert by_store.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"bids": [{"sku": "SKU", "bid": 49}]},
        {"bids": [{"sku": "SKU", "bid": 10_000}]},
        {"bids": [{"sku": "SKU", "bid": "500"}]},
        {"bids": [{"sku": "", "bid": 500}]},
        {"bids": [{"sku": "SKU", "bid": 500}] * 1501},
        {"bids": []},
        {"bid": 1},
        [1, 2],
    ],
)
async def test_bad_bids_get_the_error_envelope(world: SandboxWorld, ym: httpx.AsyncClient, body: Any) -> None:
    path = f"/v2/businesses/{business(world)['business_id']}/bids"
    reply = await checked(ym, "PUT", path, BIDS, json=body, headers=ym_headers(world))
    assert reply.status_code == 400
    data = reply.json()
    assert data["status"] == "ERROR" and data["errors"][0]["code"] == "BAD_REQUEST"


async def test_auth_errors(world: SandboxWorld, ym: httpx.AsyncClient) -> None:
    path = f"/v2/businesses/{business(world)['business_id']}/bids/info"
    missing = await checked(ym, "POST", path, INFO, json={})
    assert missing.status_code == 401 and missing.json()["status"] == "ERROR"
    wrong = await checked(ym, "POST", path, INFO, json={}, headers={"Api-Key": "nope"})
    assert wrong.status_code == 401
    other = await checked(ym, "POST", "/v2/businesses/1/bids/info", INFO, json={}, headers=ym_headers(world))
    assert other.status_code == 403


async def test_bids_info_pages_with_tokens(world: SandboxWorld, ym: httpx.AsyncClient) -> None:
    b = business(world)
    h = ym_headers(world)
    path = f"/v2/businesses/{b['business_id']}/bids/info"
    campaign = world.sandbox.world.campaigns[b["business_id"]]
    expected = len([i for i in campaign.items.values() if i.bids.get("boost")])
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if token:
            params["pageToken"] = token
        page = (await checked(ym, "POST", path, INFO, params=params, headers=h)).json()["result"]
        seen += [b["sku"] for b in page["bids"]]
        token = page.get("paging", {}).get("nextPageToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) == expected
    assert (await checked(ym, "POST", path, INFO, params={"limit": 501}, headers=h)).status_code == 400
    assert (await checked(ym, "POST", path, INFO, params={"pageToken": "%%%"}, headers=h)).status_code == 400
    assert (await checked(ym, "POST", path, INFO, json={"skus": ["a"] * 501}, headers=h)).status_code == 400


async def test_recommendations(world: SandboxWorld, ym: httpx.AsyncClient) -> None:
    path = f"/v2/businesses/{business(world)['business_id']}/bids/recommendations"
    skus = catalogue(world)[:5]
    reply = (await checked(ym, "POST", path, RECS, json={"skus": skus}, headers=ym_headers(world))).json()
    recs = reply["result"]["recommendations"]
    assert [r["sku"] for r in recs] == skus
    for rec in recs:
        shares = [r["showPercent"] for r in rec["bidRecommendations"]]
        bids = [r["bid"] for r in rec["bidRecommendations"]]
        assert shares == sorted(shares, reverse=True) and bids == sorted(bids, reverse=True)
    too_many = await checked(
        ym, "POST", path, RECS, json={"skus": [f"s{i}" for i in range(1501)]}, headers=ym_headers(world)
    )
    assert too_many.status_code == 400


async def test_boost_report_generation(world: SandboxWorld, ym: httpx.AsyncClient) -> None:
    b = business(world)
    h = ym_headers(world)
    body = {"businessId": b["business_id"], "dateFrom": "2026-11-29", "dateTo": "2026-11-30"}
    generated = await checked(
        ym,
        "POST",
        "/v2/reports/boost-consolidated/generate",
        "/v2/reports/boost-consolidated/generate",
        json=body,
        headers=h,
    )
    report_id = generated.json()["result"]["reportId"]
    info = f"/v2/reports/info/{report_id}"
    assert (await checked(ym, "GET", info, "/v2/reports/info/{reportId}", headers=h)).json()["result"][
        "status"
    ] == "PENDING"
    await advance(ym, 10)
    assert (await checked(ym, "GET", info, "/v2/reports/info/{reportId}", headers=h)).json()["result"][
        "status"
    ] == "PROCESSING"
    await advance(ym, 60)
    done = (await checked(ym, "GET", info, "/v2/reports/info/{reportId}", headers=h)).json()["result"]
    assert done["status"] == "DONE" and done["file"]
    file = await ym.get(done["file"])
    assert file.status_code == 200 and file.text
    # One report per 2 minutes (tier `none`): another one inside the window is refused with 420,
    # and allowed once the window has passed.
    gen = "/v2/reports/boost-consolidated/generate"
    refused = await checked(ym, "POST", gen, gen, json=body, headers=h)
    assert refused.status_code == 420 and refused.headers["X-RateLimit-Resource-Remaining"] == "0"
    await advance(ym, 120)
    assert (await checked(ym, "POST", gen, gen, json=body, headers=h)).status_code == 200
    missing = await checked(ym, "GET", "/v2/reports/info/nope", "/v2/reports/info/{reportId}", headers=h)
    assert missing.status_code == 404


async def test_fifth_parallel_request_gets_420(world: SandboxWorld, ym: httpx.AsyncClient) -> None:
    path = f"/v2/businesses/{business(world)['business_id']}/bids/info"
    h = ym_headers(world)
    # Each request holds its slot 0.3 s, far longer than six requests take to arrive.
    assert (await ym.post("/_sandbox/settings", json={"ym_service_time_s": 0.3})).status_code == 200
    replies = await asyncio.gather(*(ym.post(path, json={}, headers=h) for _ in range(6)))
    codes = sorted(r.status_code for r in replies)
    assert codes.count(200) == 4 and codes.count(420) == 2
    refused = next(r for r in replies if r.status_code == 420)
    contract.validate("yandex_market", refused, path_pattern=INFO)
    assert "4 parallel requests" in refused.json()["errors"][0]["message"]
    # Sequential requests are fine again.
    assert (await ym.post(path, json={}, headers=h)).status_code == 200


async def test_order_stats_report_the_boost_fee(world: SandboxWorld, ym: httpx.AsyncClient) -> None:
    b = business(world)
    h = ym_headers(world)
    store = b["campaign_ids"][0]
    path = f"/v2/campaigns/{store}/stats/orders"
    pattern = "/v2/campaigns/{campaignId}/stats/orders"
    await advance(ym, 6 * 3600)
    body = {"dateFrom": "2026-11-29", "dateTo": "2026-11-30"}
    orders: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": 50}
        if token:
            params["pageToken"] = token
        page = (await checked(ym, "POST", path, pattern, params=params, json=body, headers=h)).json()[
            "result"
        ]
        orders += page["orders"]
        token = page.get("paging", {}).get("nextPageToken")
        if not token:
            break
    assert orders and len({o["id"] for o in orders}) == len(orders)
    campaign = world.sandbox.world.campaigns[b["business_id"]]
    boosted = {
        world.sandbox.world.products[i.product_id].shop_sku: i.bids["boost"] for i in campaign.items.values()
    }
    for order in orders:
        item = order["items"][0]
        # The fee is the boost bid (percent × 100) of the SKU; the commission is that share of the price.
        assert item["bidFee"] == pytest.approx(boosted[item["shopSku"]], abs=1)
        assert order["commissions"][0]["type"] == "AUCTION_PROMOTION"
        assert order["commissions"][0]["actual"] == pytest.approx(
            item["prices"][0]["total"] * item["bidFee"] / 10_000, abs=0.01
        )
    other_store = await checked(
        ym, "POST", f"/v2/campaigns/{b['campaign_ids'][1]}/stats/orders", pattern, json=body, headers=h
    )
    assert other_store.json()["result"]["orders"] == []
    bad = await checked(ym, "POST", path, pattern, json={"dateFrom": "yesterday"}, headers=h)
    assert bad.status_code == 400
    foreign = await checked(ym, "POST", "/v2/campaigns/1/stats/orders", pattern, json=body, headers=h)
    assert foreign.status_code == 403


async def test_report_error_fault_ends_a_boost_report_failed(
    world: SandboxWorld, ym: httpx.AsyncClient
) -> None:
    b = business(world)
    h = ym_headers(world)
    gen = "/v2/reports/boost-consolidated/generate"
    await ym.post("/_sandbox/faults", json={"path": gen, "kind": "report_error"})
    body = {"businessId": b["business_id"], "dateFrom": "2026-11-29", "dateTo": "2026-11-30"}
    report_id = (await checked(ym, "POST", gen, gen, json=body, headers=h)).json()["result"]["reportId"]
    await advance(ym, 60)
    info = (
        await checked(ym, "GET", f"/v2/reports/info/{report_id}", "/v2/reports/info/{reportId}", headers=h)
    ).json()
    assert info["result"]["status"] == "FAILED" and "file" not in info["result"]
