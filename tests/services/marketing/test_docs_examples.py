"""The worked examples of docs/strategies.md, run against the code so the docs cannot drift."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.core.clock import MOSCOW
from app.services.marketing.bid_engine import BidEngine
from app.services.marketing.safety_logic import SafetyLogic

from .factories import (
    NOW,
    amount,
    campaign_safety,
    competitors,
    keyword,
    keyword_safety,
    recommendations,
    stats,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "strategies.md"
BLOCK = re.compile(r"```json (bid|safety)-example\n(.*?)```", re.DOTALL)


def examples(kind: str) -> list[Any]:
    found = [json.loads(body) for k, body in BLOCK.findall(DOC.read_text(encoding="utf-8")) if k == kind]
    return [pytest.param(example, id=example["title"]) for example in found]


def test_the_docs_have_examples_of_each_strategy_and_rule() -> None:
    bid = [e.values[0] for e in examples("bid")]
    assert {e["strategy"] for e in bid} == {"target_position", "target_drr", "target_cpo", "max_traffic"}
    assert len(bid) >= 12
    assert len(examples("safety")) >= 4


@pytest.mark.parametrize("example", examples("bid"))
def test_bid_example(example: dict[str, Any]) -> None:
    now = NOW
    if "moscow_time" in example:
        now = datetime.fromisoformat(example["moscow_time"]).replace(tzinfo=MOSCOW)
    age = example.get("stats_age_minutes", 5)
    fields: dict[str, Any] = {
        "now": now,
        "today": stats(minutes_old=age, now=now),
        **example.get("keyword", {}),
    }
    if "window" in example:
        fields["window"] = stats(minutes_old=age, now=now, **example["window"])
    if "competitors" in example:
        fields["competitors"] = competitors(*example["competitors"], now=now)
    if "recommendations" in example:
        fields["recommendations"] = recommendations(
            *(tuple(pair) for pair in example["recommendations"]), now=now
        )
    decision = BidEngine().calculate_bid(keyword(example["strategy"], example["params"], **fields))
    expect = example["expect"]
    assert decision.reason == expect["reason"]
    assert (decision.action, amount(decision.new_bid), decision.capped, decision.competitor_source) == (
        expect["action"],
        expect["new_bid"],
        expect["capped"],
        expect["source"],
    )


@pytest.mark.parametrize("example", examples("safety"))
def test_safety_example(example: dict[str, Any]) -> None:
    if "campaign" in example:
        fields = dict(example["campaign"])
        if "today" in fields:
            fields["today"] = stats(**fields["today"])
        if "target_drr_pct" in fields:
            fields["target_drr_pct"] = Decimal(fields["target_drr_pct"])
        decision = SafetyLogic().check_campaign(campaign_safety(**fields))
    else:
        fields = dict(example["keyword"])
        fields["today"] = stats(**fields["today"])
        decision = SafetyLogic().check_keyword(keyword_safety(**fields))
    expect = example["expect"]
    assert (decision.action, decision.alert_type, decision.severity, decision.reason) == (
        expect["action"],
        expect["alert_type"],
        expect["severity"],
        expect["reason"],
    )
