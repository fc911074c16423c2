"""Non-secret account settings (`marketplace_accounts.settings`) and their validation.

`default_strategy` gives campaigns an account has not seen before their strategy when sync first
meets them (issue 5): a JSON object

    {"strategy_type": "target_position", "strategy_params": {"position": 3},
     "max_bid": 30000, "daily_limit": 500000, "dry_run": true,
     "by_payment_type": {"cpm": {"max_bid": 30000, "strategy_params": {"bid_cap": 20000}}}}

`by_payment_type` overrides the keys per payment type (its `strategy_params` add to the default's):
one account can run campaigns bid per click and per thousand views, and no single cap fits both —
Ozon takes CPC bids from 8 ₽ but CPM bids only from 100 ₽ (issue 17 item 1).

It is validated when it is set (`accounts add --setting default_strategy='{...}'`) — issue 9
finding 12: it used to be stored as a string and silently ignored — and again when sync applies
it, so that a stored value that is no longer valid is reported, never half-applied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.models.marketing import STRATEGY_TYPES
from app.services.marketing.strategies.params import StrategyParamsError, parse_strategy_params

DEFAULT_STRATEGY_KEYS = ("strategy_type", "strategy_params", "max_bid", "daily_limit", "dry_run")
OVERRIDES = "by_payment_type"


class AccountSettingError(ValueError):
    """A setting cannot be used; the message is one line that says what to fix."""


@dataclass(frozen=True)
class DefaultStrategy:
    strategy_type: str
    strategy_params: dict[str, Any]
    max_bid: int | None
    daily_limit: int | None
    dry_run: bool


def _positive(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise AccountSettingError(f"default_strategy.{name} must be a positive integer, got {value!r}")
    return value


def parse_default_strategy(raw: Any, payment_type: str | None = None) -> DefaultStrategy:
    """A default_strategy value (a mapping, or its JSON text) → the DefaultStrategy for campaigns of
    `payment_type` (every override is validated, whichever applies), or a one-line error."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise AccountSettingError(
                f"default_strategy is not valid JSON: {error.msg} at {error.pos}"
            ) from None
    if not isinstance(raw, Mapping):
        raise AccountSettingError('default_strategy must be a JSON object such as {"strategy_type": "fixed"}')
    overrides = raw.get(OVERRIDES) or {}
    if not isinstance(overrides, Mapping) or not all(isinstance(o, Mapping) for o in overrides.values()):
        example = '{"cpm": {"max_bid": 30000}}'
        raise AccountSettingError(
            f"default_strategy.{OVERRIDES} must map payment types to objects, e.g. {example}"
        )
    base = {k: v for k, v in raw.items() if k != OVERRIDES}
    chosen = _one(base)
    for name, override in overrides.items():
        merged = _merge(base, override)
        try:
            parsed = _one(merged)
        except AccountSettingError as error:
            raise AccountSettingError(f"{OVERRIDES}.{name}: {error}") from None
        if name == payment_type:
            chosen = parsed
    return chosen


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    params = {**(base.get("strategy_params") or {}), **(override.get("strategy_params") or {})}
    return {**base, **override, "strategy_params": params}


def _one(raw: Mapping[str, Any]) -> DefaultStrategy:
    unknown = sorted(set(raw) - set(DEFAULT_STRATEGY_KEYS))
    if unknown:
        raise AccountSettingError(
            f"default_strategy.{unknown[0]} is not a key here (allowed: {', '.join(DEFAULT_STRATEGY_KEYS)})"
        )
    strategy_type = raw.get("strategy_type")
    if strategy_type not in STRATEGY_TYPES:
        allowed = ", ".join(STRATEGY_TYPES)
        raise AccountSettingError(
            f"default_strategy.strategy_type must be one of {allowed}, got {strategy_type!r}"
        )
    params = raw.get("strategy_params") or {}
    try:
        parse_strategy_params(strategy_type, params)
    except StrategyParamsError as error:
        raise AccountSettingError(f"default_strategy: {error}") from None
    dry_run = raw.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise AccountSettingError(f"default_strategy.dry_run must be true or false, got {dry_run!r}")
    return DefaultStrategy(
        strategy_type,
        dict(params),
        _positive("max_bid", raw.get("max_bid")),
        _positive("daily_limit", raw.get("daily_limit")),
        dry_run,
    )


def parse_setting(key: str, value: str) -> Any:
    """One `--setting KEY=VALUE` as it is stored: default_strategy as a validated JSON object."""
    if key == "default_strategy":
        parse_default_strategy(value)
        return json.loads(value)
    return value
