"""A person's change of campaign settings (`adolf-marketing campaigns set`, issue 12 item 1).

1. **Parse** the command's values: bids and limits as integers of their unit, or with a unit mark
   (`150₽`, `150.50 rub`, `5.5%` for YM's share of the price); `k=v` parameters as JSON values.
2. **Compute** each campaign's new settings: a new strategy starts from the given parameters
   only; the same strategy merges them into its current ones (`k=null` removes one); safety
   parameters always merge.
3. **Validate every campaign before changing any**: the strategy's schema in the campaign's bid
   unit (`parse_strategy_params`), the safety thresholds (`parse_safety_params`), and `max_bid`
   against the marketplace's minimum and maximum in that unit (adapters/*_rules.py — issue 17 item
   1: a cap below the minimum made every bid refused). One bad value is one `CampaignSettingError`
   naming the campaign, and nothing changes.
4. **Apply and record**: the new values and one `marketing_campaign_changes` row per campaign —
   who, when, old → new per setting. `--fixed`/`--managed` fix or release all of a campaign's
   keywords (manual holds included).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from app.core.clock import now_utc
from app.core.money import BidUnit
from app.models.marketing import STRATEGY_TYPES, MarketingCampaign, MarketingCampaignChange
from app.services.marketing.adapters.rules import rules_for
from app.services.marketing.safety_logic import SafetyParamsError, parse_safety_params
from app.services.marketing.strategies.params import StrategyParamsError, parse_strategy_params

CLEAR = ("none", "null", "off")
_AMOUNT = re.compile(r"^\s*(\d+(?:[.,]\d{1,2})?)\s*(₽|руб|rub|rubles?|%)?\s*$", re.IGNORECASE)


class CampaignSettingError(ValueError):
    """A value cannot be used; the message is one line that says what to fix."""


def parse_amount(text: str, unit: BidUnit | None, what: str) -> int:
    """`15000` → 15000 (an integer of the unit); `150₽` / `150.50 rub` → kopecks; `5.5%` →
    hundredths of a percent (YM's unit only). `unit` None: money that is not a bid (kopecks)."""
    match = _AMOUNT.match(text)
    if not match:
        raise CampaignSettingError(
            f"{what} {text!r} is not an amount: give an integer of the bid unit, or rubles such as 150₽ "
            "(YM: a percent such as 5.5%)"
        )
    number, mark = match.group(1).replace(",", "."), (match.group(2) or "").lower()
    if not mark:
        if "." in number:
            raise CampaignSettingError(
                f"{what} {text!r}: a plain number is an integer of the unit; write 150.50₽"
            )
        return int(number)
    if mark == "%" and unit != BidUnit.PRICE_SHARE:
        raise CampaignSettingError(
            f"{what} {text!r}: this campaign bids in {unit or 'kopecks'}, not in % of the price"
        )
    if mark != "%" and unit == BidUnit.PRICE_SHARE:
        raise CampaignSettingError(f"{what} {text!r}: this campaign bids in % of the price; write e.g. 5.5%")
    try:
        return int(Decimal(number) * 100)
    except InvalidOperation:  # the pattern admits only digits; kept for mypy's sake
        raise CampaignSettingError(f"{what} {text!r} is not an amount") from None


def parse_pairs(pairs: Sequence[str], option: str) -> dict[str, Any]:
    """`k=v` items; v is read as JSON (numbers, true/false, null, objects), else kept as text."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise CampaignSettingError(f"{option} {pair!r} is not KEY=VALUE, e.g. {option} position=3")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


@dataclass
class SettingsRequest:
    """What `campaigns set` asks, before it is checked against a campaign."""

    strategy: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    safety: dict[str, Any] = field(default_factory=dict)
    max_bid: str | None = None  # text: its unit is the campaign's
    daily_limit: str | None = None
    dry_run: bool | None = None
    fixed: bool | None = None  # True: fix every keyword; False: release them (`--managed`)

    def is_empty(self) -> bool:
        return not (self.strategy or self.params or self.safety) and all(
            v is None for v in (self.max_bid, self.daily_limit, self.dry_run, self.fixed)
        )


def _merged(current: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**current, **given}
    return {k: v for k, v in merged.items() if v is not None}


@dataclass(frozen=True)
class PlannedSettings:
    campaign: MarketingCampaign
    values: dict[str, Any]  # column → new value
    changes: dict[str, dict[str, Any]]  # column → {"old", "new"} (only what differs)


def plan_settings(campaign: MarketingCampaign, request: SettingsRequest) -> PlannedSettings:
    """The campaign's new settings, validated (CampaignSettingError otherwise)."""
    label = f"campaign {campaign.id} («{campaign.name}»)"
    try:
        return _plan(campaign, request)
    except CampaignSettingError as error:
        raise CampaignSettingError(f"{label}: {error}") from None


def _plan(campaign: MarketingCampaign, request: SettingsRequest) -> PlannedSettings:
    rules = rules_for(campaign.marketplace)
    unit = rules.campaign_unit(campaign.campaign_type, campaign.payment_type)
    strategy = request.strategy or campaign.strategy_type
    if strategy not in STRATEGY_TYPES:
        raise CampaignSettingError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGY_TYPES)}")
    base = campaign.strategy_params if strategy == campaign.strategy_type else {}
    params = _merged(base or {}, request.params)
    if strategy != "fixed" and unit is None and (request.strategy or request.params):
        why = rules.campaign_not_biddable(campaign.campaign_type, campaign.payment_type)
        raise CampaignSettingError(f"takes no bids ({why}): only strategy fixed fits it")
    try:
        parse_strategy_params(strategy, params, unit)
        safety = _merged(campaign.safety_params or {}, request.safety)
        parse_safety_params(safety)
    except (StrategyParamsError, SafetyParamsError) as error:
        raise CampaignSettingError(str(error)) from None
    values: dict[str, Any] = {"strategy_type": strategy, "strategy_params": params, "safety_params": safety}
    if request.max_bid is not None:
        values["max_bid"] = _max_bid(request.max_bid, unit, rules, campaign)
    if request.daily_limit is not None:
        values["daily_limit"] = _daily_limit(request.daily_limit)
    if request.dry_run is not None:
        values["dry_run"] = request.dry_run
    changes = {
        name: {"old": getattr(campaign, name), "new": value}
        for name, value in values.items()
        if getattr(campaign, name) != value
    }
    if request.fixed is not None:
        before = keyword_holds(campaign)
        after = "every keyword fixed" if request.fixed else "every keyword managed by the strategy"
        if before != after:
            changes["keywords"] = {"old": before, "new": after}
    return PlannedSettings(campaign, values, changes)


def _max_bid(text: str, unit: BidUnit | None, rules: Any, campaign: MarketingCampaign) -> int | None:
    if text.strip().lower() in CLEAR:
        return None
    if unit is None:
        raise CampaignSettingError(
            "takes no bids, so a max_bid means nothing here; leave such campaigns out with --where"
        )
    bid = unit.bid(parse_amount(text, unit, "--max-bid"))
    low, high = rules.min_bid(unit), rules.max_bid(unit)
    name = rules.marketplace.display_name
    if bid < low:
        raise CampaignSettingError(
            f"--max-bid {bid} is below {name}'s minimum {low} ({low.amount} in {unit}): every bid would be "
            f"refused; give at least {low.amount}"
        )
    if bid > high:
        raise CampaignSettingError(
            f"--max-bid {bid} is above {name}'s maximum {high} ({high.amount} in {unit})"
        )
    return bid.amount


def _daily_limit(text: str) -> int | None:
    if text.strip().lower() in CLEAR:
        return None
    amount = parse_amount(text, None, "--daily-limit")
    if amount <= 0:
        raise CampaignSettingError("--daily-limit must be above 0 (or none to remove the limit)")
    return amount


def keyword_holds(campaign: MarketingCampaign) -> str:
    fixed = sum(1 for k in campaign.keywords if k.is_fixed)
    held = sum(1 for k in campaign.keywords if k.held_until is not None and not k.is_fixed)
    total = len(campaign.keywords)
    if total and fixed == total:
        return "every keyword fixed"
    if not fixed and not held:
        return "every keyword managed by the strategy"
    return f"{fixed} keywords fixed, {held} held after a manual change"


def apply_settings(
    session: Session, planned: PlannedSettings, request: SettingsRequest, by: str, now: datetime | None = None
) -> bool:
    """Write one campaign's planned settings and their record; False when nothing changed."""
    if not planned.changes:
        return False
    campaign = planned.campaign
    for name, value in planned.values.items():
        setattr(campaign, name, value)
    if request.fixed is not None:
        for keyword in campaign.keywords:
            keyword.is_fixed = request.fixed
            if not request.fixed:
                keyword.held_until = None
    session.add(
        MarketingCampaignChange(
            campaign_id=campaign.id,
            changed_by=by,
            changes=_jsonable(planned.changes),
            created_at=now or now_utc(),
        )
    )
    return True


def _jsonable(changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return json.loads(json.dumps(changes, default=str))


def describe_change(name: str, change: Mapping[str, Any], unit: BidUnit | None) -> str:
    """`max_bid 150.00 ₽/1000 показов → 200.00 ₽/1000 показов` for people."""

    def show(value: Any) -> str:
        if value is None:
            return "none"
        if name == "max_bid" and unit is not None and isinstance(value, int):
            return str(unit.bid(value))
        if name == "daily_limit" and isinstance(value, int):
            return f"{value / 100:.2f} ₽"
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return str(value)

    return f"{name} {show(change.get('old'))} → {show(change.get('new'))}"
