"""The Wildberries adapter against the sandbox: every method in-process over ASGI (one over real
HTTP), compared with the sandbox's world; requests checked against the official schemas."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from app.core.config import get_settings, reset_settings_cache
from app.sandbox.market import SPEND, VIEWS
from app.sandbox.server import SandboxWorld, ServerThread
from app.sandbox.world import Campaign as WorldCampaign
from app.services.marketing.adapters import get_adapter
from app.services.marketing.adapters import wildberries_parse as wp
from app.services.marketing.adapters.base import (
    AuthError,
    BidChange,
    Keyword,
    PermanentError,
    TransientError,
)
from app.services.marketing.adapters.http import Pacing, RetryPolicy
from app.services.marketing.adapters.limits import WbTokenType
from app.services.marketing.adapters.wildberries import WildberriesAdapter
from tests.services.adapters.conftest import sandbox_account
from tests.support.request_contract import check_requests

pytestmark = pytest.mark.anyio

Factory = Callable[..., Any]


def wb(make_adapter: Factory, **kwargs: Any) -> WildberriesAdapter:
    adapter = make_adapter("wb", **kwargs)
    assert isinstance(adapter, WildberriesAdapter)
    return adapter


def account_id(world: SandboxWorld, index: int = 0) -> int:
    return sandbox_account(world, "wb", index)[0].id


def world_campaigns(world: SandboxWorld, index: int = 0) -> dict[int, WorldCampaign]:
    owner = account_id(world, index)
    return {c.id: c for c in world.sandbox.world.campaigns_of(owner)}


def find_campaign(world: SandboxWorld, **wanted: str) -> WorldCampaign:
    for campaign in world_campaigns(world).values():
        if all(getattr(campaign, k) == v for k, v in wanted.items()):
            return campaign
    raise AssertionError(f"the seeded world has no WB campaign with {wanted}")


def paths(requests: list[httpx.Request], path: str) -> list[httpx.Request]:
    return [r for r in requests if r.url.path == path]


def today(world: SandboxWorld) -> date:
    return world.sandbox.market.today()


async def add_fault(world: SandboxWorld, **fault: Any) -> None:
    async with world.client("wildberries") as control:
        reply = await control.post("/_sandbox/faults", json=fault)
        assert reply.status_code == 201, reply.text


# --- reading -----------------------------------------------------------------------------------


async def test_sets_the_limit_key_from_the_token_type(make_adapter: Factory) -> None:
    adapter = wb(make_adapter)
    assert adapter.token_type == WbTokenType.PERSONAL
    assert adapter._transport.pacing.limit_key == "personal"
    await adapter.aclose()


async def test_lists_every_campaign_with_internal_status_type_and_payment(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    await adapter.ping()
    campaigns = {c.external_id: c for c in await adapter.list_campaigns()}
    expected = world_campaigns(sandbox_world)
    assert set(campaigns) == {str(i) for i in expected}
    statuses = {"4": "draft", "7": "stopped", "8": "stopped", "9": "active", "11": "paused", "-1": "archived"}
    for campaign_id, world_campaign in expected.items():
        ours = campaigns[str(campaign_id)]
        assert ours.status == statuses[world_campaign.status]
        assert ours.marketplace_status == world_campaign.status
        assert ours.payment_type == world_campaign.payment_type
        assert ours.name == world_campaign.name
        if world_campaign.kind == "9":
            assert ours.campaign_type == world_campaign.bid_type
    assert len(paths(sent_requests, "/api/advert/v2/adverts")) == 1
    assert check_requests("wb", sent_requests) == len(sent_requests) == 3
    await adapter.aclose()


async def test_keywords_are_nm_bids_and_search_clusters_with_current_bids(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    expected = world_campaigns(sandbox_world)
    keywords = await adapter.get_keywords([str(i) for i in expected])
    ids = [(k.campaign_external_id, k.external_id) for k in keywords]
    assert len(ids) == len(set(ids)), "keyword ids must be unique within a campaign"
    for kw in keywords:
        item = expected[int(kw.campaign_external_id)].items[int(str(kw.product_id))]
        if kw.kind == "nm":
            placement = kw.external_id.split(":")[2] if kw.external_id.count(":") == 2 else "combined"
            assert kw.current_bid == item.bids[placement]
    clusters = [k for k in keywords if k.kind == "cluster"]
    assert clusters, "the seeded world has clusters with enough views"
    assert {k.status for k in clusters} <= {"active", "excluded"}
    assert {expected[int(k.campaign_external_id)].kind for k in clusters} == {"9"}  # legacy types have none
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()


async def test_campaign_stats_are_the_days_counters_with_money_in_kopecks(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    expected = world_campaigns(sandbox_world)
    day = today(sandbox_world)
    snapshots = await adapter.get_campaign_stats([str(i) for i in expected], day)
    campaign_level = [s for s in snapshots if s.keyword_external_id is None]
    with_stats = {i for i, c in expected.items() if c.status in ("7", "9", "11")}
    assert {int(s.campaign_external_id) for s in campaign_level} == with_stats
    market = sandbox_world.sandbox.market
    spent_somewhere = False
    per_nm: dict[tuple[int, int], float] = {}
    for snapshot in campaign_level:
        campaign = int(snapshot.campaign_external_id)
        for (nm, _cluster), values in market.day_rows(campaign, day).items():
            per_nm[(campaign, nm)] = per_nm.get((campaign, nm), 0.0) + values[SPEND]
        assert snapshot.spent == sum(int(v) for (c, _), v in per_nm.items() if c == campaign)
        assert snapshot.stat_date == day
        spent_somewhere = spent_somewhere or snapshot.spent > 0
    assert spent_somewhere
    # Issue 9 finding 4: each nm of a campaign bidding its nms in one placement gets its own
    # counters (the nm bid's keyword), so the cycle can steer — and raise — that bid.
    nm_level = [s for s in snapshots if s.keyword_external_id is not None]
    assert nm_level
    for snapshot in nm_level:
        nm_id, placement = wp.parse_nm_bid_id(snapshot.keyword_external_id or "")
        campaign = expected[int(snapshot.campaign_external_id)]
        assert placement == ("combined" if campaign.bid_type == "unified" else placement)
        assert snapshot.spent == int(per_nm[(campaign.id, nm_id)])
    assert len(paths(sent_requests, "/adv/v3/fullstats")) == 1
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()


async def test_campaigns_without_statistics_give_no_snapshots_not_an_error(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    # WB answers 400 "invalid ids" when none of the ids has statistics (drafts, unknown ids).
    adapter = wb(make_adapter)
    draft = find_campaign(sandbox_world, status="4")
    assert await adapter.get_campaign_stats([str(draft.id), "999"], today(sandbox_world)) == []
    assert len(paths(sent_requests, "/adv/v3/fullstats")) == 1
    await adapter.aclose()


async def test_keyword_stats_are_cluster_counters_of_the_day(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    expected = world_campaigns(sandbox_world)
    day = today(sandbox_world)
    snapshots = await adapter.get_keyword_stats([str(i) for i in expected], day)
    assert snapshots
    clusters = sandbox_world.sandbox.world.clusters
    by_text = {c.text: cid for cid, c in clusters.items()}
    for snapshot in snapshots:
        assert snapshot.keyword_external_id is not None
        nm, _, text = snapshot.keyword_external_id.partition(":")
        values = sandbox_world.sandbox.market.day_rows(int(snapshot.campaign_external_id), day)[
            (int(nm), by_text[text])
        ]
        assert snapshot.spent == int(values[SPEND])
        if expected[int(snapshot.campaign_external_id)].payment_type == "cpm":
            assert snapshot.views == int(values[VIEWS])
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()


async def test_current_bids_match_the_keywords(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    keywords = await adapter.get_keywords([str(i) for i in world_campaigns(sandbox_world)])
    bids = await adapter.get_current_bids(keywords)
    assert bids == {(k.campaign_external_id, k.external_id): k.current_bid for k in keywords}
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()


async def test_budget_and_balance_are_kopecks(make_adapter: Factory, sandbox_world: SandboxWorld) -> None:
    adapter = wb(make_adapter)
    campaign = find_campaign(sandbox_world, status="9")
    account = sandbox_world.sandbox.world.accounts[account_id(sandbox_world)]
    assert await adapter.get_budget(str(campaign.id)) == campaign.budget_kopecks // 100 * 100
    assert await adapter.get_balance() == account.wb_balance_kopecks // 100 * 100
    await adapter.aclose()


# --- writing -----------------------------------------------------------------------------------


async def test_set_bids_reports_one_result_per_item_including_api_rejections(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    manual = find_campaign(sandbox_world, status="9", bid_type="manual", payment_type="cpm")
    keywords = await adapter.get_keywords([str(manual.id)])
    nms = [k for k in keywords if k.kind == "nm" and k.external_id.endswith(":search")]
    clusters = [k for k in keywords if k.kind == "cluster" and k.status == "active"]
    assert len(nms) >= 2 and len(clusters) >= 2
    cid = str(manual.id)
    changes = [
        BidChange(cid, nms[0].external_id, 40_000),
        BidChange(cid, nms[1].external_id, 100),  # below WB's minimum: WB rejects this item
        BidChange(cid, clusters[0].external_id, 41_000),
        BidChange(cid, clusters[1].external_id, 41_050),  # not a multiple of cpmStep
        BidChange(cid, "nm:1:search", 40_000),  # not in the campaign
        BidChange(cid, "garbage", 40_000),
    ]
    results = await adapter.set_bids(changes)
    assert [r.key for r in results] == [c.key for c in changes]
    assert [r.ok for r in results] == [True, False, True, False, False, False]
    assert "min" in str(results[1].error)
    assert "multiple" in str(results[3].error)
    effects = [e.effect for e in sandbox_world.sandbox.effects.since(0)]
    nm_sets = [b for e in effects if e.get("action") == "set_nm_bids" for b in e["bids"]]
    assert nm_sets == [
        {
            "advert_id": manual.id,
            "nm_id": int(str(nms[0].product_id)),
            "placement": "search",
            "bid_kopecks": 40_000,
        }
    ]
    cluster_sets = [b for e in effects if e.get("action") == "set_cluster_bids" for b in e["bids"]]
    assert cluster_sets == [
        {
            "advert_id": manual.id,
            "nm_id": int(str(clusters[0].product_id)),
            "norm_query": clusters[0].keyword,
            "bid_kopecks": 41_000,
        }
    ]
    # The rejected PATCH and its resend without the bad items; one cluster call.
    assert len(paths(sent_requests, "/api/advert/v1/bids")) == 2
    assert len(paths(sent_requests, "/api/advert/v1/normquery/bids")) == 1
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()


async def test_the_same_item_twice_in_one_batch_is_refused(make_adapter: Factory) -> None:
    adapter = wb(make_adapter)
    results = await adapter.set_bids(
        [BidChange("1", "nm:5", 30_000), BidChange("1", "nm:5", 31_000), BidChange("1", "nm:6", 0)]
    )
    assert [(r.key, r.ok) for r in results] == [
        (("1", "nm:5"), False),
        (("1", "nm:5"), False),
        (("1", "nm:6"), False),
    ]
    assert results[0].error == results[1].error == "the same item is changed twice in one batch"
    assert "positive" in str(results[2].error)
    await adapter.aclose()


async def test_pause_and_resume_are_idempotent(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    campaign = find_campaign(sandbox_world, status="9")
    await adapter.pause_campaign(str(campaign.id))
    assert campaign.status == "11"
    await adapter.pause_campaign(str(campaign.id))  # WB: 422 "status not changed" — already paused
    assert campaign.status == "11"
    await adapter.resume_campaign(str(campaign.id))
    assert campaign.status == "9"
    await adapter.resume_campaign(str(campaign.id))
    assert campaign.status == "9"
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()


async def test_pausing_a_campaign_that_cannot_pause_is_a_clear_permanent_error(
    make_adapter: Factory, sandbox_world: SandboxWorld
) -> None:
    adapter = wb(make_adapter)
    draft = find_campaign(sandbox_world, status="4")
    with pytest.raises(PermanentError, match=r"HTTP 422.*status 4, draft") as caught:
        await adapter.pause_campaign(str(draft.id))
    assert caught.value.status == 422
    with pytest.raises(PermanentError, match="not a WB campaign id"):
        await adapter.pause_campaign("abc")
    await adapter.aclose()


async def test_pause_keyword_adds_the_cluster_to_the_existing_minus_phrases(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    manual = find_campaign(sandbox_world, status="9", bid_type="manual", payment_type="cpm")
    keywords = await adapter.get_keywords([str(manual.id)])
    cluster = next(k for k in keywords if k.kind == "cluster" and k.status == "active")
    item = manual.items[int(str(cluster.product_id))]
    item.minus_phrases = ["уже исключено"]
    await adapter.pause_keyword(cluster)
    assert item.minus_phrases == ["уже исключено", cluster.keyword]
    await adapter.pause_keyword(cluster)  # already excluded: nothing to send
    assert len(paths(sent_requests, "/adv/v0/normquery/set-minus")) == 1
    assert len(paths(sent_requests, "/adv/v0/normquery/get-minus")) == 2
    after = {k.external_id: k.status for k in await adapter.get_keywords([str(manual.id)])}
    assert after[cluster.external_id] == "excluded"
    nm_keyword = next(k for k in keywords if k.kind == "nm")
    with pytest.raises(PermanentError, match="only search clusters"):
        await adapter.pause_keyword(nm_keyword)
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()


async def test_recommendations_are_the_marketplaces_own_signals_per_item_asked(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    manual = find_campaign(sandbox_world, status="9", bid_type="manual", payment_type="cpm")
    cpc = find_campaign(sandbox_world, status="9", payment_type="cpc")
    keywords = await adapter.get_keywords([str(manual.id), str(cpc.id)])
    first_nm = keywords[0].product_id
    asked: list[Keyword] = [
        k for k in keywords if k.campaign_external_id == str(manual.id) and k.product_id == first_nm
    ]
    asked += [k for k in keywords if k.campaign_external_id == str(cpc.id) and k.kind == "nm"][:1]
    sent_requests.clear()
    recommendations = {r.keyword_external_id: r for r in await adapter.get_recommendations(asked)}
    assert set(recommendations) == {k.external_id for k in asked}
    for rec in recommendations.values():
        assert rec.min_bid is not None and rec.min_bid > 0
        assert all(b >= rec.min_bid for b in rec.bids_by_position)
        assert list(rec.bids_by_position) == sorted(rec.bids_by_position, reverse=True)
    cluster_recs = [recommendations[k.external_id] for k in asked if k.kind == "cluster"]
    assert cluster_recs and all(r.source == "marketplace_recommendation" for r in cluster_recs)
    # One recommendation call per (advert, nm) asked, one min-bid call per campaign.
    assert len(paths(sent_requests, "/api/advert/v0/bids/recommendations")) == 2
    assert len(paths(sent_requests, "/api/advert/v1/bids/min")) == 2
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()


# --- errors ------------------------------------------------------------------------------------


async def test_a_bad_token_is_an_auth_error_without_the_token_anywhere(
    make_adapter: Factory, sandbox_world: SandboxWorld, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = wb(make_adapter)
    token = "x" * 20 + ".bad-token-value." + "y" * 20
    adapter._token = token
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as caught:
        await adapter.list_campaigns()
    assert caught.value.status == 401
    assert "token is malformed or unknown" in str(caught.value)
    assert token not in str(caught.value)
    assert "bad-token-value" not in caplog.text
    await adapter.aclose()


async def test_the_real_token_never_reaches_errors_or_logs(
    make_adapter: Factory, sandbox_world: SandboxWorld, caplog: pytest.LogCaptureFixture
) -> None:
    _, secret = sandbox_account(sandbox_world, "wb")
    adapter = wb(make_adapter)
    await add_fault(sandbox_world, path="/adv/v1/balance", kind="error", status=503, count=10)
    with caplog.at_level(logging.DEBUG), pytest.raises(TransientError) as caught:
        await adapter.get_balance()
    assert secret["token"] not in str(caught.value)
    assert secret["token"] not in caplog.text
    assert secret["token"].split(".")[1] not in caplog.text
    await adapter.aclose()


async def test_persistent_5xx_gives_bounded_retries_then_a_transient_error(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    await add_fault(sandbox_world, path="/adv/v1/promotion/count", kind="error", status=502, count=20)
    with pytest.raises(TransientError, match=r"wb promotion count \(HTTP 502\): injected fault"):
        await adapter.ping()
    assert len(paths(sent_requests, "/adv/v1/promotion/count")) == get_settings().HTTP_MAX_ATTEMPTS
    await adapter.aclose()


async def test_a_passing_5xx_is_retried_and_succeeds(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    await add_fault(sandbox_world, path="/adv/v1/promotion/count", kind="error", status=500, count=2)
    campaigns = await adapter.list_campaigns()
    assert len(campaigns) == len(world_campaigns(sandbox_world))
    assert len(paths(sent_requests, "/adv/v1/promotion/count")) == 3
    await adapter.aclose()


async def test_malformed_bodies_are_retried_then_a_typed_error(
    make_adapter: Factory, sandbox_world: SandboxWorld, sent_requests: list[httpx.Request]
) -> None:
    adapter = wb(make_adapter)
    await add_fault(sandbox_world, path="/adv/v3/fullstats", kind="malformed", count=20)
    with pytest.raises(TransientError, match="malformed JSON"):
        await adapter.get_campaign_stats(
            [str(i) for i in world_campaigns(sandbox_world)], today(sandbox_world)
        )
    assert len(paths(sent_requests, "/adv/v3/fullstats")) == get_settings().HTTP_MAX_ATTEMPTS
    await adapter.aclose()


async def test_a_malformed_bid_reply_fails_those_items_not_the_batch(
    make_adapter: Factory, sandbox_world: SandboxWorld
) -> None:
    adapter = wb(make_adapter)
    manual = find_campaign(sandbox_world, status="9", bid_type="manual", payment_type="cpm")
    keywords = await adapter.get_keywords([str(manual.id)])
    nm = next(k for k in keywords if k.kind == "nm")
    cluster = next(k for k in keywords if k.kind == "cluster" and k.status == "active")
    await add_fault(sandbox_world, path="/api/advert/v1/normquery/bids", kind="malformed", count=20)
    results = await adapter.set_bids(
        [
            BidChange(str(manual.id), cluster.external_id, 50_000),
            BidChange(str(manual.id), nm.external_id, 50_000),
        ]
    )
    assert [r.ok for r in results] == [True, False] or [r.ok for r in results] == [False, True]
    failed = next(r for r in results if not r.ok)
    assert failed.key == (str(manual.id), cluster.external_id)
    assert "malformed JSON" in str(failed.error)
    await adapter.aclose()


async def test_a_4xx_is_permanent_with_the_marketplaces_own_message(
    make_adapter: Factory, sandbox_world: SandboxWorld
) -> None:
    adapter = wb(make_adapter)
    with pytest.raises(PermanentError, match="кампания не принадлежит продавцу") as caught:
        await adapter.get_budget("1")
    assert caught.value.status == 400
    await adapter.aclose()


@pytest.mark.parametrize("profile", ["official"])
async def test_a_429_from_the_marketplace_is_honoured_then_succeeds(
    make_adapter: Factory, sandbox_world: SandboxWorld, caplog: pytest.LogCaptureFixture
) -> None:
    # Another client of the same account (not our pacing) empties WB's balance bucket (burst 5).
    _, secret = sandbox_account(sandbox_world, "wb")
    async with sandbox_world.client("wildberries") as other:
        statuses = [
            (await other.get("/adv/v1/balance", headers={"Authorization": secret["token"]})).status_code
            for _ in range(6)
        ]
    assert statuses[-1] == 429
    adapter = wb(make_adapter)
    with caplog.at_level(logging.INFO):
        balance = await adapter.get_balance()
    assert balance is not None and balance > 0
    assert "HTTP 429" in caplog.text and "retry 1/" in caplog.text
    await adapter.aclose()


# --- over real HTTP ------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["fast", "official"])
async def test_reads_and_writes_over_real_http(
    make_adapter: Factory,
    sandbox_world: SandboxWorld,
    sandbox_server: ServerThread,
    sent_requests: list[httpx.Request],
) -> None:
    adapter = wb(make_adapter, base_url=sandbox_server.url("wildberries"))
    campaigns = await adapter.list_campaigns()
    active = [c.external_id for c in campaigns if c.status == "active"]
    keywords = await adapter.get_keywords(active)
    stats = await adapter.get_campaign_stats(active, today(sandbox_world))
    assert keywords and stats
    nm = next(k for k in keywords if k.kind == "nm")
    results = await adapter.set_bids([BidChange(nm.campaign_external_id, nm.external_id, 60_000)])
    assert results[0].ok
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()


async def test_timeouts_over_real_http_give_bounded_retries_then_a_transient_error(
    make_adapter: Factory,
    sandbox_world: SandboxWorld,
    sandbox_server: ServerThread,
    sent_requests: list[httpx.Request],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_TIMEOUT", "0.3")
    reset_settings_cache()
    adapter = wb(make_adapter, base_url=sandbox_server.url("wildberries"))
    await add_fault(sandbox_world, path="/adv/v1/balance", kind="timeout", delay_s=3, count=20)
    with pytest.raises(TransientError, match=r"wb balance: timeout"):
        await adapter.get_balance()
    assert len(paths(sent_requests, "/adv/v1/balance")) == get_settings().HTTP_MAX_ATTEMPTS
    await adapter.aclose()


# --- semantically bad replies: the bad item goes, the batch goes on -----------------------------


class Corrupting(httpx.AsyncBaseTransport):
    """The sandbox's real reply to one path, with `corrupt` applied to its JSON body."""

    def __init__(self, inner: httpx.AsyncBaseTransport, path: str, corrupt: Callable[[Any], Any]) -> None:
        self.inner, self.path, self.corrupt = inner, path, corrupt

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path != self.path:
            return response
        await response.aread()
        # json.dumps writes NaN as WB's JSON decoder would then read it (Python's json accepts it).
        body = json.dumps(self.corrupt(response.json()), ensure_ascii=False).encode()
        headers = {"content-type": "application/json"}
        return httpx.Response(response.status_code, content=body, headers=headers, request=request)


def corrupted_adapter(world: SandboxWorld, path: str, corrupt: Callable[[Any], Any]) -> WildberriesAdapter:
    ref, secret = sandbox_account(world, "wb")
    transport = Corrupting(httpx.ASGITransport(app=world.app("wildberries")), path, corrupt)
    client = httpx.AsyncClient(transport=transport, base_url="http://wildberries.sandbox")
    pacing = Pacing(limiter=None, account_key=f"wb:{ref.id}")
    return WildberriesAdapter(ref, secret, client, pacing, RetryPolicy(max_attempts=1))


async def test_bad_campaigns_in_a_reply_are_dropped_and_logged(
    sandbox_world: SandboxWorld, caplog: pytest.LogCaptureFixture
) -> None:
    def corrupt(body: Any) -> Any:
        adverts = body["adverts"]
        adverts[0]["id"] = "not-an-id"
        adverts[1]["nm_settings"][0]["bids_kopecks"]["search"] = -100
        adverts.append(dict(adverts[2]))  # the same campaign twice
        return body

    adapter = corrupted_adapter(sandbox_world, "/api/advert/v2/adverts", corrupt)
    expected = world_campaigns(sandbox_world)
    with caplog.at_level(logging.WARNING):
        keywords = await adapter.get_keywords([str(i) for i in expected])
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not a positive integer id" in m for m in messages)
    assert any("negative" in m for m in messages)
    assert any("appears twice" in m for m in messages)
    campaigns_with_keywords = {k.campaign_external_id for k in keywords}
    assert len(campaigns_with_keywords) == len(expected) - 1  # only the campaign without an id is lost
    await adapter.aclose()


async def test_bad_stats_items_are_dropped_and_the_rest_returned(
    sandbox_world: SandboxWorld, caplog: pytest.LogCaptureFixture
) -> None:
    day = today(sandbox_world)

    def corrupt(body: Any) -> Any:
        body[0]["days"][0]["sum"] = "12.50"
        body[1]["days"][0]["views"] = float("nan")
        return body

    adapter = corrupted_adapter(sandbox_world, "/adv/v3/fullstats", corrupt)
    ids = [str(i) for i, c in world_campaigns(sandbox_world).items() if c.status in ("7", "9", "11")]
    with caplog.at_level(logging.WARNING):
        snapshots = await adapter.get_campaign_stats(ids, day)
    assert len([s for s in snapshots if s.keyword_external_id is None]) == len(ids) - 2
    assert len([r for r in caplog.records if "full stats: rejected" in r.getMessage()]) == 2
    await adapter.aclose()


async def test_bad_cluster_bid_replies_fail_only_their_items(
    make_adapter: Factory, sandbox_world: SandboxWorld
) -> None:
    manual = find_campaign(sandbox_world, status="9", bid_type="manual", payment_type="cpm")
    reader = wb(make_adapter)
    clusters = [k for k in await reader.get_keywords([str(manual.id)]) if k.kind == "cluster"][:3]
    await reader.aclose()

    def corrupt(body: Any) -> Any:
        body["success"][0]["advertId"] = None  # this item's outcome is unreadable
        return body

    adapter = corrupted_adapter(sandbox_world, "/api/advert/v1/normquery/bids", corrupt)
    results = await adapter.set_bids([BidChange(str(manual.id), k.external_id, 45_000) for k in clusters])
    assert [r.ok for r in results] == [False, True, True]
    assert "does not mention this item" in str(results[0].error)
    await adapter.aclose()


async def test_a_base_token_sets_cluster_bids_in_whole_rubles(
    sandbox_world: SandboxWorld, shared_redis: Any, sent_requests: list[httpx.Request]
) -> None:
    ref, _ = sandbox_account(sandbox_world, "wb")
    owner = sandbox_world.sandbox.world.accounts[ref.id]
    manual = find_campaign(sandbox_world, status="9", bid_type="manual", payment_type="cpm")

    async def record(request: httpx.Request) -> None:
        sent_requests.append(request)

    client = sandbox_world.client("wildberries", event_hooks={"request": [record]})
    adapter = get_adapter(
        "wb", ref, client=client, redis_client=shared_redis, credentials={"token": owner.wb_tokens["base"]}
    )
    assert isinstance(adapter, WildberriesAdapter)
    assert adapter.token_type == WbTokenType.BASE
    assert adapter._transport.pacing.limit_key == "base"
    clusters = [k for k in await adapter.get_keywords([str(manual.id)]) if k.kind == "cluster"]
    results = await adapter.set_bids(
        [
            BidChange(str(manual.id), clusters[0].external_id, 41_000),
            BidChange(str(manual.id), clusters[1].external_id, 41_050),
        ]
    )
    assert [r.ok for r in results] == [True, False]
    assert "not a whole number of rubles" in str(results[1].error)
    sent = [json.loads(r.content) for r in sent_requests if r.url.path == "/adv/v0/normquery/bids"]
    assert sent == [
        {
            "bids": [
                {
                    "advert_id": manual.id,
                    "nm_id": int(str(clusters[0].product_id)),
                    "norm_query": clusters[0].keyword,
                    "bid": 410,
                }
            ]
        }
    ]
    effects = [
        e.effect
        for e in sandbox_world.sandbox.effects.since(0)
        if e.effect.get("action") == "set_cluster_bids"
    ]
    assert [b["bid_kopecks"] for e in effects for b in e["bids"]] == [41_000]
    assert not [r for r in sent_requests if r.url.path == "/api/advert/v1/normquery/bids"]
    assert check_requests("wb", sent_requests) == len(sent_requests)
    await adapter.aclose()


async def test_a_bid_applied_but_unanswered_is_resent_safely_because_bids_are_absolute(
    make_adapter: Factory,
    sandbox_world: SandboxWorld,
    sandbox_server: ServerThread,
    sent_requests: list[httpx.Request],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_TIMEOUT", "0.5")
    reset_settings_cache()
    adapter = wb(make_adapter, base_url=sandbox_server.url("wildberries"))
    manual = find_campaign(sandbox_world, status="9", bid_type="manual", payment_type="cpm")
    nm = next(k for k in await adapter.get_keywords([str(manual.id)]) if k.kind == "nm")
    await add_fault(sandbox_world, path="/api/advert/v1/bids", kind="apply_then_timeout", delay_s=3, count=1)
    results = await adapter.set_bids([BidChange(nm.campaign_external_id, nm.external_id, 70_000)])
    assert results[0].ok
    assert len(paths(sent_requests, "/api/advert/v1/bids")) == 2
    applied = [
        b["bid_kopecks"]
        for e in sandbox_world.sandbox.effects.since(0)
        if e.effect.get("action") == "set_nm_bids"
        for b in e.effect["bids"]
    ]
    assert applied == [70_000, 70_000]  # the same absolute value twice, never a drift
    await adapter.aclose()
    assert adapter._http.is_closed
