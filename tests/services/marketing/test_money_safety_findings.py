"""Issue 9's findings 1–5, each reproduced as it was found and proven over many cycles (money paths
are proven in a loop, not one step). The sandbox-level closed loop of every marketplace, campaign
type and strategy is bench/safety_matrix.py (a reduced matrix runs in tests/e2e)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from app.core.marketplaces import MARKETPLACES, Marketplace
from app.core.money import BidUnit, PerClick, PerMille, PriceShare
from app.services.marketing.adapters.rules import rules_for
from app.services.marketing.bid_engine import BidEngine
from app.services.marketing.bidding import BidAction, KeywordBidContext, PeriodStats

from .factories import NOW, amount, competitors, keyword, recommendations, stats

engine = BidEngine()


def run_cycles(ctx: KeywordBidContext, cycles: int, **each: object) -> list[int]:
    """The engine's bid over `cycles` consecutive 15-minute cycles, each applied before the next."""
    bids = []
    for n in range(cycles):
        now = ctx.now + timedelta(minutes=15 * n)
        step = replace(ctx, now=now, today=replace(ctx.today, collected_at=now) if ctx.today else None)
        if step.window is not None:
            step = replace(step, window=replace(step.window, collected_at=now))
        if step.competitors is not None:
            step = replace(step, competitors=replace(step.competitors, fetched_at=now))
        step = replace(step, **each)  # type: ignore[arg-type]
        decision = engine.calculate_bid(step)
        if decision.new_bid is not None:
            ctx = replace(ctx, previous_bid=ctx.current_bid, current_bid=decision.new_bid)
        bids.append(amount(ctx.current_bid) or 0)
    return bids


class TestFinding1CpmIsNotCpc:
    """An Ozon CPC SKU at 20 ₽ with Watcher values around 600 (per 1000 views) climbed
    20 → 26 → 33 → … → 613 ₽ per click in ~14 cycles when the values were read as per-click bids."""

    def sku(self, **fields: object) -> KeywordBidContext:
        return keyword(
            "target_position",
            {"position": 2},
            payment_type="cpc",
            marketplace="ozon",
            current_bid=2_000,
            min_bid=800,
            **fields,
        )

    def test_competitor_cpm_is_converted_at_our_ctr(self) -> None:
        # Our entry is ranked at 3 % CTR: 610 ₽ per 1000 views is 20.33 ₽ per click.
        auction = competitors(64_000, 61_000, 55_000, unit=BidUnit.PER_MILLE, ours=(60_000, 0.03))
        bids = run_cycles(self.sku(competitors=auction), 14)
        assert max(bids) <= 2_200, bids  # position 2 needs 20.33 ₽ + the 1 ₽ step
        assert bids[-1] == 2_133
        decision = engine.calculate_bid(self.sku(competitors=auction))
        assert "converted at our CTR 3.00 %" in decision.reason
        assert decision.new_bid is not None and decision.new_bid.unit == BidUnit.PER_CLICK

    def test_without_our_ctr_the_auction_is_not_used(self) -> None:
        auction = competitors(64_000, 61_000, 55_000, unit=BidUnit.PER_MILLE)
        bids = run_cycles(self.sku(competitors=auction), 14)
        assert bids == [2_000] * 14  # no per-click picture of the auction: hold, never climb
        decision = engine.calculate_bid(self.sku(competitors=auction))
        assert decision.action == BidAction.HOLD
        assert "no click-through rate of our item was reported; not used" in decision.reason

    def test_without_our_ctr_the_marketplaces_own_per_click_signal_is_used(self) -> None:
        auction = competitors(64_000, 61_000, unit=BidUnit.PER_MILLE)
        recs = recommendations((2_300, 2), unit=BidUnit.PER_CLICK)
        bids = run_cycles(self.sku(competitors=auction, recommendations=recs), 14)
        assert bids[-1] == 2_300 and max(bids) == 2_300


class TestFinding2YandexMarketBidsAreAShareOfThePrice:
    def sku(self, strategy: str, params: dict[str, object], **fields: object) -> KeywordBidContext:
        return keyword(strategy, params, payment_type="cpo", marketplace="ym", current_bid=500, **fields)

    def test_target_cpo_is_a_share_of_the_price_and_holds_there(self) -> None:
        # Before: a kopeck CPO target sent as the bid went 5 % → 99.99 % in 12 cycles.
        bids = run_cycles(self.sku("target_cpo", {"target_cpo_pct": 5}), 12)
        assert bids == [500] * 12

    def test_target_drr_needs_no_revenue_and_does_not_sink_to_the_floor(self) -> None:
        # YM reports no revenue; target DRR 8 % is a bid of 8 % of the price, from 5 %.
        window = stats(views=10_000, clicks=400, orders=20, spend=50_000, revenue=0)
        bids = run_cycles(self.sku("target_drr", {"target_drr_pct": 8}, window=window), 12)
        assert bids[-1] == 800 and min(bids) >= 500

    def test_half_a_percentage_point_is_a_change_worth_sending(self) -> None:
        # Before: the 1 ₽ step became 1 percentage point, so 5.00 % → 5.50 % was never sent.
        decision = engine.calculate_bid(self.sku("target_cpo", {"target_cpo_pct": 5.5}))
        assert (decision.action, amount(decision.new_bid)) == (BidAction.SET, 550)
        assert decision.reason.endswith("5.00 % от цены → 5.50 % от цены")
        assert "₽" not in decision.reason

    def test_the_ym_rules_say_what_a_bid_is(self) -> None:
        ym = rules_for("ym")
        unit = ym.campaign_unit("boost", "cpo")
        assert unit == BidUnit.PRICE_SHARE
        assert (ym.min_bid(unit), ym.max_bid(unit), ym.min_change(unit)) == (
            PriceShare(50),
            PriceShare(9_999),
            PriceShare(10),
        )
        assert not ym.reports_revenue


class TestFinding3DaypartingDoesNotCompound:
    """With a constant desired 10 ₽, a ×1.5 hour reached 663 ₽ after 25 cycles, ×2 reached 7,051 ₽
    and ×0.5 settled at 3.43 ₽ — the multiplier was applied to a bid relative to the current one."""

    WINDOW = PeriodStats(views=10_000, clicks=200, orders=10, spend=300_000, revenue=2_000_000)

    def drr(self, factor: float, current: int = 1_000) -> KeywordBidContext:
        # Revenue per click 100 ₽ at target DRR 10 %: the undayparted bid is 10 ₽.
        params = {"target_drr_pct": 10, "dayparting": {"hours": {"0-23": factor}} if factor != 1 else None}
        return keyword(
            "target_drr",
            {k: v for k, v in params.items() if v is not None},
            payment_type="cpc",
            min_bid=300,
            current_bid=current,
            window=replace(self.WINDOW, collected_at=NOW),
        )

    def test_the_multiplier_scales_the_goal_and_the_bid_settles_there(self) -> None:
        for factor, settles in ((1.5, 1_500), (2, 2_000), (0.5, 500)):
            bids = run_cycles(self.drr(factor), 25)
            # Within the 1 ₽ step of the dayparted goal (a smaller change is not sent), and never past it.
            assert abs(bids[-1] - settles) < 100, (factor, bids)
            assert max(bids) <= max(settles, 1_000), (factor, bids)

    def test_the_bid_returns_to_the_undayparted_level_when_the_multiplier_does(self) -> None:
        peak = run_cycles(self.drr(2), 25)[-1]
        assert abs(peak - 2_000) < 100
        after = run_cycles(self.drr(1, current=peak), 25)
        assert abs(after[-1] - 1_000) < 100


class TestFinding4WbClickBidsKeepTheirOwnMinimum:
    def test_a_reported_per_click_minimum_is_not_overridden_by_a_default(self) -> None:
        wb = rules_for("wb")
        unit = wb.campaign_unit("unified", "cpc")
        assert unit == BidUnit.PER_CLICK
        # Before: max(reported, 100 ₽) — a 10 ₽ click bid jumped to 100 ₽ in one cycle.
        assert wb.min_bid(unit, reported=500) == PerClick(500)
        assert wb.min_bid(unit, reported=None) == PerClick(400)
        ctx = keyword(
            "target_position",
            {"position": 2},
            payment_type="cpc",
            current_bid=1_000,
            min_bid=wb.min_bid(unit, 500).amount,
            recommendations=recommendations((1_200, 2), unit=BidUnit.PER_CLICK),
        )
        assert amount(engine.calculate_bid(ctx).new_bid) == 1_200

    def test_the_cycle_bids_nms_of_unified_and_cpc_campaigns(self) -> None:
        wb = rules_for("wb")
        assert wb.not_biddable("unified", "cpc", "nm") is None
        assert wb.not_biddable("manual", "cpc", "nm") is None
        assert wb.not_biddable("unified", "cpm", "cluster") is not None  # clusters: manual cpm only
        assert wb.not_steered("manual", "cpm", "nm", item_bids=2) is not None  # no per-placement stats
        assert wb.not_biddable("manual", "cpm", "nm") is None  # a manual change still sets it


class TestFinding5WbRecommendationRangesArePositions:
    def test_target_position_3_takes_the_bid_for_places_1_to_2_not_11_to_34(self) -> None:
        # WB cpc levels: range1To2 reaches position 2, range3To10 position 10, range11To34 position 34.
        recs = recommendations((2_138, 2), (830, 10), (628, 34), unit=BidUnit.PER_CLICK)
        ctx = keyword(
            "target_position",
            {"position": 3},
            payment_type="cpc",
            current_bid=2_000,
            min_bid=400,
            recommendations=recs,
        )
        decision = engine.calculate_bid(ctx)
        assert amount(decision.new_bid) == 2_138
        assert "for position 2" in decision.reason


def test_one_marketplace_enum_for_the_whole_project() -> None:
    # Finding 14: `wb` vs `wildberries` in two enums.
    app_dir = Path(__file__).resolve().parents[3] / "app"
    defined = [p for p in app_dir.rglob("*.py") if "class Marketplace(" in p.read_text(encoding="utf-8")]
    assert [p.relative_to(app_dir).as_posix() for p in defined] == ["core/marketplaces.py"]
    assert MARKETPLACES == ("wb", "ozon", "ym")
    assert [m.long_name for m in Marketplace] == ["wildberries", "ozon", "yandex_market"]
    assert Marketplace.parse("Wildberries") == Marketplace.WB


def test_per_click_and_per_mille_keep_their_own_limits_on_wb() -> None:
    wb = rules_for("wb")
    assert wb.step(BidUnit.PER_MILLE) == 100 and wb.check_bid(PerMille(15_050)) is not None
    assert wb.check_bid(PerClick(450)) is None  # whole rubles are a per-1000-views rule only
    assert wb.apply_delay == timedelta(seconds=45)
