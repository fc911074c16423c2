"""Issue 11 end to end: a real marketing_low worker, the sandbox over HTTP with its fake Claude
Messages API, our clock following the sandbox's. Daily aggregates are written for synced
campaigns (the aggregation task is issue 15's), with a spend anomaly yesterday."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.core.celery_config import celery_app
from app.core.clock import moscow_today
from app.core.database import session_scope
from app.models.marketing import (
    MarketingAlert,
    MarketingAnalyticsRun,
    MarketingBidHistory,
    MarketingCampaign,
    MarketingKeyword,
    MarketingRecommendation,
    MarketingStatsDaily,
)
from app.services.marketing.guards import marketplace_limits
from app.services.marketing.recommendations import RecommendationError, accept, reject
from app.services.marketing.sync import run_sync
from tests.integration.test_bid_cycle import sandbox_bid_values
from tests.support.sandbox_system import SandboxSystem

pytestmark = pytest.mark.worker

ANALYTICS = "app.tasks.marketing.analytics.calculate_analytics"
COLLECT = "app.tasks.marketing.analytics.collect_ai_recommendations"
# Per day of the last 14: (views, clicks, orders, spent kopecks, revenue kopecks) of three keywords —
# one that sells cheaply, one at a high DRR, one that spends without orders.
KEYWORD_DAYS = (
    (3_000, 120, 12, 600_000, 12_000_000),
    (2_000, 80, 4, 600_000, 2_000_000),
    (1_500, 60, 0, 300_000, 0),
)


def campaigns_with_keywords(count: int = 2) -> list[tuple[int, list[int]]]:
    with session_scope() as session:
        chosen = []
        for campaign in session.scalars(
            select(MarketingCampaign)
            .where(MarketingCampaign.marketplace == "wb", MarketingCampaign.status == "active")
            .order_by(MarketingCampaign.id)
        ):
            keywords = [
                k.id
                for k in sorted(campaign.keywords, key=lambda k: k.id)
                if k.status == "active" and k.kind == "cluster" and k.current_bid
            ]
            if len(keywords) >= 3:
                chosen.append((campaign.id, keywords[:3]))
            if len(chosen) == count:
                return chosen
    raise AssertionError("the sandbox world has no WB campaign with three biddable clusters")


def seed_daily_stats(chosen: list[tuple[int, list[int]]]) -> None:
    today = moscow_today()
    with session_scope() as session:
        for index, (campaign_id, keyword_ids) in enumerate(chosen):
            campaign = session.get(MarketingCampaign, campaign_id)
            assert campaign is not None
            for offset in range(1, 29):
                day = today - timedelta(days=offset)
                season = 1 + 0.2 * math.sin(2 * math.pi * day.weekday() / 7) + 0.03 * ((offset * 7) % 5 - 2)
                # Yesterday the first campaign spent three times its usual (volume, not price).
                burst = 3.0 if offset == 1 and index == 0 else 1.0
                totals = [sum(k[i] for k in KEYWORD_DAYS) for i in range(5)]
                views, clicks, orders, spent, revenue = (round(v * season * burst) for v in totals)
                session.add(
                    MarketingStatsDaily(
                        stat_date=day,
                        campaign_id=campaign_id,
                        keyword_id=None,
                        marketplace="wb",
                        brand_id=campaign.brand_id,
                        views=views,
                        clicks=clicks,
                        orders=orders,
                        spent=spent,
                        revenue=revenue,
                    )
                )
                if offset <= 14:
                    for keyword_id, (kv, kc, ko, ks, kr) in zip(keyword_ids, KEYWORD_DAYS, strict=True):
                        session.add(
                            MarketingStatsDaily(
                                stat_date=day,
                                campaign_id=campaign_id,
                                keyword_id=keyword_id,
                                marketplace="wb",
                                brand_id=campaign.brand_id,
                                views=kv,
                                clicks=kc,
                                orders=ko,
                                spent=ks,
                                revenue=kr,
                            )
                        )


@pytest.fixture
def analysed_world(sandbox_system: SandboxSystem) -> list[tuple[int, list[int]]]:
    assert run_sync()["errors"] == 0
    chosen = campaigns_with_keywords()
    seed_daily_stats(chosen)
    return chosen


def run(task: str, timeout: float = 120) -> dict[str, Any]:
    return dict(celery_app.send_task(task).get(timeout=timeout))


def claude_mode(system: SandboxSystem, mode: str) -> None:
    httpx.post(
        system.server.url("claude") + "/_sandbox/settings", json={"claude_answer": mode}, timeout=5
    ).raise_for_status()


def recommendations(source: str | None = None) -> list[MarketingRecommendation]:
    with session_scope() as session:
        query = select(MarketingRecommendation).order_by(MarketingRecommendation.id)
        if source:
            query = query.where(MarketingRecommendation.source == source)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def assert_bids_inside_the_guards(rows: list[MarketingRecommendation]) -> None:
    with session_scope() as session:
        for rec in rows:
            if rec.proposed_bid is None:
                continue
            keyword = session.get(MarketingKeyword, rec.keyword_id)
            assert keyword is not None
            campaign = keyword.campaign
            limits = marketplace_limits(campaign.marketplace, campaign.campaign_type, campaign.payment_type)
            floor = max(keyword.min_bid or 0, limits.min_bid)
            ceiling = min(campaign.max_bid or limits.max_bid, limits.max_bid)
            assert floor <= rec.proposed_bid <= ceiling, (rec.id, rec.proposed_bid, floor, ceiling)


def test_the_night_submits_a_batch_and_a_later_run_collects_it(
    sandbox_system: SandboxSystem, analysed_world, worker_factory
) -> None:
    worker_factory(queues="marketing_low")
    night = run(ANALYTICS)
    assert night["status"] == "completed" and night["campaigns_analyzed"] == 2
    assert night["ai"]["status"] == "submitted" and night["ai"]["requests"] == 2
    rules = recommendations("rules")
    kinds = {(r.campaign_id, r.keyword_id, r.recommendation_type) for r in rules}
    for campaign_id, (good, _, idle) in analysed_world:
        assert {(campaign_id, good, "raise_bid"), (campaign_id, idle, "pause_keyword")} <= kinds
    # A lower bid is proposed where the guard leaves room below the current bid.
    assert any(kind == "lower_bid" for _, _, kind in kinds)
    assert all(r.status == "pending" and r.expected_spend_change is not None for r in rules)
    # The spend anomaly of yesterday is one alert with the money at stake.
    with session_scope() as session:
        alert = session.scalars(
            select(MarketingAlert).where(MarketingAlert.alert_type == "anomaly_spend")
        ).one()
        assert alert.campaign_id == analysed_world[0][0] and alert.details["direction"] == "up"
        assert alert.details["money_at_stake_rub"] > 10_000
        batch_id = session.scalars(select(MarketingAnalyticsRun.batch_id)).one()
    assert batch_id is not None
    assert run(COLLECT)["still_processing"] == 1 and not recommendations("claude")
    sandbox_system.advance(130)
    collected = run(COLLECT)
    assert collected["collected"] == 1 and collected["recommendations"] > 0
    claude = recommendations("claude")
    assert {r.recommendation_type for r in claude} >= {"pause_keyword", "raise_bid"}
    assert all(r.model == "claude-opus-5" for r in claude)
    assert_bids_inside_the_guards(claude)
    with session_scope() as session:
        night_run = session.scalars(select(MarketingAnalyticsRun)).one()
        assert night_run.ai_status == "collected" and night_run.tokens_used and night_run.tokens_used > 0
    # A second night: no duplicate alert; last night's pending recommendations are superseded.
    run(ANALYTICS)
    with session_scope() as session:
        assert session.scalar(select(func.count()).where(MarketingAlert.alert_type == "anomaly_spend")) == 1
        statuses = dict(
            session.execute(
                select(MarketingRecommendation.status, func.count())
                .where(
                    MarketingRecommendation.analytics_run_id == night["run_id"],
                    MarketingRecommendation.source == "rules",
                )
                .group_by(MarketingRecommendation.status)
            ).all()
        )
    assert statuses == {"expired": len(rules)}


@pytest.mark.parametrize("mode", ["out_of_range", "errored", "invalid"])
def test_bad_answers_leave_rule_recommendations_and_no_bid_outside_the_guards(
    sandbox_system: SandboxSystem, analysed_world, worker_factory, mode: str
) -> None:
    worker_factory(queues="marketing_low")
    claude_mode(sandbox_system, mode)
    assert run(ANALYTICS)["ai"]["status"] == "submitted"
    sandbox_system.advance(130)
    assert run(COLLECT)["collected"] == 1
    assert recommendations("rules")
    claude = recommendations("claude")
    assert_bids_inside_the_guards(recommendations())
    if mode == "out_of_range":
        bids = [r for r in claude if r.proposed_bid is not None]
        assert bids and any(r.data["clamped"] and r.data["raw_bid"] != r.proposed_bid for r in bids)
        # Claude's lower-to-1 never turns into a raise, and no step passes ±30 % unless a limit forces it.
        assert all(r.recommendation_type == r.data["advice"]["action"] for r in bids)
    else:
        assert claude == []
        with session_scope() as session:
            note = session.scalars(select(MarketingAnalyticsRun.ai_note)).one()
        assert note and ("errored: api_error" in note or "does not match the schema" in note)


def test_an_api_failure_or_no_key_is_a_completed_night_of_rules(
    sandbox_system: SandboxSystem, analysed_world, worker_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpx.post(
        sandbox_system.server.url("claude") + "/_sandbox/faults",
        json={"path": "/v1/messages/batches", "kind": "error", "status": 500, "count": 10},
        timeout=5,
    ).raise_for_status()
    worker = worker_factory(queues="marketing_low", extra_env={"CLAUDE_MAX_RETRIES": "1"})
    failed = run(ANALYTICS)
    assert failed["status"] == "completed" and failed["ai"]["status"] == "failed"
    assert "HTTP 500" in failed["ai"]["message"] and failed["recommendations_source"] == "rules"
    assert failed["recommendations_generated"] > 0
    with session_scope() as session:
        assert (
            session.scalar(select(func.count()).where(MarketingAlert.alert_type == "analytics_ai_failed"))
            == 1
        )
    worker.stop()
    monkeypatch.delenv("CLAUDE_API_KEY")
    worker_factory(queues="marketing_low")
    keyless = run(ANALYTICS)
    assert keyless["ai"] == {
        "status": "off",
        "message": "CLAUDE_API_KEY is not set: rule-based recommendations only",
    }
    assert keyless["recommendations_generated"] > 0 and not recommendations("claude")


def test_accepting_a_bid_recommendation_changes_the_bid_once(
    sandbox_system: SandboxSystem, analysed_world, worker_factory
) -> None:
    worker_factory(queues="marketing_low")
    run(ANALYTICS)
    raise_rec = next(r for r in recommendations("rules") if r.recommendation_type == "raise_bid")
    before = len(sandbox_system.effects())
    first = accept(raise_rec.id, "tester")
    assert first.status == "applied", first.message
    assert sandbox_bid_values(sandbox_system, before) == {raise_rec.proposed_bid: 1}
    sandbox_system.advance(60)
    again = accept(raise_rec.id, "tester")
    assert again.status == "applied" and "already applied" in again.message
    assert sandbox_bid_values(sandbox_system, before) == {raise_rec.proposed_bid: 1}
    with session_scope() as session:
        history = session.scalars(select(MarketingBidHistory)).all()
        assert [(h.keyword_id, h.new_bid, h.source) for h in history] == [
            (raise_rec.keyword_id, raise_rec.proposed_bid, "recommendation")
        ]
        stored = session.get(MarketingRecommendation, raise_rec.id)
        assert stored is not None and stored.decided_by == "tester" and stored.applied_at is not None
    pause = next(r for r in recommendations("rules") if r.recommendation_type == "pause_keyword")
    assert accept(pause.id, "tester").status == "accepted"
    lower = next(r for r in recommendations("rules") if r.recommendation_type == "lower_bid")
    assert reject(lower.id, "tester", "not now").status == "rejected"
    with pytest.raises(RecommendationError, match="is rejected: it can no longer be accepted"):
        accept(lower.id, "tester")
