"""Rule-based recommendations with their expected effect in rubles (issue 11 item 1).

Over the last `period_days` complete days, per campaign, in this order (one recommendation per
keyword at most: the first rule that fires wins):

1. **pause a keyword** that spent at least `PAUSE_MIN_SPEND` and got no order although the
   campaign's conversion rate says its clicks should have brought `MIN_EXPECTED_ORDERS`;
2. **add a minus phrase** for a search phrase (cluster or phrase) shown at least `MINUS_MIN_VIEWS`
   times with no order and a CTR below `MINUS_CTR_SHARE` of the campaign's: an irrelevant query
   that eats impressions;
3. **lower a bid** whose keyword's DRR (with at least `MIN_ORDERS` orders) is above
   `LOWER_ABOVE` × the campaign's DRR, **raise** one below `RAISE_BELOW` × it (with at least
   `MIN_CLICKS` clicks) — toward the campaign's DRR, at most `MAX_BID_STEP_SHARE` per step, and
   only for keywords whose bid a person sets (strategy `fixed` or `is_fixed`): the bid cycle
   resets every other bid within 15 minutes;
4. **move budget** from the brand's least efficient campaign with a daily limit to one that hits
   its own limit on `CAPPED_DAYS` of the last 7 days with a DRR at most 1 / `MOVE_DRR_GAP` of
   the donor's.

A rule for **changing strategy when a backtest of the alternative does better** needs the backtest
engine of issue 9, which is not there yet; it is not implemented.

Expected effects are over `EFFECT_HORIZON_DAYS`, from the period's daily average. A bid change
uses one assumed response: volume ∝ bid^`VOLUME_ELASTICITY`, so spend ∝ bid^(1 + e) and revenue
∝ bid^e (hence DRR ∝ bid). Every proposed bid passes `guards.guard_bid`. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from app.models.marketing import RecommendationPriority, RecommendationType, StrategyType
from app.services.marketing.analytics_model import (
    MIN_CLICKS,
    MIN_ORDERS,
    CampaignHistory,
    DayTotals,
    KeywordTotals,
    format_rub,
)
from app.services.marketing.guards import MarketplaceLimits, guard_bid, marketplace_limits

EFFECT_HORIZON_DAYS = 7
VOLUME_ELASTICITY = 0.5  # an assumption, stated in docs/analytics.md, not a measurement
PAUSE_MIN_SPEND = 500_00  # kopecks over the period
MIN_EXPECTED_ORDERS = 3.0
MINUS_MIN_VIEWS = 2_000
MINUS_CTR_SHARE = 0.3
LOWER_ABOVE = 1.3
RAISE_BELOW = 0.7
MAX_BID_STEP_SHARE = 0.3
CAPPED_SHARE = 0.95  # a day counts as capped when it spent this share of the daily limit
CAPPED_DAYS = 3
MOVE_DRR_GAP = 1.5
MOVE_SHARE = 0.2  # of the smaller of the two daily limits
HIGH_PRIORITY_RUB = 5_000_00  # kopecks of effect per horizon
MEDIUM_PRIORITY_RUB = 1_000_00
SEARCH_KINDS = ("cluster", "phrase")

BidLimitsFor = Callable[[str, str, str | None], MarketplaceLimits | None]


@dataclass(frozen=True)
class Proposal:
    """A recommendation before it is stored, from the rules or from Claude."""

    campaign_id: int
    recommendation_type: RecommendationType
    title: str
    reason: str
    description: str
    expected_spend_change: int  # kopecks over EFFECT_HORIZON_DAYS, signed
    expected_revenue_change: int
    keyword_id: int | None = None
    current_bid: int | None = None
    proposed_bid: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def priority(self) -> RecommendationPriority:
        money = max(abs(self.expected_spend_change), abs(self.expected_revenue_change))
        if money >= HIGH_PRIORITY_RUB:
            return RecommendationPriority.HIGH
        return RecommendationPriority.MEDIUM if money >= MEDIUM_PRIORITY_RUB else RecommendationPriority.LOW

    @property
    def expected_effect(self) -> str:
        return (
            f"over {EFFECT_HORIZON_DAYS} days: spend {signed_rub(self.expected_spend_change)}, "
            f"revenue {signed_rub(self.expected_revenue_change)}"
        )


def signed_rub(kopecks: int) -> str:
    return ("+" if kopecks > 0 else "") + format_rub(kopecks)


def per_horizon(amount: int, period_days: int) -> int:
    return round(amount * EFFECT_HORIZON_DAYS / period_days)


def bid_effect(keyword: KeywordTotals, factor: float, period_days: int) -> tuple[int, int]:
    """(spend change, revenue change) over the horizon when the bid is multiplied by `factor`."""
    spend = per_horizon(keyword.spent, period_days)
    revenue = per_horizon(keyword.revenue, period_days)
    return (
        round(spend * (factor ** (1 + VOLUME_ELASTICITY) - 1)),
        round(revenue * (factor**VOLUME_ELASTICITY - 1)),
    )


def hand_managed(campaign: CampaignHistory, keyword: KeywordTotals) -> bool:
    return campaign.strategy_type == StrategyType.FIXED or keyword.is_fixed


def evidence(item: KeywordTotals | DayTotals, period_days: int) -> str:
    return (
        f"{period_days} days: {item.views} views, {item.clicks} clicks, {item.orders} orders, "
        f"spent {format_rub(item.spent)}, revenue {format_rub(item.revenue)}"
    )


def recommend(
    campaigns: Sequence[CampaignHistory],
    today: date,
    period_days: int = 14,
    limits: BidLimitsFor | None = None,
) -> list[Proposal]:
    limits_for = limits or marketplace_limits
    first, last = today - timedelta(days=period_days), today - timedelta(days=1)
    proposals: list[Proposal] = []
    for campaign in campaigns:
        total = campaign.totals(first, last)
        for keyword in campaign.keywords:
            if keyword.status != "active":
                continue
            proposal = (
                _pause(campaign, keyword, total, period_days)
                or _minus_phrase(campaign, keyword, total, period_days)
                or _bid(
                    campaign,
                    keyword,
                    total,
                    period_days,
                    limits_for(campaign.marketplace, campaign.campaign_type, campaign.payment_type),
                )
            )
            if proposal is not None:
                proposals.append(proposal)
    proposals += _budget_moves(campaigns, today, period_days)
    return proposals


def _pause(
    campaign: CampaignHistory, keyword: KeywordTotals, total: DayTotals, period_days: int
) -> Proposal | None:
    if keyword.orders or keyword.spent < PAUSE_MIN_SPEND or not total.clicks or not total.orders:
        return None
    expected_orders = keyword.clicks * total.orders / total.clicks
    if expected_orders < MIN_EXPECTED_ORDERS:
        return None
    saved = per_horizon(keyword.spent, period_days)
    return Proposal(
        campaign.campaign_id,
        RecommendationType.PAUSE_KEYWORD,
        f"Pause «{keyword.keyword}»",
        f"spent {format_rub(keyword.spent)} with no order; the campaign's conversion predicts "
        f"{expected_orders:.1f} orders from its {keyword.clicks} clicks",
        evidence(keyword, period_days),
        -saved,
        0,
        keyword_id=keyword.keyword_id,
        data={"rule": "spend_without_orders", "expected_orders": round(expected_orders, 2)},
    )


def _minus_phrase(
    campaign: CampaignHistory, keyword: KeywordTotals, total: DayTotals, period_days: int
) -> Proposal | None:
    if keyword.kind not in SEARCH_KINDS or keyword.orders or keyword.views < MINUS_MIN_VIEWS:
        return None
    if not total.views or not total.clicks or not keyword.spent:
        return None
    campaign_ctr, keyword_ctr = total.clicks / total.views, keyword.clicks / keyword.views
    if keyword_ctr >= campaign_ctr * MINUS_CTR_SHARE:
        return None
    return Proposal(
        campaign.campaign_id,
        RecommendationType.ADD_MINUS_PHRASE,
        f"Add «{keyword.keyword}» as a minus phrase",
        f"CTR {keyword_ctr * 100:.2f} % against the campaign's {campaign_ctr * 100:.2f} % and no order: "
        "the query looks irrelevant",
        evidence(keyword, period_days),
        -per_horizon(keyword.spent, period_days),
        -per_horizon(keyword.revenue, period_days),
        keyword_id=keyword.keyword_id,
        data={"rule": "irrelevant_query"},
    )


def _bid(
    campaign: CampaignHistory,
    keyword: KeywordTotals,
    total: DayTotals,
    period_days: int,
    limits: MarketplaceLimits | None,
) -> Proposal | None:
    if not hand_managed(campaign, keyword) or not keyword.current_bid or not total.revenue:
        return None
    if not keyword.revenue or not keyword.spent:
        return None
    campaign_drr, keyword_drr = total.spent / total.revenue, keyword.spent / keyword.revenue
    if keyword_drr > campaign_drr * LOWER_ABOVE and keyword.orders >= MIN_ORDERS:
        factor = max(campaign_drr / keyword_drr, 1 - MAX_BID_STEP_SHARE)
    elif keyword_drr < campaign_drr * RAISE_BELOW and keyword.clicks >= MIN_CLICKS:
        factor = min(campaign_drr / keyword_drr, 1 + MAX_BID_STEP_SHARE)
    else:
        return None
    guarded = guard_bid(
        round(keyword.current_bid * factor),
        keyword_min_bid=keyword.min_bid,
        campaign_max_bid=campaign.max_bid,
        limits=limits,
    )
    if guarded.bid is None or guarded.bid == keyword.current_bid:
        return None
    actual = guarded.bid / keyword.current_bid
    spend_change, revenue_change = bid_effect(keyword, actual, period_days)
    lower = guarded.bid < keyword.current_bid
    why = "above" if lower else "below"
    return Proposal(
        campaign.campaign_id,
        RecommendationType.LOWER_BID if lower else RecommendationType.RAISE_BID,
        f"{'Lower' if lower else 'Raise'} the bid of «{keyword.keyword}» "
        f"{keyword.current_bid} → {guarded.bid}",
        f"DRR {keyword_drr * 100:.1f} % is well {why} the campaign's {campaign_drr * 100:.1f} %",
        evidence(keyword, period_days),
        spend_change,
        revenue_change,
        keyword_id=keyword.keyword_id,
        current_bid=keyword.current_bid,
        proposed_bid=guarded.bid,
        data={
            "rule": "drr_vs_campaign",
            "raw_bid": guarded.raw,
            "clamped": guarded.clamped,
            "guard": guarded.note,
        },
    )


def _drr(total: DayTotals) -> float | None:
    return total.spent / total.revenue if total.orders >= MIN_ORDERS and total.revenue else None


def _budget_moves(campaigns: Sequence[CampaignHistory], today: date, period_days: int) -> list[Proposal]:
    first, last = today - timedelta(days=period_days), today - timedelta(days=1)
    week = today - timedelta(days=7)
    limited = [c for c in campaigns if c.daily_limit]
    proposals = []
    for recipient in limited:
        assert recipient.daily_limit is not None
        capped = sum(
            1 for d in recipient.days if d.day >= week and d.spent >= recipient.daily_limit * CAPPED_SHARE
        )
        recipient_drr = _drr(recipient.totals(first, last))
        if capped < CAPPED_DAYS or recipient_drr is None:
            continue
        donors = []
        for donor in limited:
            donor_drr = _drr(donor.totals(first, last))
            if donor is recipient or donor.brand_id != recipient.brand_id or donor_drr is None:
                continue
            if donor_drr >= recipient_drr * MOVE_DRR_GAP:
                donors.append((donor_drr, donor))
        if not donors:
            continue
        donor_drr, donor = max(donors, key=lambda item: (item[0], -item[1].campaign_id))
        assert donor.daily_limit is not None
        amount = int(min(donor.daily_limit, recipient.daily_limit) * MOVE_SHARE) // 100_00 * 100_00
        if amount <= 0:
            continue
        gain = round(EFFECT_HORIZON_DAYS * amount * (1 / recipient_drr - 1 / donor_drr))
        proposals.append(
            Proposal(
                recipient.campaign_id,
                RecommendationType.MOVE_BUDGET,
                f"Move {format_rub(amount)} a day of daily limit from «{donor.name}» to «{recipient.name}»",
                f"«{recipient.name}» hit its limit on {capped} of the last 7 days at DRR "
                f"{recipient_drr * 100:.1f} %; «{donor.name}» runs at DRR {donor_drr * 100:.1f} %",
                f"daily limits {format_rub(donor.daily_limit)} and {format_rub(recipient.daily_limit)}",
                0,
                gain,
                data={
                    "rule": "budget_to_efficient_campaign",
                    "from_campaign_id": donor.campaign_id,
                    "to_campaign_id": recipient.campaign_id,
                    "amount": amount,
                },
            )
        )
    return proposals
