"""AnalyticsEngine (issue 11 item 1): anomalies against a weekday-aware baseline with volume floors
and money at stake, trends, rule-based recommendations, and the one bid guard."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from app.core.money import BidUnit
from app.services.marketing.analytics import AnalyticsEngine
from app.services.marketing.analytics_model import CampaignHistory, DayTotals, KeywordTotals, Metric
from app.services.marketing.anomalies import fit_baseline, score_day
from app.services.marketing.guards import MarketplaceLimits, guard_bid
from app.services.marketing.recommendation_rules import EFFECT_HORIZON_DAYS, recommend

TODAY = date(2026, 12, 1)  # a Tuesday
WB = MarketplaceLimits("wb", BidUnit.PER_MILLE, 10_000, 10_000_000, 100)


def day(offset: int, scale: float = 1.0, **counters: int) -> DayTotals:
    base = {"views": 10_000, "clicks": 400, "orders": 20, "spent": 2_000_000, "revenue": 20_000_000}
    base.update(counters)
    the_day = TODAY - timedelta(days=offset)
    # A weekly pattern (weekends high) with a little deterministic noise.
    season = (1.4 if the_day.weekday() >= 5 else 1.0) * (1 + 0.04 * ((offset * 3) % 5 - 2))
    return DayTotals(the_day, **{k: round(v * season * scale) for k, v in base.items()})


def history(days: list[DayTotals], **kwargs) -> CampaignHistory:
    return CampaignHistory(1, "C", "wb", 1, days=tuple(sorted(days, key=lambda d: d.day)), **kwargs)


def test_a_volume_burst_is_one_spend_anomaly_with_its_money_at_stake() -> None:
    days = [day(o) for o in range(2, 29)] + [day(1, scale=2.5)]
    [anomaly] = AnalyticsEngine([history(days)], TODAY).detect_anomalies()
    assert (anomaly.metric, anomaly.day, anomaly.direction) == (Metric.SPEND, TODAY - timedelta(days=1), "up")
    assert anomaly.ratio == pytest.approx(2.5, rel=0.1)
    assert anomaly.money_at_stake == pytest.approx(anomaly.observed - anomaly.expected, abs=1)
    assert anomaly.harmful and anomaly.seasonal
    assert "usually" in anomaly.describe() and "at stake" in anomaly.describe()


def test_the_weekend_peak_is_expected_not_anomalous() -> None:
    # Weekends run at 1.4× weekdays: against a plain median the ratio is 1.4, against the
    # weekday profile it is 1; neither should alert, and a 1.6× weekend would against a plain one.
    days = [day(o) for o in range(1, 29)]
    assert AnalyticsEngine([history(days)], TODAY).detect_anomalies(threshold=1.3) == []


def test_a_price_jump_is_a_cpc_and_drr_anomaly() -> None:
    days = [day(o) for o in range(2, 29)] + [day(1, spent=5_000_000)]
    found = {a.metric for a in AnalyticsEngine([history(days)], TODAY).detect_anomalies()}
    assert {Metric.CPC, Metric.DRR} <= found and Metric.CTR not in found


def test_small_campaigns_are_below_the_volume_floor() -> None:
    tiny = [day(o, scale=0.003) for o in range(2, 29)] + [day(1, scale=0.009)]  # about 60 ₽ a day
    assert AnalyticsEngine([history(tiny)], TODAY).detect_anomalies() == []


def test_conversion_collapse_is_a_harmful_cr_anomaly() -> None:
    days = [day(o) for o in range(2, 29)] + [day(1, orders=2, revenue=2_000_000)]
    cr = [a for a in AnalyticsEngine([history(days)], TODAY).detect_anomalies() if a.metric == Metric.CR]
    assert cr and cr[0].direction == "down" and cr[0].harmful


def test_short_history_falls_back_to_a_plain_baseline() -> None:
    baseline = fit_baseline([(d % 7, 100.0 + d) for d in range(9)])
    assert baseline is not None and not baseline.seasonal
    assert fit_baseline([(0, 1.0)] * 3) is None  # too few points to judge by


def test_a_zero_day_reads_as_a_fall() -> None:
    baseline = fit_baseline([(d % 7, 1000.0 * (1 + 0.05 * (d % 3))) for d in range(21)])
    assert baseline is not None
    score = score_day(baseline, 3, 0.0, 1.5)
    assert score.anomalous and score.direction == "down"


def test_trends_compare_whole_weeks() -> None:
    days = [day(o) for o in range(8, 15)] + [day(o, spent=2_600_000) for o in range(1, 8)]
    trends = {t.metric: t for t in AnalyticsEngine([history(days)], TODAY).analyze_trends()[1]}
    assert trends[Metric.SPEND].direction == "up" and trends[Metric.SPEND].change_pct == pytest.approx(
        30, abs=5
    )
    assert trends[Metric.CTR].direction == "flat"


def test_bad_parameters_are_refused() -> None:
    engine = AnalyticsEngine([], TODAY)
    with pytest.raises(ValueError, match="threshold > 1"):
        engine.detect_anomalies(threshold=1)
    with pytest.raises(ValueError, match="period_days must be >= 2"):
        engine.analyze_trends(period_days=1)


# --- Guard -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "min_bid", "max_bid", "expected", "clamped"),
    [
        (25_000, None, None, 25_000, False),
        (999_999_999, None, 50_000, 50_000, True),  # campaign max_bid
        (999_999_999, None, None, 10_000_000, True),  # marketplace maximum
        (1, None, None, 10_000, True),  # marketplace minimum
        (12_000, 15_000, None, 15_000, True),  # the keyword's learnt minimum
        (25_050, None, None, 25_100, True),  # WB takes whole rubles
        (25_000, 30_000, 20_000, None, True),  # no bid satisfies both
    ],
)
def test_guard_bid(
    raw: int, min_bid: int | None, max_bid: int | None, expected: int | None, clamped: bool
) -> None:
    guarded = guard_bid(raw, keyword_min_bid=min_bid, campaign_max_bid=max_bid, limits=WB)
    assert (guarded.bid, guarded.clamped) == (expected, clamped)


# --- Rules -----------------------------------------------------------------------------------------


def keyword(keyword_id: int, clicks: int, orders: int, spent: int, revenue: int, **kwargs) -> KeywordTotals:
    fields = {
        "kind": "cluster",
        "status": "active",
        "current_bid": 20_000,
        "min_bid": None,
        "is_fixed": False,
    }
    fields.update(kwargs)
    return KeywordTotals(
        keyword_id,
        f"kw{keyword_id}",
        views=clicks * 25,
        clicks=clicks,
        orders=orders,
        spent=spent,
        revenue=revenue,
        **fields,
    )  # type: ignore[arg-type]


def campaign(keywords: list[KeywordTotals], **kwargs) -> CampaignHistory:
    days = [day(o) for o in range(1, 15)]
    return history(days, keywords=tuple(keywords), **kwargs)


def by_keyword(proposals) -> dict[int | None, object]:
    return {p.keyword_id: p for p in proposals}


def test_rules_pause_raise_and_lower_with_effects_over_the_horizon() -> None:
    keywords = [
        keyword(1, 600, 0, 1_200_000, 0),  # spends, no order, 600 clicks at a 5 % CR
        keyword(2, 800, 40, 800_000, 40_000_000),  # DRR 2 % against the campaign's 10 %
        keyword(3, 500, 10, 3_000_000, 6_000_000),  # DRR 50 %
    ]
    found = by_keyword(recommend([campaign(keywords)], TODAY, limits=lambda *campaign: WB))
    pause, raise_, lower = found[1], found[2], found[3]
    assert pause.recommendation_type == "pause_keyword"
    assert pause.expected_spend_change == -round(1_200_000 * EFFECT_HORIZON_DAYS / 14)
    assert raise_.recommendation_type == "raise_bid" and raise_.proposed_bid == 26_000  # +30 %, one step
    assert (
        raise_.expected_spend_change > raise_.expected_revenue_change * 0
        and raise_.expected_revenue_change > 0
    )
    assert lower.recommendation_type == "lower_bid" and lower.proposed_bid == 14_000
    assert lower.expected_spend_change < 0 and "DRR 50.0 %" in lower.reason


def test_bids_the_bid_cycle_sets_are_left_to_it() -> None:
    keywords = [keyword(2, 800, 40, 800_000, 40_000_000)]
    assert (
        recommend([campaign(keywords, strategy_type="target_drr")], TODAY, limits=lambda *campaign: WB) == []
    )
    fixed = [keyword(2, 800, 40, 800_000, 40_000_000, is_fixed=True)]
    assert recommend([campaign(fixed, strategy_type="target_drr")], TODAY, limits=lambda *campaign: WB)


def test_an_irrelevant_query_gets_a_minus_phrase() -> None:
    shown = KeywordTotals(5, "kw5", "cluster", "active", 20_000, None, False, 40_000, 20, 0, 200_000, 0)
    [proposal] = recommend([campaign([shown])], TODAY, limits=lambda *campaign: WB)
    assert proposal.recommendation_type == "add_minus_phrase" and proposal.expected_spend_change < 0


def test_budget_moves_to_the_capped_efficient_campaign() -> None:
    capped = [day(o, spent=1_000_000, revenue=20_000_000) for o in range(1, 15)]
    wasteful = [day(o, spent=1_000_000, revenue=2_000_000) for o in range(1, 15)]
    recipient = CampaignHistory(1, "Good", "wb", 7, daily_limit=1_000_000, days=tuple(capped))
    donor = CampaignHistory(2, "Bad", "wb", 7, daily_limit=2_000_000, days=tuple(wasteful))
    [move] = recommend([recipient, donor], TODAY, limits=lambda *campaign: WB)
    assert move.recommendation_type == "move_budget" and move.campaign_id == 1
    assert move.data["from_campaign_id"] == 2 and move.data["amount"] == 200_000
    assert move.expected_spend_change == 0 and move.expected_revenue_change > 0


def test_engine_recommend_is_the_rules() -> None:
    keywords = [keyword(1, 600, 0, 1_200_000, 0)]
    engine = AnalyticsEngine([campaign(keywords)], TODAY)
    assert [p.recommendation_type for p in engine.recommend(limits=lambda *campaign: WB)] == ["pause_keyword"]
    assert math.isfinite(engine.recommend()[0].expected_spend_change)
