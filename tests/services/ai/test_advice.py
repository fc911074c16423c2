"""Claude's answer is validated by our own schema and every bid passes the same guard (issue 11
item 2): whatever the model says, nothing outside the limits comes out."""

from __future__ import annotations

import json
from datetime import date

import pytest

from app.core.money import BidUnit
from app.services.ai.advice import Advice, AdviceError, advice_to_proposals, campaign_prompt, parse_advice
from app.services.marketing.analytics_model import CampaignHistory, DayTotals, KeywordTotals
from app.services.marketing.guards import MarketplaceLimits

WB = MarketplaceLimits("wb", BidUnit.PER_MILLE, 10_000, 10_000_000, 100)
KEYWORDS = (
    KeywordTotals(11, "a", "cluster", "active", 20_000, 12_000, False, 1000, 50, 5, 100_000, 500_000),
    KeywordTotals(12, "b", "cluster", "active", 20_000, None, False, 1000, 50, 0, 100_000, 0),
)


def campaign(strategy: str = "fixed", max_bid: int | None = 24_000) -> CampaignHistory:
    days = tuple(DayTotals(date(2026, 11, d), 100, 10, 1, 1000, 5000) for d in range(1, 31))
    return CampaignHistory(
        1,
        "C",
        "wb",
        1,
        strategy_type=strategy,
        max_bid=max_bid,
        days=days,
        keywords=KEYWORDS,
        campaign_type="manual",
        payment_type="cpm",
    )


def item(**overrides: object) -> dict[str, object]:
    base = {
        "action": "raise_bid",
        "keyword_id": 11,
        "proposed_bid": 22_000,
        "reason": "cheap orders",
        "expected_spend_change_rub": 100.0,
        "expected_revenue_change_rub": 300.0,
    }
    return base | overrides


def advice(*items: dict[str, object]) -> Advice:
    return parse_advice(json.dumps({"recommendations": list(items)}), "end_turn")


@pytest.mark.parametrize(
    ("text", "stop", "message"),
    [
        ('{"recommendations": "all"}', "end_turn", "does not match the schema at recommendations"),
        (json.dumps({"recommendations": [item(reason="x" * 600)]}), "end_turn", "recommendations.0.reason"),
        (json.dumps({"recommendations": [item(proposed_bid=0)]}), "end_turn", "proposed_bid"),
        (json.dumps({"recommendations": [item(action="delete_campaign")]}), "end_turn", "action"),
        ('{"recommendations": [', "max_tokens", "stopped with 'max_tokens'"),
        ("", "refusal", "stopped with 'refusal'"),
    ],
)
def test_unusable_answers_are_refused_with_the_reason(text: str, stop: str, message: str) -> None:
    with pytest.raises(AdviceError, match=message):
        parse_advice(text, stop)


def test_bids_are_guarded_and_limited_to_one_step() -> None:
    proposals, dropped = advice_to_proposals(advice(item(proposed_bid=900_000)), campaign(), WB, 40)
    [raise_] = proposals
    assert raise_.proposed_bid == 24_000  # +30 % is 26 000, the campaign's max_bid is 24 000
    assert raise_.data["clamped"] and raise_.data["raw_bid"] == 900_000 and dropped == []
    assert raise_.expected_revenue_change == 30_000  # rubles → kopecks


def test_a_lower_that_the_floor_turns_into_a_raise_is_dropped() -> None:
    # A bid below the marketplace minimum (set before the minimum rose): "lower" would mean raising it.
    low = KeywordTotals(11, "a", "cluster", "active", 9_000, None, False, 1000, 50, 5, 100_000, 500_000)
    history = campaign()
    history = CampaignHistory(**{**history.__dict__, "keywords": (low,)})
    proposals, dropped = advice_to_proposals(
        advice(item(action="lower_bid", proposed_bid=1)), history, WB, 40
    )
    assert proposals == [] and dropped == ["keyword 11: the limits turn lower_bid into raise_bid"]


def test_unknown_keywords_and_strategy_bids_are_dropped() -> None:
    items = advice(item(keyword_id=99), item(action="pause_keyword", keyword_id=12, proposed_bid=None))
    proposals, dropped = advice_to_proposals(items, campaign(strategy="target_drr"), WB, 40)
    assert [p.recommendation_type for p in proposals] == ["pause_keyword"]
    assert dropped == ["keyword 99 was not in the prompt"]
    strategy, why = advice_to_proposals(advice(item()), campaign(strategy="target_drr"), WB, 40)
    assert strategy == [] and "set by the bid cycle's strategy" in why[0]


def test_the_prompt_is_json_with_the_bid_unit_and_the_keywords_by_spend() -> None:
    text = campaign_prompt(
        campaign(), today=date(2026, 12, 1), period_days=14, trends=(), anomalies=(), rules=(), max_keywords=1
    )
    document = json.loads(text)
    assert document["campaign"]["bid_unit"] == (
        "kopecks per 1000 views (₽/1000 показов); integers 15000..10000000 (the minimum may be per item)"
    )
    assert len(document["keywords"]) == 1
    assert document["keywords"][0]["bid_by_hand"] is True and document["totals"]["orders"] == 14
