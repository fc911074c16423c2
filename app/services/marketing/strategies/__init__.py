"""Bid strategies (issue 6, Deliver 1): one function per `strategy_type`, each turning a
`KeywordBidContext` into a `Proposal`; the engine (`bid_engine.py`) applies dayparting and the
limits every strategy shares."""

from app.services.marketing.strategies.params import (
    FixedParams,
    MaxTrafficParams,
    StrategyParams,
    StrategyParamsError,
    TargetCpoParams,
    TargetDrrParams,
    TargetPositionParams,
    parse_strategy_params,
)

__all__ = [
    "FixedParams",
    "MaxTrafficParams",
    "StrategyParams",
    "StrategyParamsError",
    "TargetCpoParams",
    "TargetDrrParams",
    "TargetPositionParams",
    "parse_strategy_params",
]
