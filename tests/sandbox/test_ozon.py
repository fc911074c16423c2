"""The Ozon Performance sandbox against specs/ozon-performance/performance-openapi.json."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx
import pytest

from app.core.marketplaces import Marketplace
from app.sandbox.server import SandboxWorld
from tests.sandbox import contract
from tests.sandbox.conftest import accounts, advance, ozon_headers

pytestmark = pytest.mark.anyio


def campaigns(world: SandboxWorld, **match: str) -> list[Any]:
    return [
        c
        for c in world.sandbox.world.campaigns.values()
        if c.marketplace == Marketplace.OZON and all(getattr(c, k) == v for k, v in match.items())
    ]


async def checked(
    client: httpx.AsyncClient, method: str, path: str, pattern: str | None = None, **kwargs: Any
) -> httpx.Response:
    reply = await client.request(method, path, **kwargs)
    contract.validate("ozon", reply, path_pattern=pattern)
    assert reply.status_code < 500, reply.text
    return reply


async def test_token_expires_after_1800_seconds(world: SandboxWorld, ozon: httpx.AsyncClient) -> None:
    h = await ozon_headers(ozon, world)
    assert (await checked(ozon, "GET", "/api/client/campaign", headers=h)).status_code == 200
    await advance(ozon, 1799)
    assert (await checked(ozon, "GET", "/api/client/campaign", headers=h)).status_code == 200
    await advance(ozon, 1)
    expired = await checked(ozon, "GET", "/api/client/campaign", headers=h)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]
    refreshed = await ozon_headers(ozon, world)
    assert (await checked(ozon, "GET", "/api/client/campaign", headers=refreshed)).status_code == 200
    creds = accounts(world, Marketplace.OZON)[0]["credentials"]
    wrong = await ozon.post(
        "/api/client/token", json={**creds, "client_secret": "x", "grant_type": "client_credentials"}
    )
    assert wrong.status_code == 401 and "error" in wrong.json()
    assert (await checked(ozon, "GET", "/api/client/campaign")).status_code == 401


async def test_campaign_list_pages_from_one_with_micro_ruble_money(
    world: SandboxWorld, ozon: httpx.AsyncClient
) -> None:
    h = await ozon_headers(ozon, world)
    everything = (await checked(ozon, "GET", "/api/client/campaign", headers=h)).json()["list"]
    assert len(everything) == len(campaigns(world))
    first = (
        await checked(ozon, "GET", "/api/client/campaign", params={"page": 1, "pageSize": 4}, headers=h)
    ).json()["list"]
    second = (
        await checked(ozon, "GET", "/api/client/campaign", params={"page": 2, "pageSize": 4}, headers=h)
    ).json()["list"]
    assert [c["id"] for c in first + second] == [c["id"] for c in everything[:8]]
    running = (
        await checked(
            ozon, "GET", "/api/client/campaign", params={"state": "CAMPAIGN_STATE_RUNNING"}, headers=h
        )
    ).json()["list"]
    assert running and all(c["state"] == "CAMPAIGN_STATE_RUNNING" for c in running)
    model = {c.id: c for c in campaigns(world)}
    for c in everything:
        assert int(c["budget"]) == model[int(c["id"])].budget_kopecks * 10_000
    assert (
        await checked(ozon, "GET", "/api/client/campaign", params={"page": 0}, headers=h)
    ).status_code == 400


async def test_activate_and_deactivate(world: SandboxWorld, ozon: httpx.AsyncClient) -> None:
    h = await ozon_headers(ozon, world)
    inactive = campaigns(world, status="CAMPAIGN_STATE_INACTIVE")[0]
    pattern = "/api/client/campaign/{campaignId}/activate"
    reply = await checked(
        ozon, "POST", f"/api/client/campaign/{inactive.id}/activate", pattern, json={}, headers=h
    )
    assert reply.json()["state"] == "CAMPAIGN_STATE_RUNNING"
    pattern = "/api/client/campaign/{campaignId}/deactivate"
    reply = await checked(
        ozon, "POST", f"/api/client/campaign/{inactive.id}/deactivate", pattern, json={}, headers=h
    )
    assert reply.json()["state"] == "CAMPAIGN_STATE_INACTIVE"
    archived = campaigns(world, status="CAMPAIGN_STATE_ARCHIVED")[0]
    assert (
        await checked(ozon, "POST", f"/api/client/campaign/{archived.id}/activate", json={}, headers=h)
    ).status_code == 400
    assert (
        await checked(ozon, "POST", "/api/client/campaign/1/activate", json={}, headers=h)
    ).status_code == 404
    patched = await checked(
        ozon,
        "PATCH",
        f"/api/client/campaign/{inactive.id}",
        "/api/client/campaign/{campaignId}",
        json={"dailyBudget": "500000000"},
        headers=h,
    )
    assert patched.status_code == 200 and inactive.daily_budget_kopecks == 50_000


async def test_products_and_bids(world: SandboxWorld, ozon: httpx.AsyncClient) -> None:
    h = await ozon_headers(ozon, world)
    campaign = campaigns(world, kind="SKU", payment_type="CPC", status="CAMPAIGN_STATE_RUNNING")[0]
    base = f"/api/client/campaign/{campaign.id}"
    products = (
        await checked(
            ozon, "GET", f"{base}/v2/products", "/api/client/campaign/{campaignId}/v2/products", headers=h
        )
    ).json()["products"]
    assert {int(p["sku"]) for p in products} == set(campaign.items)
    sku = int(products[0]["sku"])
    put = await checked(
        ozon, "PUT", f"{base}/products", json={"bids": [{"sku": str(sku), "bid": "25000000"}]}, headers=h
    )
    assert put.status_code == 200 and campaign.items[sku].bids["cpc"] == 2500
    bad: dict[str, Any]
    for bad in (
        {"bids": [{"sku": str(sku), "bid": "100"}]},  # below the minimum
        {"bids": [{"sku": str(sku), "bid": "abc"}]},
        {"bids": [{"sku": "1", "bid": "25000000"}]},  # not in the catalogue
        {"bids": [{"sku": str(sku)}] * 501},  # over the 500-product cap
        {"bids": []},
    ):
        assert (await checked(ozon, "PUT", f"{base}/products", json=bad, headers=h)).status_code == 400
    assert campaign.items[sku].bids["cpc"] == 2500
    competitive = await checked(
        ozon,
        "GET",
        f"{base}/products/bids/competitive",
        "/api/client/campaign/{campaignId}/products/bids/competitive",
        params={"skus": [str(sku), "1"]},
        headers=h,
    )
    bids = {b["sku"]: int(b["bid"]) for b in competitive.json()["bids"]}
    assert bids[str(sku)] > 0 and bids["1"] == 0
    many = await checked(
        ozon,
        "GET",
        f"{base}/products/bids/competitive",
        params={"skus": [str(i) for i in range(1, 202)]},
        headers=h,
    )
    assert many.status_code == 400
    removed = await checked(ozon, "POST", f"{base}/products/delete", json={"sku": [str(sku)]}, headers=h)
    assert removed.status_code == 200 and sku not in campaign.items
    added = await checked(ozon, "POST", f"{base}/products", json={"bids": [{"sku": str(sku)}]}, headers=h)
    assert added.status_code == 200 and campaign.items[sku].bids["cpc"] >= 800, (
        "competitive bid set when omitted"
    )
    limits = (await checked(ozon, "GET", "/api/client/limits/list", headers=h)).json()
    assert limits["limits"][0]["minBid"] == 8.0
    mins = (
        await checked(
            ozon, "POST", "/api/client/min/sku", json={"sku": [str(sku)], "paymentType": "CPC"}, headers=h
        )
    ).json()
    assert mins["minBids"][0]["sku"] == str(sku)


async def test_async_report_flow(world: SandboxWorld, ozon: httpx.AsyncClient) -> None:
    h = await ozon_headers(ozon, world)
    ids = [str(c.id) for c in campaigns(world)[:3]]
    created = await checked(
        ozon,
        "POST",
        "/api/client/statistics",
        json={"campaigns": ids[:1], "dateFrom": "2026-11-29", "dateTo": "2026-11-30"},
        headers=h,
    )
    uuid = created.json()["UUID"]
    state = await checked(
        ozon, "GET", f"/api/client/statistics/{uuid}", "/api/client/statistics/{UUID}", headers=h
    )
    assert state.json()["state"] == "NOT_STARTED"
    busy = await checked(ozon, "POST", "/api/client/statistics", json={"campaigns": ids[1:2]}, headers=h)
    assert busy.status_code == 429, "one running report per account"
    not_ready = await ozon.get("/api/client/statistics/report", params={"UUID": uuid}, headers=h)
    assert not_ready.status_code == 404
    await advance(ozon, 6)
    assert (
        await checked(
            ozon, "GET", f"/api/client/statistics/{uuid}", "/api/client/statistics/{UUID}", headers=h
        )
    ).json()["state"] == "IN_PROGRESS"
    await advance(ozon, 30)
    done = (
        await checked(
            ozon, "GET", f"/api/client/statistics/{uuid}", "/api/client/statistics/{UUID}", headers=h
        )
    ).json()
    assert done["state"] == "OK" and done["link"]
    csv_reply = await checked(ozon, "GET", "/api/client/statistics/report", params={"UUID": uuid}, headers=h)
    assert csv_reply.headers["content-type"].startswith("text/csv")
    assert f"№ {ids[0]}" in csv_reply.text.splitlines()[0]
    several = await ozon.post("/api/client/statistics", json={"campaigns": ids}, headers=h)
    await advance(ozon, 60)
    zipped = await ozon.get(
        "/api/client/statistics/report", params={"UUID": several.json()["UUID"]}, headers=h
    )
    assert zipped.headers["content-type"] == "application/zip"
    assert sorted(zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()) == sorted(f"{i}.csv" for i in ids)
    too_many = await checked(
        ozon,
        "POST",
        "/api/client/statistics",
        json={"campaigns": [str(c.id) for c in campaigns(world)]},
        headers=h,
    )
    assert too_many.status_code == 400
    too_long = await checked(
        ozon,
        "POST",
        "/api/client/statistics",
        json={"campaigns": ids[:1], "dateFrom": "2026-01-01", "dateTo": "2026-11-30"},
        headers=h,
    )
    assert too_long.status_code == 400
    assert (
        await checked(ozon, "GET", "/api/client/statistics/report", params={"UUID": "nope"}, headers=h)
    ).status_code == 404


async def test_sync_statistics(world: SandboxWorld, ozon: httpx.AsyncClient) -> None:
    h = await ozon_headers(ozon, world)
    running = campaigns(world, kind="SKU", status="CAMPAIGN_STATE_RUNNING")[0]
    rows = await checked(
        ozon,
        "POST",
        "/api/client/statistics/products/sku",
        json={"campaignIds": [str(running.id)], "dateFrom": "2026-11-29", "dateTo": "2026-11-30"},
        headers=h,
    )
    data = rows.json()["rows"]
    assert data and all(isinstance(r["views"], str) and isinstance(r["expense"], str) for r in data)
    daily = await ozon.get(
        "/api/client/statistics/daily/json",
        params={"campaignIds": str(running.id), "dateFrom": "2026-11-29", "dateTo": "2026-11-30"},
        headers=h,
    )
    assert daily.status_code == 200 and daily.json()["rows"]
    # The spec declares a JSON wrapper for this CSV endpoint, so it is checked by hand.
    csv_daily = await ozon.get("/api/client/statistics/daily", headers=h)
    assert csv_daily.status_code == 200 and csv_daily.text.startswith("ID;")


async def test_daily_request_quota(world: SandboxWorld, ozon: httpx.AsyncClient) -> None:
    from app.sandbox.ratelimit import Profile

    world.sandbox.profile = Profile("tiny", 0.0001)  # 100 000 × 0.0001 = 10 requests a day
    h = await ozon_headers(ozon, world)
    codes = [(await ozon.get("/api/client/campaign", headers=h)).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    # Statistics by SKU does not consume the limits (spec).
    free = await ozon.post(
        "/api/client/statistics/products/sku", json={"campaignIds": [str(campaigns(world)[0].id)]}, headers=h
    )
    assert free.status_code == 200
    await advance(ozon, 24 * 3600)
    h = await ozon_headers(ozon, world)
    assert (await ozon.get("/api/client/campaign", headers=h)).status_code == 200


async def test_campaign_totals_and_expense_do_not_consume_limits(
    world: SandboxWorld, ozon: httpx.AsyncClient
) -> None:
    h = await ozon_headers(ozon, world)
    running = campaigns(world, kind="SKU", status="CAMPAIGN_STATE_RUNNING")[0]
    params = {"campaignIds": str(running.id), "dateFrom": "2026-11-29", "dateTo": "2026-11-30"}
    used = world.sandbox.ozon_daily.used
    account_id = running.account_id
    before = used(account_id, world.sandbox.market.today())
    totals = (
        await ozon.get("/api/client/statistics/campaign/product/json", params=params, headers=h)
    ).json()["rows"]
    assert used(account_id, world.sandbox.market.today()) == before, "free of the daily quota (spec)"
    assert [r["id"] for r in totals] == [str(running.id)]
    expense = (await ozon.get("/api/client/statistics/expense/json", params=params, headers=h)).json()["rows"]

    # The period's spend is the sum of the days' spend.
    def kopecks(text: str) -> int:
        rubles, kop = text.split(",")
        return int(rubles) * 100 + int(kop)

    assert abs(kopecks(totals[0]["moneySpent"]) - sum(kopecks(r["moneySpent"]) for r in expense)) <= len(
        expense
    )
    csv_totals = await ozon.get("/api/client/statistics/campaign/product", params=params, headers=h)
    assert csv_totals.headers["content-type"].startswith("text/csv") and str(running.id) in csv_totals.text


async def test_json_reports_and_failed_reports(world: SandboxWorld, ozon: httpx.AsyncClient) -> None:
    h = await ozon_headers(ozon, world)
    running = campaigns(world, kind="SKU", status="CAMPAIGN_STATE_RUNNING")[:2]
    ids = [str(c.id) for c in running]
    made = await ozon.post(
        "/api/client/statistics/json",
        json={"campaigns": ids, "dateFrom": "2026-11-29", "dateTo": "2026-11-30"},
        headers=h,
    )
    await advance(ozon, 60)
    report = (
        await ozon.get("/api/client/statistics/report", params={"UUID": made.json()["UUID"]}, headers=h)
    ).json()
    assert sorted(report) == sorted(ids)
    for cid in ids:
        rows = report[cid]["report"]["rows"]
        assert int(report[cid]["report"]["totals"]["views"]) == sum(int(r["views"]) for r in rows)
    await ozon.post("/_sandbox/faults", json={"path": "/api/client/statistics", "kind": "report_error"})
    failing = await ozon.post("/api/client/statistics", json={"campaigns": ids[:1]}, headers=h)
    await advance(ozon, 60)
    state = await checked(
        ozon,
        "GET",
        f"/api/client/statistics/{failing.json()['UUID']}",
        "/api/client/statistics/{UUID}",
        headers=h,
    )
    assert state.json()["state"] == "ERROR" and state.json()["error"]


async def test_pay_per_order_products_show_percent_bids(world: SandboxWorld, ozon: httpx.AsyncClient) -> None:
    h = await ozon_headers(ozon, world)
    promo = campaigns(world, kind="SEARCH_PROMO")[0]
    path = "/api/client/campaign/search_promo/v2/products"
    reply = await checked(ozon, "POST", path, json={"page": 1, "pageSize": 2}, headers=h)
    data = reply.json()
    assert int(data["total"]) == len(promo.items) and len(data["products"]) == 2
    first = data["products"][0]
    item = promo.items[int(first["sku"])]
    assert first["bid"] == item.bids["cpo"] / 100
    price = world.sandbox.world.products[int(first["sku"])].price_kopecks
    assert float(first["bidPrice"]) == pytest.approx(price / 100 * first["bid"] / 100, abs=0.01)
    assert (await checked(ozon, "POST", path, json={"page": 0}, headers=h)).status_code == 400
    wrong = await checked(
        ozon,
        "GET",
        f"/api/client/campaign/{promo.id}/v2/products",
        "/api/client/campaign/{campaignId}/v2/products",
        headers=h,
    )
    assert wrong.status_code == 400 and "search_promo" in wrong.json()["error"]
