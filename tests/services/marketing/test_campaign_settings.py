"""`campaigns set` values (issue 12 item 1): amounts in the campaign's unit, parameters merged or
replaced, and every check of the strategy's schema and the marketplace's rules before any change."""

from __future__ import annotations

import pytest

from app.core.money import BidUnit
from app.models.marketing import MarketingCampaign, MarketingKeyword
from app.services.marketing.campaign_settings import (
    CampaignSettingError,
    SettingsRequest,
    describe_change,
    parse_amount,
    parse_pairs,
    plan_settings,
)


def campaign(marketplace: str = "wb", payment_type: str = "cpm", **fields: object) -> MarketingCampaign:
    row = MarketingCampaign(
        id=7,
        name="Shoes",
        marketplace=marketplace,
        campaign_type={"wb": "manual", "ozon": "sku", "ym": "boost"}[marketplace],
        payment_type=payment_type,
        strategy_type="fixed",
        strategy_params={},
        safety_params={},
        dry_run=False,
        max_bid=None,
        daily_limit=None,
    )
    row.keywords = [MarketingKeyword(id=1, keyword="boots", kind="cluster", is_fixed=False, held_until=None)]
    for name, value in fields.items():
        setattr(row, name, value)
    return row


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("15000", BidUnit.PER_MILLE, 15000),
        ("150₽", BidUnit.PER_MILLE, 15000),
        ("150.5 rub", BidUnit.PER_CLICK, 15050),
        ("150,25₽", BidUnit.PER_CLICK, 15025),
        ("5.5%", BidUnit.PRICE_SHARE, 550),
        ("5000₽", None, 500000),
    ],
)
def test_amounts_are_integers_of_the_unit_or_marked_rubles_and_percents(
    text: str, unit: BidUnit | None, expected: int
) -> None:
    assert parse_amount(text, unit, "--max-bid") == expected


@pytest.mark.parametrize(
    ("text", "unit", "message"),
    [
        ("150.5", BidUnit.PER_MILLE, "a plain number is an integer of the unit; write 150.50₽"),
        ("5%", BidUnit.PER_MILLE, "not in % of the price"),
        ("5₽", BidUnit.PRICE_SHARE, "bids in % of the price"),
        ("cheap", BidUnit.PER_CLICK, "is not an amount"),
    ],
)
def test_bad_amounts_say_what_to_write(text: str, unit: BidUnit, message: str) -> None:
    with pytest.raises(CampaignSettingError, match=message):
        parse_amount(text, unit, "--max-bid")


def test_pairs_are_json_values() -> None:
    assert parse_pairs(["position=3", 'dayparting={"hours": {"0-7": 0.5}}', "note=hi"], "--param") == {
        "position": 3,
        "dayparting": {"hours": {"0-7": 0.5}},
        "note": "hi",
    }
    with pytest.raises(CampaignSettingError, match="is not KEY=VALUE"):
        parse_pairs(["position"], "--param")


def test_a_valid_change_lists_old_and_new_values() -> None:
    planned = plan_settings(
        campaign(max_bid=20_000),
        SettingsRequest(
            strategy="target_position", params={"position": 3}, max_bid="250₽", daily_limit="5000₽"
        ),
    )
    assert planned.changes == {
        "strategy_type": {"old": "fixed", "new": "target_position"},
        "strategy_params": {"old": {}, "new": {"position": 3}},
        "max_bid": {"old": 20_000, "new": 25_000},
        "daily_limit": {"old": None, "new": 500_000},
    }
    described = describe_change("max_bid", planned.changes["max_bid"], BidUnit.PER_MILLE)
    assert described == "max_bid 200.00 ₽/1000 показов → 250.00 ₽/1000 показов"


def test_the_same_strategy_merges_parameters_and_null_removes_one() -> None:
    row = campaign(strategy_type="target_position", strategy_params={"position": 3, "outbid_step": 200})
    planned = plan_settings(row, SettingsRequest(params={"position": 2, "outbid_step": None}))
    assert planned.values["strategy_params"] == {"position": 2}


def test_a_new_strategy_starts_from_the_given_parameters() -> None:
    row = campaign(strategy_type="target_position", strategy_params={"position": 3})
    planned = plan_settings(row, SettingsRequest(strategy="max_traffic", params={"bid_cap": 30_000}))
    assert planned.values["strategy_params"] == {"bid_cap": 30_000}


@pytest.mark.parametrize(
    ("row", "request_", "message"),
    [
        (campaign(), SettingsRequest(strategy="best"), "unknown strategy 'best'; use one of"),
        (
            campaign(),
            SettingsRequest(strategy="target_position", params={"position": 0}),
            "strategy_params.position: input should be greater than or equal to 1",
        ),
        (campaign(), SettingsRequest(strategy="target_position"), "strategy_params.position: is required"),
        (
            campaign(),
            SettingsRequest(max_bid="100₽"),
            "--max-bid 100.00 ₽/1000 показов is below Wildberries's minimum 150.00 ₽/1000 показов",
        ),
        (
            campaign(payment_type="cpc"),
            SettingsRequest(max_bid="3₽"),
            "below Wildberries's minimum 4.00 ₽/клик",
        ),
        (campaign("ozon", "cpc"), SettingsRequest(max_bid="2000₽"), "above Ozon's maximum 1000.00 ₽/клик"),
        (
            campaign("ym", "cpo"),
            SettingsRequest(max_bid="0.1%"),
            "below Yandex Market's minimum 0.50 % от цены",
        ),
        (
            campaign("ym", "cpo"),
            SettingsRequest(strategy="target_cpo", params={"target_cpo": 50_000}),
            "give target_cpo_pct",
        ),
        (
            campaign(),
            SettingsRequest(safety={"keyword_min_ctr_pct": 200}),
            "safety_params.keyword_min_ctr_pct",
        ),
        (campaign(), SettingsRequest(daily_limit="0"), "--daily-limit must be above 0"),
    ],
)
def test_bad_values_are_refused_naming_the_campaign(
    row: MarketingCampaign, request_: SettingsRequest, message: str
) -> None:
    with pytest.raises(CampaignSettingError, match=r"^campaign 7 \(«Shoes»\): ") as raised:
        plan_settings(row, request_)
    assert message in str(raised.value)


def test_a_campaign_without_bids_takes_only_fixed_but_keeps_other_settings() -> None:
    row = campaign(marketplace="ym", payment_type="cpo", campaign_type="other", strategy_type="max_traffic")
    row.strategy_params = {"bid_cap": 900}
    with pytest.raises(CampaignSettingError, match=r"takes no bids .*only strategy fixed fits it"):
        plan_settings(row, SettingsRequest(strategy="target_position", params={"position": 1}))
    assert plan_settings(row, SettingsRequest(dry_run=True)).changes == {
        "dry_run": {"old": False, "new": True}
    }


def test_fixed_and_managed_change_the_keywords() -> None:
    row = campaign()
    planned = plan_settings(row, SettingsRequest(fixed=True))
    assert planned.changes == {
        "keywords": {"old": "every keyword managed by the strategy", "new": "every keyword fixed"}
    }
