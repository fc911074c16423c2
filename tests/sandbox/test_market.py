"""The market model: auction, spend, budgets, Moscow days, determinism."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.marketplaces import Marketplace
from app.sandbox.clock import moscow_date, next_moscow_midnight
from app.sandbox.market import SPEND, VIEWS
from app.sandbox.server import SandboxWorld, create_sandbox
from app.sandbox.world import Campaign
from tests.sandbox.conftest import accounts, advance, ozon_headers, wb_headers

pytestmark = pytest.mark.anyio


def manual_cpm(world: SandboxWorld) -> Campaign:
    account_id = accounts(world, Marketplace.WB)[0]["id"]
    return next(
        c
        for c in world.sandbox.world.campaigns.values()
        if c.account_id == account_id
        and c.bid_type == "manual"
        and c.payment_type == "cpm"
        and c.status == "9"
    )


def interval_totals(world: SandboxWorld, campaign: Campaign, nm: int, cluster_id: int) -> list[float]:
    day = moscow_date(world.sandbox.market.sim_time)
    return list(world.sandbox.market.day_rows(campaign.id, day).get((nm, cluster_id), [0.0] * 8))


async def run_interval(world: SandboxWorld, raise_bid: bool) -> tuple[int, float, float, int]:
    """Advance 30 min, optionally outbid every competitor, advance 30 min; report the cluster's
    position after, and its views and spend during the second interval."""
    campaign = manual_cpm(world)
    nm = next(iter(campaign.items))
    market = world.sandbox.market
    product = world.sandbox.world.products[nm]
    cluster = next(
        world.sandbox.world.clusters[c]
        for c in product.cluster_ids
        if world.sandbox.world.clusters[c].placement == "search"
    )
    async with world.client("wildberries") as wb:
        await advance(wb, 1800)
        if raise_bid:
            # Outbid every competitor in this block and the next two (their bids drift per block).
            now = world.sandbox.clock.now()
            top = max(
                max(market.competitor_bids(cluster, now + timedelta(seconds=k * 1800))) for k in range(3)
            )
            bid = top + 20_000
            body = {
                "bids": [
                    {
                        "advert_id": campaign.id,
                        "nm_bids": [{"nm_id": nm, "bid_kopecks": bid, "placement": "search"}],
                    }
                ]
            }
            assert (
                await wb.patch("/api/advert/v1/bids", json=body, headers=wb_headers(world))
            ).status_code == 200
        await advance(wb, 30)
        before = interval_totals(world, campaign, nm, cluster.id)
        await advance(wb, 1800)
        after = interval_totals(world, campaign, nm, cluster.id)
    entry = next(e for e in market.entries(campaign) if e.product.id == nm and e.cluster.id == cluster.id)
    position = market.position(entry, world.sandbox.clock.now())
    return position, after[VIEWS] - before[VIEWS], after[SPEND] - before[SPEND], bid if raise_bid else 0


async def test_raising_a_bid_above_the_competitors_improves_position_and_spend() -> None:
    control = create_sandbox(seed=21, speed=0)
    raised = create_sandbox(seed=21, speed=0)
    pos_control, views_control, spend_control, _ = await run_interval(control, raise_bid=False)
    pos_raised, views_raised, spend_raised, _ = await run_interval(raised, raise_bid=True)
    assert pos_raised == 1
    assert pos_raised < pos_control
    assert views_raised > views_control
    assert spend_raised > spend_control


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_spend_never_exceeds_the_budget(seed: int) -> None:
    world = create_sandbox(seed=seed, speed=0, history_days=0)
    active = [
        c
        for c in world.sandbox.world.campaigns.values()
        if c.marketplace == Marketplace.WB and c.status == "9"
    ]
    active[0].budget_kopecks = 50_000  # 500 ₽: runs out within the first day
    budgets = {c.id: c.budget_kopecks for c in active}
    async with world.client("wildberries") as wb:
        for _ in range(6):
            await advance(wb, 12 * 3600)
    market = world.sandbox.market
    exhausted = 0
    for campaign_id, budget in budgets.items():
        campaign = world.sandbox.world.campaigns[campaign_id]
        spent = sum(v[SPEND] for days in market.stats.get(campaign_id, {}).values() for v in days.values())
        assert spent <= budget + 1e-6
        # The remaining budget is the deposit minus what was charged, in whole kopecks (the fraction
        # of a kopeck not yet charged is carried).
        assert (
            campaign.budget_kopecks == 0
            or budget - spent - 1e-6 <= campaign.budget_kopecks < budget - spent + 1
        )
        if campaign.budget_kopecks == 0:
            exhausted += 1
            assert campaign.status == "11", "WB pauses a campaign whose budget ran out"
    assert exhausted >= 1


async def test_ozon_daily_budget_caps_each_moscow_day(world: SandboxWorld, ozon: httpx.AsyncClient) -> None:
    h = await ozon_headers(ozon, world)
    campaign = next(
        c
        for c in world.sandbox.world.campaigns.values()
        if c.marketplace == Marketplace.OZON and c.status == "CAMPAIGN_STATE_RUNNING" and c.kind == "SKU"
    )
    reply = await ozon.patch(
        f"/api/client/campaign/{campaign.id}", json={"dailyBudget": "100000000", "budget": "0"}, headers=h
    )  # 100 ₽ a day
    assert reply.status_code == 200
    start_day = moscow_date(world.sandbox.clock.now())
    await advance(ozon, 3 * 86400)
    market = world.sandbox.market
    for day, rows in market.stats[campaign.id].items():
        if day > start_day:
            spent = sum(v[SPEND] for v in rows.values())
            assert spent <= 10_000 + 1e-6
            assert spent > 9_000, "a busy campaign spends its whole daily budget"


async def test_counters_reset_at_moscow_midnight(world: SandboxWorld, wb: httpx.AsyncClient) -> None:
    h = wb_headers(world)
    campaign = manual_cpm(world)
    now = world.sandbox.clock.now()
    midnight = next_moscow_midnight(now)
    assert midnight.astimezone(UTC).hour == 21, "Moscow midnight is 21:00 UTC"
    moved = await wb.post(
        "/_sandbox/clock", json={"set": datetime.fromtimestamp(midnight.timestamp() - 60, UTC).isoformat()}
    )
    assert moved.status_code == 200
    today = moscow_date(world.sandbox.clock.now())
    params = {"ids": str(campaign.id), "beginDate": today.isoformat(), "endDate": today.isoformat()}
    before = (await wb.get("/adv/v3/fullstats", params=params, headers=h)).json()[0]
    assert before["views"] > 0
    await advance(wb, 120)
    tomorrow = moscow_date(world.sandbox.clock.now())
    assert tomorrow != today
    await advance(wb, 20)
    both = {"ids": str(campaign.id), "beginDate": today.isoformat(), "endDate": tomorrow.isoformat()}
    after = (await wb.get("/adv/v3/fullstats", params=both, headers=h)).json()[0]
    by_date = {d["date"][:10]: d for d in after["days"]}
    assert by_date[today.isoformat()]["views"] >= before["views"]
    # The new day starts from zero: two minutes of a night hour, far below the day's total.
    assert 0 < by_date[tomorrow.isoformat()]["views"] < before["views"] / 100


async def test_same_seed_same_world_and_same_answers() -> None:
    async def session(seed: int) -> list[Any]:
        world = create_sandbox(seed=seed, speed=0)
        out: list[Any] = [world.sandbox.accounts_json()]
        async with world.client("wildberries") as wb:
            h = wb_headers(world)
            campaign = manual_cpm(world)
            nm = next(iter(campaign.items))
            body = {
                "bids": [
                    {
                        "advert_id": campaign.id,
                        "nm_bids": [{"nm_id": nm, "bid_kopecks": 90_000, "placement": "search"}],
                    }
                ]
            }
            out.append((await wb.patch("/api/advert/v1/bids", json=body, headers=h)).json())
            await advance(wb, 7200)
            ids = ",".join(map(str, accounts(world, Marketplace.WB)[0]["campaign_ids"]))
            out.append(
                (
                    await wb.get(
                        "/adv/v3/fullstats",
                        params={"ids": ids, "beginDate": "2026-11-29", "endDate": "2026-11-30"},
                        headers=h,
                    )
                ).json()
            )
            out.append(
                (
                    await wb.get(
                        "/api/advert/v0/bids/recommendations",
                        params={"advertId": campaign.id, "nmId": nm},
                        headers=h,
                    )
                ).json()
            )
            out.append((await wb.get("/adv/v1/balance", headers=h)).json())
            out.append((await wb.get("/adv/v1/balance", headers={"Authorization": "x"})).json()["requestId"])
        return out

    first, second, other = await session(5), await session(5), await session(6)
    assert first == second
    assert first[0] != other[0]


def test_world_size_presets_reach_the_benchmark_scale() -> None:
    from app.sandbox.world import WorldSize, build_world

    size = WorldSize.preset("bench")
    assert (size.wb_campaigns, size.wb_clusters, size.ozon_campaigns, size.ym_skus) == (
        300,
        10_000,
        100,
        5_000,
    )
    world = build_world(3, size)
    wb = [c for c in world.campaigns.values() if c.marketplace == Marketplace.WB]
    ym_skus = [p for p in world.products.values() if p.marketplace == Marketplace.YM]
    assert len(wb) == 300 and len(ym_skus) == 5_000 * size.ym_accounts
    assert (
        sum(1 for c in world.clusters.values() if c.marketplace == Marketplace.WB and c.placement == "search")
        == 10_000
    )
    with pytest.raises(ValueError, match="unknown world size"):
        WorldSize.preset("huge")


FINGERPRINT = """
import hashlib, json
from app.sandbox.server import create_sandbox
world = create_sandbox(seed=5, speed=0)
world.sandbox.clock.advance(3 * 3600)
world.sandbox.now()
cluster = next(iter(world.sandbox.world.clusters.values()))
state = {
    "accounts": world.sandbox.accounts_json(),
    "watcher": world.sandbox.watcher_key,
    "bids": world.sandbox.market.competitor_bids(cluster, world.sandbox.clock.now()),
    "spend": [round(c.spent_total, 6) for c in world.sandbox.world.campaigns.values()],
}
print(hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest())
"""


def test_same_seed_gives_the_same_world_in_another_process() -> None:
    """No per-process randomness (such as str hashing) leaks into the world."""
    import os
    import subprocess
    import sys

    runs = [
        subprocess.run(
            [sys.executable, "-c", FINGERPRINT],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
        ).stdout
        for hash_seed in (1, 2)
    ]
    assert runs[0] == runs[1] and len(runs[0].strip()) == 64
