"""The WB adapter uses the documented maximum batch sizes: for N items it makes ceil(N / batch)
calls (promotion.json: adverts and fullstats 50 ids, normquery methods 100 items, nm bids
50 campaigns × 50 nms)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from app.core.config import reset_settings_cache
from app.sandbox.server import SandboxWorld, create_sandbox
from app.sandbox.world import WorldSize
from app.services.marketing.adapters.base import BidChange
from tests.services.adapters.conftest import FAST_FACTOR, sandbox_account
from tests.support.request_contract import check_requests

pytestmark = pytest.mark.anyio

CAMPAIGNS = 110
NMS_PER_CAMPAIGN = 2


@pytest.fixture
def sandbox_world(profile: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxWorld]:
    """One WB account with more campaigns than one call can carry."""
    monkeypatch.setenv("RATE_LIMIT_FACTOR", str(FAST_FACTOR))
    monkeypatch.setenv("HTTP_BACKOFF_BASE", "0.05")
    reset_settings_cache()
    size = WorldSize(wb_accounts=1, wb_campaigns=CAMPAIGNS, wb_nms_per_campaign=NMS_PER_CAMPAIGN)
    yield create_sandbox(seed=11, profile=profile, speed=1.0, size=size, fast_factor=FAST_FACTOR)
    monkeypatch.undo()
    reset_settings_cache()


def calls(requests: list[httpx.Request], path: str) -> int:
    return sum(1 for r in requests if r.url.path == path)


async def test_reads_use_the_maximum_batches(
    make_adapter: Callable[..., Any], sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = make_adapter("wb")
    owner = sandbox_account(sandbox_world, "wb")[0].id
    assert len(sandbox_world.sandbox.world.campaigns_of(owner)) == CAMPAIGNS

    campaigns = await adapter.list_campaigns()
    ids = [c.external_id for c in campaigns]
    assert len(ids) == CAMPAIGNS
    assert calls(sent_requests, "/api/advert/v2/adverts") == math.ceil(CAMPAIGNS / 50) == 3

    sent_requests.clear()
    keywords = await adapter.get_keywords(ids)
    assert len({(k.campaign_external_id, k.product_id) for k in keywords}) == CAMPAIGNS * NMS_PER_CAMPAIGN
    assert calls(sent_requests, "/api/advert/v2/adverts") == 3
    # Search clusters live in type-9 campaigns: one (advert, nm) pair per nm of those.
    type9 = [c for c in sandbox_world.sandbox.world.campaigns_of(owner) if c.kind == "9"]
    pairs = len(type9) * NMS_PER_CAMPAIGN
    assert pairs > 100
    assert calls(sent_requests, "/adv/v0/normquery/list") == math.ceil(pairs / 100)
    assert calls(sent_requests, "/adv/v0/normquery/get-bids") == math.ceil(pairs / 100)

    sent_requests.clear()
    day = sandbox_world.sandbox.market.today()
    assert await adapter.get_campaign_stats(ids, day)
    assert calls(sent_requests, "/adv/v3/fullstats") == 3

    sent_requests.clear()
    assert await adapter.get_keyword_stats(ids, day)
    assert calls(sent_requests, "/adv/v1/normquery/stats") == math.ceil(pairs / 100)

    sent_requests.clear()
    bids = await adapter.get_current_bids(keywords)
    assert len(bids) == len(keywords)
    # Only the (advert, nm) pairs that have clusters are asked for cluster bids.
    with_clusters = {(k.campaign_external_id, k.product_id) for k in keywords if k.kind == "cluster"}
    assert with_clusters  # (list and get-bids above already span several full batches)
    assert calls(sent_requests, "/adv/v0/normquery/get-bids") == math.ceil(len(with_clusters) / 100)
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()


async def test_bid_writes_use_the_maximum_batches(
    make_adapter: Callable[..., Any], sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = make_adapter("wb")
    campaigns = await adapter.list_campaigns()
    # PATCH /api/advert/v1/bids takes campaigns in statuses 4, 9 and 11.
    writable = [c.external_id for c in campaigns if c.marketplace_status in ("4", "9", "11")]
    keywords = await adapter.get_keywords(writable)
    nm_changes = [
        BidChange(k.campaign_external_id, k.external_id, 50_000) for k in keywords if k.kind == "nm"
    ]
    manual_cpm = {c.external_id for c in campaigns if c.campaign_type == "manual" and c.payment_type == "cpm"}
    cluster_changes = [
        BidChange(k.campaign_external_id, k.external_id, 50_000)
        for k in keywords
        if k.kind == "cluster" and k.campaign_external_id in manual_cpm and k.status == "active"
    ]
    assert len(writable) > 50 and len(cluster_changes) > 100
    sent_requests.clear()
    results = await adapter.set_bids(nm_changes + cluster_changes)
    assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
    assert len(results) == len(nm_changes) + len(cluster_changes)
    assert calls(sent_requests, "/api/advert/v1/bids") == math.ceil(len(writable) / 50)
    assert calls(sent_requests, "/api/advert/v1/normquery/bids") == math.ceil(len(cluster_changes) / 100)
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()
