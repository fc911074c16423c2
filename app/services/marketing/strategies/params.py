"""Validated strategy parameters: `marketing_campaigns.strategy_params` per `strategy_type`.

The bid cycle validates a campaign's JSON once with `parse_strategy_params` and hands the typed
object to the engine inside `KeywordBidContext.strategy`. Defaults live here and only here;
docs/strategies.md lists them. Bid parameters (`outbid_step`, `bid_cap`) are integers of the
campaign's bid unit (kopecks per click or per 1000 views; hundredths of a percent of the price on
YM); `target_cpo` is kopecks per order, `target_cpo_pct` a percent of the price. Given the unit,
`parse_strategy_params` refuses the parameters that cannot work in it (a kopeck CPO target for a
bid that is a share of an unknown price).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, get_args

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from app.core.money import BidUnit
from app.models.marketing import STRATEGY_TYPES, StrategyType
from app.services.marketing.strategies.dayparting import Dayparting

# Integers are strict: `true` or `1.0` where kopecks or a position are expected is a mistake.
Int = Annotated[int, Strict()]


class StrategyParamsError(ValueError):
    """A campaign's strategy_type / strategy_params cannot be used; the message is one line that
    names the parameter and what it should be (DESIGN.md §4)."""


class CommonParams(BaseModel):
    """Parameters every strategy understands."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    strategy_type: ClassVar[StrategyType]

    max_change_pct: Decimal = Field(
        Decimal(30), gt=0, le=100, description="percent of the current bid a cycle may move it, 0 < x <= 100"
    )
    stats_max_age_minutes: Int = Field(
        45, ge=1, description="minutes after which stats count as stale (then bids are never raised), >= 1"
    )
    dayparting: Dayparting | None = Field(
        None,
        description='{"hours": {"0-7": 0.5}, "weekdays": {"sat-sun": 1.2}} with multipliers 0.1..3',
    )
    # Every strategy reads the auction at least for the overbid guard (bid_engine.py step 7).
    competitor_max_age_minutes: Int = Field(
        30, ge=1, description="minutes after which competitor bids are ignored, >= 1"
    )
    recommendation_max_age_minutes: Int = Field(
        360, ge=1, description="minutes after which marketplace recommendations are ignored, >= 1"
    )


class CompetitionParams(CommonParams):
    """Strategies that read the auction (competitor bids or the marketplace's recommendations)."""

    outbid_step: Int | None = Field(
        None,
        ge=1,
        description=(
            "added to the competitor's bid to beat it, integer >= 1 in the bid unit; "
            "default the marketplace's smallest change (1 ₽; 0.10 % on YM)"
        ),
    )


class TargetPositionParams(CompetitionParams):
    strategy_type: ClassVar[StrategyType] = StrategyType.TARGET_POSITION

    position: Int = Field(ge=1, le=100, description="the auction position to win, integer 1..100")


class MaxTrafficParams(CompetitionParams):
    strategy_type: ClassVar[StrategyType] = StrategyType.MAX_TRAFFIC

    bid_cap: Int = Field(
        gt=0,
        description=(
            "the highest bid to pay, integer > 0 in the bid unit (kopecks per click or per 1000 views; "
            "hundredths of a percent of the price on YM)"
        ),
    )


class PerformanceParams(CommonParams):
    """Strategies steered by measured conversion (target DRR / CPO)."""

    gain: Decimal = Field(
        Decimal("0.5"), gt=0, le=1, description="share of the way to the computed bid per cycle, 0 < x <= 1"
    )
    min_clicks: Int = Field(50, ge=1, description="clicks in the window needed to judge, integer >= 1")
    min_orders: Int = Field(
        2, ge=1, description="orders in the window needed before a bid is raised, integer >= 1"
    )


class TargetDrrParams(PerformanceParams):
    strategy_type: ClassVar[StrategyType] = StrategyType.TARGET_DRR

    target_drr_pct: Decimal = Field(
        gt=0, le=100, description="target ad spend / revenue in percent, 0 < x <= 100"
    )


class TargetCpoParams(PerformanceParams):
    strategy_type: ClassVar[StrategyType] = StrategyType.TARGET_CPO

    target_cpo: Int | None = Field(
        None, gt=0, description="target ad spend per order in kopecks, integer > 0 (not on YM)"
    )
    target_cpo_pct: Decimal | None = Field(
        None,
        gt=0,
        le=100,
        description="target ad spend per order as a percent of the item's price, 0 < x <= 100 (YM)",
    )

    @model_validator(mode="after")
    def _one_target(self) -> TargetCpoParams:
        if (self.target_cpo is None) == (self.target_cpo_pct is None):
            raise ValueError("give exactly one of target_cpo (kopecks per order) or target_cpo_pct (percent)")
        return self


class FixedParams(BaseModel):
    """Bids are set by hand. Leftover parameters of an earlier strategy are ignored, so that
    switching a campaign to fixed can never fail."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    strategy_type: ClassVar[StrategyType] = StrategyType.FIXED


StrategyParams = TargetPositionParams | TargetDrrParams | TargetCpoParams | MaxTrafficParams | FixedParams

PARAMS_BY_STRATEGY: dict[str, type[StrategyParams]] = {
    model.strategy_type.value: model
    for model in (TargetPositionParams, TargetDrrParams, TargetCpoParams, MaxTrafficParams, FixedParams)
}


def _model_at(model: type[BaseModel], path: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The nested model a location points into (e.g. ("dayparting",) → Dayparting)."""
    for part in path:
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        candidates = [info.annotation, *get_args(info.annotation)]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def _describe(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    info = model.model_fields.get(str(loc[0])) if loc else None
    return f"; expected {info.description}" if info and info.description else ""


def _problem(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent else ""
        return f"is not a parameter here (allowed: {allowed})" if allowed else "is not a parameter here"
    message = str(error["msg"]).removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    return message if kind == "value_error" or not loc else f"{message} (got {error.get('input')!r})"


def describe_validation_error(field_prefix: str, model: type[BaseModel], exc: ValidationError) -> str:
    """One line naming the first bad parameter and what it should be, e.g.
    "strategy_params.position: is required; expected the auction position to win, integer 1..100"."""
    # A misspelt name shows up twice (extra + missing): name the misspelling first.
    error = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = tuple(error["loc"])
    where = ".".join([field_prefix, *(str(part) for part in loc)])
    return f"{where}: {_problem(error, model)}{_describe(model, loc)}"


def parse_strategy_params(
    strategy_type: str, raw: Mapping[str, Any] | None, unit: BidUnit | None = None
) -> StrategyParams:
    """Validate a campaign's strategy_params for its strategy_type (and, given the campaign's bid
    unit, for that unit); raise StrategyParamsError with one line naming the parameter."""
    model = PARAMS_BY_STRATEGY.get(strategy_type)
    if model is None:
        raise StrategyParamsError(
            f"unknown strategy_type {strategy_type!r}; use one of {', '.join(STRATEGY_TYPES)}"
        )
    if raw is not None and not isinstance(raw, Mapping):
        raise StrategyParamsError(f"{strategy_type}: strategy_params must be a JSON object, got {raw!r}")
    try:
        params = model.model_validate(dict(raw or {}))
    except ValidationError as exc:
        detail = describe_validation_error("strategy_params", model, exc)
        raise StrategyParamsError(f"{strategy_type}: {detail}") from None
    if unit is not None:
        _check_unit(params, unit)
    return params


def _check_unit(params: StrategyParams, unit: BidUnit) -> None:
    """Parameters that cannot be met in the campaign's bid unit."""
    if not isinstance(params, TargetCpoParams):
        return
    name = params.strategy_type.value
    if unit == BidUnit.PRICE_SHARE and params.target_cpo is not None:
        raise StrategyParamsError(
            f"{name}: strategy_params.target_cpo: bids here are a share of the item's price, which the "
            "marketplace does not report; give target_cpo_pct (percent of the price) instead"
        )
    if unit != BidUnit.PRICE_SHARE and params.target_cpo_pct is not None:
        raise StrategyParamsError(
            f"{name}: strategy_params.target_cpo_pct: bids here are {unit}; "
            "give target_cpo in kopecks per order"
        )
