"""SafetyLogic: campaign and keyword checks before any bid is touched (spec 7.3.1
`safety.check_campaign` / `safety.check_keyword`; issue 6, Deliver 2).

The bid cycle runs `check_campaign` first — PAUSE_CAMPAIGN stops the campaign and skips its
keywords, ALERT only reports — then `check_keyword` per active keyword before the strategy.
The daily limit is judged by the one budget rule (`budget_rules.decide_budget`, shared with
`check_budgets`). Rules that need data the marketplace does not give (DRR without revenue on YM)
or a baseline that does not exist yet (no daily aggregates) do not pass silently: the decision's
`notes` say they were skipped and why (issue 9 finding 8).
Thresholds come from the campaign's `safety_params`, with the defaults of `SafetyParams` (the
one place they are written; docs/strategies.md "Safety" lists them). Every decision carries a
one-line reason, a severity and an alert type, which end up in the alert and the bid history.
No Celery, Redis, HTTP or database here (DESIGN.md §2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from app.core.clock import to_moscow
from app.core.config import ProjectionMode
from app.core.money import rub
from app.models.marketing import AlertSeverity, CampaignStatus, KeywordStatus
from app.services.marketing.bidding import PeriodStats
from app.services.marketing.budget_rules import (
    WARNING_PCT,
    BudgetAction,
    BudgetDecision,
    BudgetState,
    decide_budget,
)
from app.services.marketing.strategies.params import describe_validation_error

Int = Annotated[int, Strict()]


class SafetyParamsError(ValueError):
    """A campaign's safety_params cannot be used; one line naming the parameter."""


class SafetyAction(StrEnum):
    OK = "OK"
    ALERT = "ALERT"
    PAUSE_CAMPAIGN = "PAUSE_CAMPAIGN"
    PAUSE_KEYWORD = "PAUSE_KEYWORD"


class SafetyAlertType(StrEnum):
    # The budget alert types are check_budgets' own (one rule, one vocabulary).
    BUDGET_EXCEEDED = "budget_exceeded"
    BUDGET_WARNING = "budget_warning"
    BUDGET_PROJECTION = "budget_projection"
    BUDGET_DATA_STALE = "budget_data_stale"
    DRR_TOO_HIGH = "drr_too_high"
    SPEND_ANOMALY = "spend_anomaly"
    CTR_COLLAPSE = "ctr_collapse"
    ZERO_VIEWS = "zero_views"
    KEYWORD_NO_ORDERS = "keyword_no_orders"
    KEYWORD_LOW_CTR = "keyword_low_ctr"


class SafetyParams(BaseModel):
    """Per-campaign thresholds (`marketing_campaigns.safety_params`); money in kopecks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    budget_warning_pct: Decimal = Field(
        WARNING_PCT,
        gt=0,
        le=100,
        description="percent of daily_limit spent that raises a warning, 0 < x <= 100 (spec 7.3.3: 80)",
    )
    target_drr_pct: Decimal | None = Field(
        None,
        gt=0,
        le=100,
        description="target DRR in percent for campaigns whose strategy has none, 0 < x <= 100",
    )
    drr_pause_factor: Decimal = Field(
        Decimal(2), gt=1, description="pause when today's DRR exceeds target × this factor, > 1"
    )
    min_spend_to_judge_drr: Int = Field(
        100_000, ge=0, description="kopecks spent today before DRR can pause the campaign, integer >= 0"
    )
    spend_anomaly_factor: Decimal = Field(
        Decimal(3), gt=1, description="alert when today's spend runs this many times the usual pace, > 1"
    )
    min_spend_for_anomaly: Int = Field(
        50_000, ge=0, description="kopecks spent today before the spend pace is judged, integer >= 0"
    )
    ctr_collapse_factor: Decimal = Field(
        Decimal("0.3"),
        gt=0,
        lt=1,
        description="alert when today's CTR falls below usual CTR × this, 0 < x < 1",
    )
    min_views_for_ctr: Int = Field(
        1000, ge=1, description="campaign views today before CTR is judged, integer >= 1"
    )
    zero_views_min_expected: Int = Field(
        200, ge=1, description="views expected by now (usual pace) before zero views alerts, integer >= 1"
    )
    keyword_max_spend_without_orders: Int = Field(
        50_000, ge=1, description="kopecks a keyword may spend without an order before it is paused, >= 1"
    )
    keyword_min_ctr_pct: Decimal = Field(
        Decimal("0.3"),
        ge=0,
        lt=100,
        description="keyword CTR in percent below which it is paused, 0 <= x < 100",
    )
    keyword_min_views_for_ctr: Int = Field(
        2000, ge=1, description="keyword views before its CTR is judged, integer >= 1"
    )


def parse_safety_params(raw: Mapping[str, Any] | None) -> SafetyParams:
    if raw is not None and not isinstance(raw, Mapping):
        raise SafetyParamsError(f"safety_params must be a JSON object, got {raw!r}")
    try:
        return SafetyParams.model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise SafetyParamsError(describe_validation_error("safety_params", SafetyParams, exc)) from None


@dataclass(frozen=True)
class SafetyFinding:
    action: SafetyAction
    alert_type: SafetyAlertType
    severity: AlertSeverity
    reason: str


@dataclass(frozen=True)
class SafetyDecision:
    """The outcome of one check. For OK, `alert_type` is None and severity info. `findings`
    holds every rule that fired (the first is the one that decided), so the caller can alert on
    each."""

    action: SafetyAction
    severity: AlertSeverity
    alert_type: SafetyAlertType | None
    reason: str
    findings: tuple[SafetyFinding, ...] = ()
    notes: tuple[str, ...] = ()  # rules that were skipped, and why
    budget: BudgetDecision | None = None

    @property
    def is_ok(self) -> bool:
        return self.action == SafetyAction.OK

    @property
    def pauses_for_budget(self) -> bool:
        return (
            self.action == SafetyAction.PAUSE_CAMPAIGN and self.alert_type == SafetyAlertType.BUDGET_EXCEEDED
        )

    @staticmethod
    def ok(reason: str, notes: tuple[str, ...] = (), budget: BudgetDecision | None = None) -> SafetyDecision:
        return SafetyDecision(SafetyAction.OK, AlertSeverity.INFO, None, reason, notes=notes, budget=budget)

    @staticmethod
    def of(
        findings: list[SafetyFinding], notes: tuple[str, ...] = (), budget: BudgetDecision | None = None
    ) -> SafetyDecision:
        """The most drastic finding decides: a pause before an alert, then the more severe."""
        rank = {SafetyAction.PAUSE_CAMPAIGN: 0, SafetyAction.PAUSE_KEYWORD: 0, SafetyAction.ALERT: 1}
        weight = {AlertSeverity.CRITICAL: 0, AlertSeverity.WARNING: 1, AlertSeverity.INFO: 2}
        ordered = sorted(findings, key=lambda f: (rank[f.action], weight[f.severity]))
        first = ordered[0]
        return SafetyDecision(
            first.action, first.severity, first.alert_type, first.reason, tuple(ordered), notes, budget
        )


@dataclass(frozen=True)
class CampaignSafetyContext:
    """One campaign's state for the safety check.

    `spent_today` is the campaign's `spent_today` for the current Moscow day; `today` the
    campaign-level stats since Moscow midnight; `usual_day` an average full day of the recent past
    (the baseline of the anomaly rules; None = no history, those rules are skipped).
    `target_drr_pct` is the strategy's target for target_drr campaigns, else None
    (then `params.target_drr_pct`, if set). `reports_revenue` is False on marketplaces whose stats
    carry no revenue (YM): DRR rules then have no data. `spend_rate` (kopecks per second),
    `spend_age_s` (age of `spent_today`) and `seconds_to_next_check` feed the budget rule.
    """

    campaign_id: int
    marketplace: str
    status: str
    now: datetime
    daily_limit: int | None
    spent_today: int
    today: PeriodStats
    params: SafetyParams
    usual_day: PeriodStats | None = None
    target_drr_pct: Decimal | None = None
    reports_revenue: bool = True
    spend_rate: float | None = None
    spend_age_s: float | None = None
    seconds_to_next_check: float = 900.0
    stale_spend_after_s: float = 1800.0
    projection: ProjectionMode = ProjectionMode.PAUSE

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be an aware datetime (UTC)")
        if self.spent_today < 0 or (self.daily_limit is not None and self.daily_limit < 0):
            raise ValueError("spent_today and daily_limit are non-negative kopecks")

    @property
    def spend(self) -> int:
        # The budgets' own figure and the stats may lag each other: judge the larger.
        return max(self.spent_today, self.today.spend)

    @property
    def day_elapsed(self) -> Fraction:
        """Share of the Moscow day gone, at least one hour so the first minutes cannot look like
        a runaway pace."""
        moscow = to_moscow(self.now)
        minutes = moscow.hour * 60 + moscow.minute
        return max(Fraction(minutes, 24 * 60), Fraction(1, 24))


@dataclass(frozen=True)
class KeywordSafetyContext:
    """One keyword's state: `window` is the recent window the strategies judge (None = today
    only). An `is_fixed` keyword is never paused by safety — a person owns it — only alerted on."""

    campaign_id: int
    keyword_id: int
    keyword: str
    status: str
    is_fixed: bool
    today: PeriodStats
    params: SafetyParams
    window: PeriodStats | None = None
    # False where the marketplace cannot pause this kind of item alone (a WB nm): alert instead.
    can_pause: bool = True
    # True where spend comes only with orders (YM boost): the no-orders rule has nothing to judge.
    charges_per_order: bool = False


NO_BASELINE = "spend pace, CTR collapse and zero views not checked: no baseline (no daily aggregates yet)"


def _pause_campaign(kind: SafetyAlertType, reason: str) -> list[SafetyFinding]:
    return [SafetyFinding(SafetyAction.PAUSE_CAMPAIGN, kind, AlertSeverity.CRITICAL, reason)]


def _warn(kind: SafetyAlertType, reason: str) -> list[SafetyFinding]:
    return [SafetyFinding(SafetyAction.ALERT, kind, AlertSeverity.WARNING, reason)]


def _pct(part: int, whole: int) -> str:
    return f"{float(Fraction(part * 100, whole)):.2f} %" if whole else "n/a"


class SafetyLogic:
    """Stateless rules; thresholds come with each context."""

    def check_campaign(self, ctx: CampaignSafetyContext) -> SafetyDecision:
        if ctx.status != CampaignStatus.ACTIVE:
            return SafetyDecision.ok(f"campaign is {ctx.status}: not checked")
        notes: list[str] = []
        budget = self.budget(ctx)
        findings = [*self._budget_findings(budget), *self._drr(ctx, notes)]
        if ctx.usual_day is None:
            notes.append(NO_BASELINE)
        else:
            findings += [*self._spend_pace(ctx), *self._ctr_collapse(ctx), *self._zero_views(ctx)]
        if findings:
            return SafetyDecision.of(findings, tuple(notes), budget)
        return SafetyDecision.ok("campaign checks passed", tuple(notes), budget)

    def check_keyword(self, ctx: KeywordSafetyContext) -> SafetyDecision:
        if ctx.status != KeywordStatus.ACTIVE:
            return SafetyDecision.ok(f"keyword is {ctx.status}: not checked")
        stats = ctx.window or ctx.today
        p = ctx.params
        name = repr(ctx.keyword)
        findings: list[SafetyFinding] = []
        # Orders reach the stats late (issue 9 finding 11): only spend older than the
        # marketplace's attribution lag is judged against the orders known now.
        settled = stats.settled_spend
        if not ctx.charges_per_order and stats.orders == 0 and settled >= p.keyword_max_spend_without_orders:
            limit = rub(p.keyword_max_spend_without_orders)
            old = "" if settled == stats.spend else f" (of {rub(stats.spend)}) long enough ago for its orders"
            reason = f"keyword {name} spent {rub(settled)}{old} without an order (limit {limit})"
            findings.append(self._keyword_pause(ctx, SafetyAlertType.KEYWORD_NO_ORDERS, reason))
        judged = stats.views >= p.keyword_min_views_for_ctr
        if judged and Fraction(stats.clicks * 100, stats.views) < Fraction(p.keyword_min_ctr_pct):
            ctr = _pct(stats.clicks, stats.views)
            reason = f"keyword {name} CTR {ctr} after {stats.views} views (minimum {p.keyword_min_ctr_pct} %)"
            findings.append(self._keyword_pause(ctx, SafetyAlertType.KEYWORD_LOW_CTR, reason))
        return SafetyDecision.of(findings) if findings else SafetyDecision.ok("keyword checks passed")

    @staticmethod
    def _keyword_pause(ctx: KeywordSafetyContext, kind: SafetyAlertType, reason: str) -> SafetyFinding:
        if ctx.is_fixed:
            return SafetyFinding(
                SafetyAction.ALERT, kind, AlertSeverity.WARNING, f"{reason}; bid is fixed by hand: not paused"
            )
        if not ctx.can_pause:
            why = f"{reason}; the marketplace cannot pause it alone: lower its bid or pause the campaign"
            return SafetyFinding(SafetyAction.ALERT, kind, AlertSeverity.WARNING, why)
        return SafetyFinding(SafetyAction.PAUSE_KEYWORD, kind, AlertSeverity.WARNING, f"{reason}: pausing")

    @staticmethod
    def budget(ctx: CampaignSafetyContext) -> BudgetDecision | None:
        """The daily-limit decision (the one rule of budget_rules.py), None without a limit."""
        if ctx.daily_limit is None or ctx.daily_limit <= 0:
            return None
        return decide_budget(
            BudgetState(
                spent_today=ctx.spend,
                daily_limit=ctx.daily_limit,
                spend_rate=ctx.spend_rate,
                seconds_to_next_check=ctx.seconds_to_next_check,
                warned_today=False,  # alerts are de-duplicated per Moscow day where they are raised
                warning_pct=ctx.params.budget_warning_pct,
                data_age_s=ctx.spend_age_s,
                stale_after_s=ctx.stale_spend_after_s,
            ),
            ctx.projection,
        )

    @staticmethod
    def _budget_findings(budget: BudgetDecision | None) -> list[SafetyFinding]:
        if budget is None:
            return []
        found: list[SafetyFinding] = []
        if budget.stale:
            found += _warn(
                SafetyAlertType.BUDGET_DATA_STALE, f"budget guard works on old data: {budget.reason}"
            )
        if budget.pauses:
            reason = f"{budget.reason}: pausing until the next Moscow day"
            found += _pause_campaign(SafetyAlertType.BUDGET_EXCEEDED, reason)
        elif budget.action == BudgetAction.ALERT_AHEAD:
            found += _warn(SafetyAlertType.BUDGET_PROJECTION, budget.reason)
        elif budget.action == BudgetAction.WARN:
            found += _warn(SafetyAlertType.BUDGET_WARNING, budget.reason)
        return found

    @staticmethod
    def _drr(ctx: CampaignSafetyContext, notes: list[str]) -> list[SafetyFinding]:
        p = ctx.params
        target = ctx.target_drr_pct if ctx.target_drr_pct is not None else p.target_drr_pct
        spend, revenue = ctx.today.spend, ctx.today.revenue
        if target is None or spend < p.min_spend_to_judge_drr or spend == 0:
            return []
        if not ctx.reports_revenue:
            notes.append("DRR not checked: the marketplace reports no revenue")
            return []
        limit = Fraction(target) * Fraction(p.drr_pause_factor)
        # DRR in percent = spend × 100 / revenue; no revenue at all is above any limit.
        if revenue and Fraction(spend * 100, revenue) <= limit:
            return []
        drr = _pct(spend, revenue) if revenue else "∞ (no revenue)"
        limit_text = f"{p.drr_pause_factor} × target {target} %"
        reason = f"today's DRR {drr} on {rub(spend)} spent is above {limit_text}: pausing"
        return _pause_campaign(SafetyAlertType.DRR_TOO_HIGH, reason)

    @staticmethod
    def _spend_pace(ctx: CampaignSafetyContext) -> list[SafetyFinding]:
        p = ctx.params
        usual = ctx.usual_day
        if usual is None or usual.spend == 0 or ctx.today.spend < p.min_spend_for_anomaly:
            return []
        expected = usual.spend * ctx.day_elapsed
        if ctx.today.spend <= expected * Fraction(p.spend_anomaly_factor):
            return []
        reason = (
            f"spent {rub(ctx.today.spend)} so far today, {float(ctx.today.spend / expected):.1f}× the usual "
            f"{rub(int(expected))} by this hour (alert above {p.spend_anomaly_factor}×)"
        )
        return _warn(SafetyAlertType.SPEND_ANOMALY, reason)

    @staticmethod
    def _ctr_collapse(ctx: CampaignSafetyContext) -> list[SafetyFinding]:
        p = ctx.params
        usual, today = ctx.usual_day, ctx.today
        if usual is None or usual.views == 0 or usual.clicks == 0 or today.views < p.min_views_for_ctr:
            return []
        usual_ctr = Fraction(usual.clicks, usual.views)
        if Fraction(today.clicks, today.views) >= usual_ctr * Fraction(p.ctr_collapse_factor):
            return []
        reason = (
            f"CTR {_pct(today.clicks, today.views)} today after {today.views} views against the usual "
            f"{_pct(usual.clicks, usual.views)} (alert below {p.ctr_collapse_factor} of usual)"
        )
        return _warn(SafetyAlertType.CTR_COLLAPSE, reason)

    @staticmethod
    def _zero_views(ctx: CampaignSafetyContext) -> list[SafetyFinding]:
        usual = ctx.usual_day
        if usual is None or ctx.today.views > 0:
            return []
        expected = usual.views * ctx.day_elapsed
        if expected < ctx.params.zero_views_min_expected:
            return []
        reason = f"active campaign has no views today; about {int(expected)} expected by now"
        return _warn(SafetyAlertType.ZERO_VIEWS, reason)
