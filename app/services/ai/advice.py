"""What Claude is asked about one campaign and what its answer may contain (issue 11 item 2).

The prompt is a fixed part (`SYSTEM_RULES`: the same for every campaign and night, so it is the
cached prefix) and one JSON document per campaign (`campaign_prompt`). The answer must match
`Advice`; the schema is sent as structured output, but the API does not enforce numeric bounds
or lengths (the SDK moves them into descriptions — analytics-reports-operations.md §1), so
`advice_to_proposals` validates it again on our side, drops what refers to keywords it was not
shown or bids it may not change, limits a bid's move to ±`MAX_BID_STEP_SHARE` (as the rules do),
passes it through `guards.guard_bid`, and drops it when the limits turn a lower into a raise or back.
Pure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.money import BidUnit
from app.models.marketing import RecommendationType
from app.services.marketing.adapters.rules import rules_for
from app.services.marketing.analytics import Anomaly, Trend
from app.services.marketing.analytics_model import CampaignHistory, KeywordTotals, rub
from app.services.marketing.guards import MarketplaceLimits, guard_bid
from app.services.marketing.recommendation_rules import (
    EFFECT_HORIZON_DAYS,
    MAX_BID_STEP_SHARE,
    Proposal,
    hand_managed,
)

MAX_ADVICE = 10
UNIT_WORDS = {
    BidUnit.PER_MILLE: "kopecks per 1000 views",
    BidUnit.PER_CLICK: "kopecks per click",
    BidUnit.PRICE_SHARE: "hundredths of a percent of the item's price",
}


def bid_unit_text(campaign: CampaignHistory) -> str:
    """The campaign's bid unit and limits for the prompt, from the marketplace's rules."""
    rules = rules_for(campaign.marketplace)
    unit = rules.campaign_unit(campaign.campaign_type, campaign.payment_type)
    if unit is None:
        return "none: " + rules.campaign_not_biddable(campaign.campaign_type, campaign.payment_type)
    low, high = rules.min_bid(unit).amount, rules.max_bid(unit).amount
    return f"{UNIT_WORDS[unit]} ({unit.label}); integers {low}..{high} (the minimum may be per item)"


SYSTEM_RULES = f"""You are the analyst of ADOLF Marketing, a system that manages a seller's ad campaigns on
Wildberries, Ozon and Yandex Market. Each message describes ONE campaign: its totals over the last
days, week-over-week trends, anomalies found by robust statistics, its keywords with their own
totals and bids, and the recommendations the system's rules already made.

Answer with at most {MAX_ADVICE} recommendations that a marketing manager can accept or reject:
- raise_bid / lower_bid: only for keywords marked "bid_by_hand": true; give proposed_bid in the
  campaign's bid unit (stated in the message), an integer; stay between the keyword's min_bid and
  the campaign's max_bid. Never change a bid by more than 30 % at once.
- pause_keyword: a keyword that spends and does not sell.
- add_minus_phrase: a search phrase that is irrelevant to the product (views without clicks).
Use only keyword ids from the message. Give the reason in one plain sentence with the numbers
behind it, and the expected change of spend and of revenue in rubles over {EFFECT_HORIZON_DAYS} days
(negative for a decrease). Do not repeat a rule's recommendation unless you change it; say
nothing when nothing should change. Money in the message is in rubles, ratios in percent.
"""


class AdviceItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["raise_bid", "lower_bid", "pause_keyword", "add_minus_phrase"]
    keyword_id: int
    proposed_bid: int | None = Field(
        default=None, ge=1, description="new bid in the campaign's bid unit; raise_bid / lower_bid only"
    )
    reason: str = Field(min_length=1, max_length=500)
    expected_spend_change_rub: float = Field(ge=-10_000_000, le=10_000_000)
    expected_revenue_change_rub: float = Field(ge=-10_000_000, le=10_000_000)


class Advice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recommendations: list[AdviceItem] = Field(max_length=MAX_ADVICE)


class AdviceError(ValueError):
    """Claude's answer is not usable as a whole (not JSON of the schema, cut off, refused)."""


def parse_advice(text: str, stop_reason: str | None) -> Advice:
    if stop_reason not in ("end_turn", "stop_sequence"):
        raise AdviceError(f"the answer stopped with {stop_reason!r}, not end_turn: not used")
    try:
        return Advice.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        raise AdviceError(f"the answer does not match the schema at {where}: {first['msg']}") from None


def keyword_json(campaign: CampaignHistory, keyword: KeywordTotals) -> dict[str, Any]:
    return {
        "id": keyword.keyword_id,
        "text": keyword.keyword,
        "kind": keyword.kind,
        "status": keyword.status,
        "bid": keyword.current_bid,
        "min_bid": keyword.min_bid,
        "bid_by_hand": hand_managed(campaign, keyword),
        "views": keyword.views,
        "clicks": keyword.clicks,
        "orders": keyword.orders,
        "spend_rub": rub(keyword.spent),
        "revenue_rub": rub(keyword.revenue),
    }


def shown_keywords(campaign: CampaignHistory, limit: int) -> list[KeywordTotals]:
    active = [k for k in campaign.keywords if k.status == "active"]
    return sorted(active, key=lambda k: (-k.spent, k.keyword_id))[:limit]


def campaign_prompt(
    campaign: CampaignHistory,
    *,
    today: date,
    period_days: int,
    trends: Sequence[Trend],
    anomalies: Sequence[Anomaly],
    rules: Sequence[Proposal],
    max_keywords: int,
) -> str:
    """The variable part of the prompt: one campaign as a JSON document."""
    total = campaign.totals(today - timedelta(days=period_days), today - timedelta(days=1))
    document = {
        "campaign": {
            **campaign.to_dict(),
            "bid_unit": bid_unit_text(campaign),
        },
        "period_days": period_days,
        "totals": {
            "views": total.views,
            "clicks": total.clicks,
            "orders": total.orders,
            "spend_rub": rub(total.spent),
            "revenue_rub": rub(total.revenue),
            "drr_percent": round(total.spent / total.revenue * 100, 2) if total.revenue else None,
        },
        "trends": [t.to_dict() for t in trends],
        "anomalies": [a.to_dict() for a in anomalies],
        "keywords": [keyword_json(campaign, k) for k in shown_keywords(campaign, max_keywords)],
        "rule_recommendations": [
            {"type": p.recommendation_type.value, "keyword_id": p.keyword_id, "title": p.title} for p in rules
        ],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def advice_to_proposals(
    advice: Advice, campaign: CampaignHistory, limits: MarketplaceLimits | None, max_keywords: int
) -> tuple[list[Proposal], list[str]]:
    """Claude's items that survive our checks, as proposals; and one line per dropped item."""
    shown = {k.keyword_id: k for k in shown_keywords(campaign, max_keywords)}
    proposals, dropped = [], []
    for item in advice.recommendations:
        keyword = shown.get(item.keyword_id)
        if keyword is None:
            dropped.append(f"keyword {item.keyword_id} was not in the prompt")
            continue
        base: dict[str, Any] = {"advice": item.model_dump()}
        spend = round(item.expected_spend_change_rub * 100)
        revenue = round(item.expected_revenue_change_rub * 100)
        if item.action in ("pause_keyword", "add_minus_phrase"):
            kind = RecommendationType(item.action)
            verb = "Pause" if kind == RecommendationType.PAUSE_KEYWORD else "Add as a minus phrase"
            proposals.append(
                Proposal(
                    campaign.campaign_id,
                    kind,
                    f"{verb}: «{keyword.keyword}»",
                    item.reason,
                    "proposed by Claude",
                    spend,
                    revenue,
                    keyword_id=keyword.keyword_id,
                    data=base,
                )
            )
            continue
        if not hand_managed(campaign, keyword) or not keyword.current_bid:
            dropped.append(f"keyword {keyword.keyword_id}: its bid is set by the bid cycle's strategy")
            continue
        if item.proposed_bid is None:
            dropped.append(f"keyword {keyword.keyword_id}: {item.action} without proposed_bid")
            continue
        current = keyword.current_bid
        low, high = round(current * (1 - MAX_BID_STEP_SHARE)), round(current * (1 + MAX_BID_STEP_SHARE))
        stepped = min(max(item.proposed_bid, low), high)
        guarded = guard_bid(
            stepped, keyword_min_bid=keyword.min_bid, campaign_max_bid=campaign.max_bid, limits=limits
        )
        if guarded.bid is None or guarded.bid == current:
            dropped.append(f"keyword {keyword.keyword_id}: {guarded.note or 'the bid would not change'}")
            continue
        lower = guarded.bid < current
        kind = RecommendationType.LOWER_BID if lower else RecommendationType.RAISE_BID
        if kind.value != item.action:
            dropped.append(f"keyword {keyword.keyword_id}: the limits turn {item.action} into {kind.value}")
            continue
        notes = [f"limited to ±{MAX_BID_STEP_SHARE:.0%} per step"] if stepped != item.proposed_bid else []
        notes += [guarded.note] if guarded.clamped else []
        proposals.append(
            Proposal(
                campaign.campaign_id,
                kind,
                f"{'Lower' if lower else 'Raise'} the bid of «{keyword.keyword}» {current} → {guarded.bid}",
                item.reason,
                "; ".join(["proposed by Claude", *notes]),
                spend,
                revenue,
                keyword_id=keyword.keyword_id,
                current_bid=current,
                proposed_bid=guarded.bid,
                data={
                    **base,
                    "raw_bid": item.proposed_bid,
                    "clamped": bool(notes),
                    "guard": "; ".join(notes),
                },
            )
        )
    return proposals, dropped
