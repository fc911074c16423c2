"""target_position and max_traffic: competitor bids, then the marketplace's recommendations,
else hold (issue 6 Deliver 1)."""

from __future__ import annotations

from dataclasses import replace

from app.core.money import PerMille
from app.services.marketing.bid_engine import BidEngine
from app.services.marketing.bidding import BidAction, CompetitorBid, CompetitorSource

from .factories import NOW, amount, competitors, keyword, recommendations

engine = BidEngine()


class TestTargetPosition:
    def test_wins_position_n_by_one_step_over_the_bid_there(self) -> None:
        decision = engine.calculate_bid(
            keyword(current_bid=30_000, competitors=competitors(41_000, 33_000, 30_500))
        )
        assert amount(decision.new_bid) == 30_600

    def test_outbid_step_is_a_parameter(self) -> None:
        ctx = keyword(
            params={"position": 2, "outbid_step": 500},
            current_bid=30_000,
            competitors=competitors(41_000, 33_000),
        )
        assert amount(engine.calculate_bid(ctx).new_bid) == 33_500

    def test_our_own_entry_is_not_outbid(self) -> None:
        # We hold position 2 at 330 ₽; the other bidder at 2nd place among others bids 300 ₽.
        data = competitors(41_000, 33_000, 30_000)
        ours = replace(
            data,
            bids=(
                CompetitorBid(1, PerMille(41_000)),
                CompetitorBid(2, PerMille(33_000), is_ours=True),
                CompetitorBid(3, PerMille(30_000)),
            ),
        )
        decision = engine.calculate_bid(keyword(params={"position": 2}, current_bid=33_000, competitors=ours))
        assert amount(decision.new_bid) == 30_100

    def test_fewer_competitors_than_the_position_bids_the_minimum(self) -> None:
        decision = engine.calculate_bid(
            keyword(params={"position": 5}, current_bid=16_000, competitors=competitors(30_000, 20_000))
        )
        assert amount(decision.new_bid) == 15_000
        assert "only 2 competitor bids" in decision.reason

    def test_positions_are_read_in_order_whatever_the_input_order(self) -> None:
        data = replace(
            competitors(),
            bids=(
                CompetitorBid(3, PerMille(30_000)),
                CompetitorBid(1, PerMille(41_000)),
                CompetitorBid(2, PerMille(33_000)),
            ),
        )
        assert amount(engine.calculate_bid(keyword(current_bid=30_000, competitors=data)).new_bid) == 30_100

    def test_marketplace_competitive_source_is_reported(self) -> None:
        data = competitors(41_000, 33_000, 30_000, source=CompetitorSource.MARKETPLACE_COMPETITIVE)
        decision = engine.calculate_bid(keyword(current_bid=30_000, competitors=data))
        assert decision.competitor_source == CompetitorSource.MARKETPLACE_COMPETITIVE
        assert "(marketplace_competitive)" in decision.reason

    def test_missing_competitors_fall_back_to_the_cheapest_recommendation_reaching_the_position(self) -> None:
        recs = recommendations((45_000, 1), (32_000, 2), (25_000, 10), (27_000, None))
        decision = engine.calculate_bid(keyword(current_bid=30_000, competitors=None, recommendations=recs))
        assert (amount(decision.new_bid), decision.competitor_source) == (
            32_000,
            CompetitorSource.MARKETPLACE_RECOMMENDATION,
        )
        assert (
            "no competitor bids; marketplace recommends 320.00 ₽/1000 показов for position 2"
            in decision.reason
        )

    def test_without_a_positional_recommendation_uses_the_competitive_bid(self) -> None:
        recs = recommendations((25_000, 10), (27_000, None))
        decision = engine.calculate_bid(keyword(current_bid=30_000, recommendations=recs))
        assert (amount(decision.new_bid), decision.competitor_source) == (
            27_000,
            CompetitorSource.MARKETPLACE_COMPETITIVE,
        )

    def test_stale_competitor_bids_are_ignored_with_a_warning(self) -> None:
        recs = recommendations((32_000, 3))
        decision = engine.calculate_bid(
            keyword(
                current_bid=30_000,
                competitors=competitors(50_000, 45_000, 40_000, minutes_old=31),
                recommendations=recs,
            )
        )
        assert amount(decision.new_bid) == 32_000
        assert decision.warnings == ("watcher competitor bids are 31 min old (max 30): ignored",)

    def test_no_data_at_all_holds_and_says_so(self) -> None:
        decision = engine.calculate_bid(keyword(competitors=None, recommendations=None))
        assert decision.action == BidAction.HOLD
        assert decision.competitor_source == CompetitorSource.NONE
        assert (
            decision.reason
            == "target position 3: no fresh competitor bids and no marketplace recommendation: holding"
        )

    def test_stale_recommendations_are_not_used(self) -> None:
        decision = engine.calculate_bid(
            keyword(recommendations=recommendations((32_000, 1), minutes_old=361))
        )
        assert decision.action == BidAction.HOLD

    def test_only_our_own_entry_counts_as_no_data(self) -> None:
        data = replace(
            competitors(), bids=(CompetitorBid(1, PerMille(41_000), is_ours=True),), fetched_at=NOW
        )
        assert engine.calculate_bid(keyword(competitors=data)).action == BidAction.HOLD


class TestMaxTraffic:
    def test_top_bid_plus_step_when_within_the_cap(self) -> None:
        ctx = keyword(
            "max_traffic", {"bid_cap": 50_000}, current_bid=40_000, competitors=competitors(42_000, 30_000)
        )
        assert amount(engine.calculate_bid(ctx).new_bid) == 42_100

    def test_the_cap_when_the_top_costs_more(self) -> None:
        ctx = keyword(
            "max_traffic", {"bid_cap": 40_000}, current_bid=35_000, competitors=competitors(42_000, 30_000)
        )
        decision = engine.calculate_bid(ctx)
        assert amount(decision.new_bid) == 40_000
        assert "beyond the bid cap 400.00 ₽" in decision.reason
        assert decision.capped is False  # the strategy's own cap is not the campaign's max_bid

    def test_campaign_max_bid_below_the_strategy_cap_still_caps(self) -> None:
        ctx = keyword(
            "max_traffic",
            {"bid_cap": 40_000},
            current_bid=35_000,
            campaign_max_bid=36_000,
            competitors=competitors(42_000),
        )
        assert (amount(engine.calculate_bid(ctx).new_bid), engine.calculate_bid(ctx).capped) == (36_000, True)

    def test_falls_back_to_the_highest_recommendation_within_the_cap(self) -> None:
        ctx = keyword(
            "max_traffic",
            {"bid_cap": 40_000},
            current_bid=35_000,
            recommendations=recommendations((38_000, 1), (30_000, 10)),
        )
        decision = engine.calculate_bid(ctx)
        assert (amount(decision.new_bid), decision.competitor_source) == (
            38_000,
            CompetitorSource.MARKETPLACE_RECOMMENDATION,
        )

    def test_holds_without_data(self) -> None:
        decision = engine.calculate_bid(keyword("max_traffic", {"bid_cap": 40_000}))
        assert decision.action == BidAction.HOLD
        assert (
            decision.reason
            == "max traffic: no fresh competitor bids and no marketplace recommendation: holding"
        )
