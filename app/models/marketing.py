"""Marketing tables (spec 7.3, DESIGN.md §3).

Money columns are integer kopecks (`BigInteger`, comment "kopecks"); adapters convert at the
API boundary. Dates of business days (`stat_date`, `spent_date`, `budget_paused_on`) are
Europe/Moscow dates; timestamps are timestamptz. Enum-like columns are `String(32)` checked
against the tuples below, which code should use instead of retyping the strings.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.marketplaces import MARKETPLACES
from app.models.base import Base, CreatedAtMixin, TimestampMixin, check_in
from app.models.core import Brand, Notification

KOPECKS: Final = "kopecks"
EMPTY_OBJECT: Final = text("'{}'::jsonb")


# --- Allowed values ----------------------------------------------------------------------------


class CampaignType(StrEnum):
    """Our own classification of a marketplace's campaign kinds."""

    SEARCH = "search"
    CATALOG = "catalog"
    PRODUCT_CARD = "product_card"
    RECOMMENDATIONS = "recommendations"
    UNIFIED = "unified"
    MANUAL = "manual"
    SKU = "sku"
    SEARCH_PROMO = "search_promo"
    BANNER = "banner"
    BOOST = "boost"
    OTHER = "other"


CAMPAIGN_TYPES: Final[tuple[str, ...]] = tuple(CampaignType)


class PaymentType(StrEnum):
    CPM = "cpm"
    CPC = "cpc"
    CPO = "cpo"


PAYMENT_TYPES: Final[tuple[str, ...]] = tuple(PaymentType)


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    ARCHIVED = "archived"
    DRAFT = "draft"
    UNKNOWN = "unknown"


CAMPAIGN_STATUSES: Final[tuple[str, ...]] = tuple(CampaignStatus)


class PausedReason(StrEnum):
    """Usual values of `marketing_campaigns.paused_reason` (not constrained: free for new ones)."""

    BUDGET_EXCEEDED = "budget_exceeded"
    SAFETY = "safety"
    MANUAL = "manual"


class StrategyType(StrEnum):
    TARGET_POSITION = "target_position"
    TARGET_DRR = "target_drr"
    TARGET_CPO = "target_cpo"
    MAX_TRAFFIC = "max_traffic"
    FIXED = "fixed"


STRATEGY_TYPES: Final[tuple[str, ...]] = tuple(StrategyType)


class KeywordKind(StrEnum):
    CLUSTER = "cluster"
    PHRASE = "phrase"
    NM = "nm"
    SKU = "sku"


KEYWORD_KINDS: Final[tuple[str, ...]] = tuple(KeywordKind)


class KeywordStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    EXCLUDED = "excluded"
    REMOVED = "removed"


KEYWORD_STATUSES: Final[tuple[str, ...]] = tuple(KeywordStatus)


class CycleRunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    SKIPPED = "skipped"


CYCLE_RUN_STATUSES: Final[tuple[str, ...]] = tuple(CycleRunStatus)


class BidSource(StrEnum):
    BID_CYCLE = "bid_cycle"
    MANUAL = "manual"
    ROLLBACK = "rollback"
    RECOMMENDATION = "recommendation"


BID_SOURCES: Final[tuple[str, ...]] = tuple(BidSource)


class BidIntentStatus(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    DRY_RUN = "dry_run"


BID_INTENT_STATUSES: Final[tuple[str, ...]] = tuple(BidIntentStatus)
# An intent in one of these states may still reach the marketplace: at most one per keyword.
OPEN_BID_INTENT_STATUSES: Final[tuple[str, ...]] = (BidIntentStatus.PENDING, BidIntentStatus.UNKNOWN)


class ConfirmStatus(StrEnum):
    CONFIRMED = "confirmed"
    MISMATCH = "mismatch"


CONFIRM_STATUSES: Final[tuple[str, ...]] = tuple(ConfirmStatus)


class AlertSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


ALERT_SEVERITIES: Final[tuple[str, ...]] = tuple(AlertSeverity)


class RecommendationPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


RECOMMENDATION_PRIORITIES: Final[tuple[str, ...]] = tuple(RecommendationPriority)


class RecommendationStatus(StrEnum):
    """pending → accepted | rejected | expired; accepted → applied (issue 11 item 3)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    APPLIED = "applied"
    EXPIRED = "expired"


RECOMMENDATION_STATUSES: Final[tuple[str, ...]] = tuple(RecommendationStatus)
# A person can still decide on these.
OPEN_RECOMMENDATION_STATUSES: Final[tuple[str, ...]] = (
    RecommendationStatus.PENDING,
    RecommendationStatus.ACCEPTED,
)


class RecommendationSource(StrEnum):
    RULES = "rules"
    CLAUDE = "claude"


RECOMMENDATION_SOURCES: Final[tuple[str, ...]] = tuple(RecommendationSource)


class RecommendationType(StrEnum):
    RAISE_BID = "raise_bid"
    LOWER_BID = "lower_bid"
    PAUSE_KEYWORD = "pause_keyword"
    ADD_MINUS_PHRASE = "add_minus_phrase"
    MOVE_BUDGET = "move_budget"
    CHANGE_STRATEGY = "change_strategy"


RECOMMENDATION_TYPES: Final[tuple[str, ...]] = tuple(RecommendationType)
BID_RECOMMENDATION_TYPES: Final[tuple[str, ...]] = (
    RecommendationType.RAISE_BID,
    RecommendationType.LOWER_BID,
)


class AnalyticsRunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


ANALYTICS_RUN_STATUSES: Final[tuple[str, ...]] = tuple(AnalyticsRunStatus)


class AiStatus(StrEnum):
    """Where a night's Claude batch is (docs/analytics.md "The Claude batch")."""

    OFF = "off"  # no API key, no token budget, or nothing to ask
    SKIPPED = "skipped"  # the monthly token budget would be exceeded
    SUBMITTING = "submitting"  # the create call is under way (a crash here leaves it "lost")
    SUBMITTED = "submitted"  # batch_id stored; the collector polls it
    COLLECTED = "collected"
    FAILED = "failed"
    CANCELED = "canceled"  # superseded by a newer night's batch
    EXPIRED = "expired"
    LOST = "lost"  # the create call never reported back


AI_STATUSES: Final[tuple[str, ...]] = tuple(AiStatus)
# A batch that still needs the collector.
OPEN_AI_STATUSES: Final[tuple[str, ...]] = (AiStatus.SUBMITTING, AiStatus.SUBMITTED)


class FailureReason(StrEnum):
    RETRIES_EXHAUSTED = "retries_exhausted"
    FAILED = "failed"
    TIME_LIMIT = "time_limit"
    EXPIRED = "expired"
    REVOKED = "revoked"
    WORKER_LOST = "worker_lost"
    REDELIVERY_CAP = "redelivery_cap"
    # Dropped by the worker before any code of ours ran (issue 15 item 5): a message naming a task
    # no module registers, or one it cannot accept (unknown format, a serializer not accepted).
    UNKNOWN_TASK = "unknown_task"
    REJECTED = "rejected"


FAILURE_REASONS: Final[tuple[str, ...]] = tuple(FailureReason)


# The strategy's level a bid stands for before dayparting (bid_engine rule 3; migration 0017).
BASE_BID = "the bid's level before the dayparting multiplier, in bid_unit; NULL: new_bid itself"


class FreezeScope(StrEnum):
    """What a stop switch covers (issue 12 item 4)."""

    ALL = "all"
    MARKETPLACE = "marketplace"
    ACCOUNT = "account"


FREEZE_SCOPES: Final[tuple[str, ...]] = tuple(FreezeScope)


class RollbackRequestStatus(StrEnum):
    QUEUED = "queued"
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # the bid was already back
    REFUSED = "refused"  # the change cannot be undone as asked (the message says why)


ROLLBACK_REQUEST_STATUSES: Final[tuple[str, ...]] = tuple(RollbackRequestStatus)


def _money(*, nullable: bool = False, default: int | None = 0) -> Any:
    """A kopecks column: BIGINT, NOT NULL DEFAULT 0 unless told otherwise."""
    return mapped_column(
        BigInteger,
        nullable=nullable,
        server_default=None if default is None else text(str(default)),
        comment=KOPECKS,
    )


def _counter() -> Any:
    return mapped_column(BigInteger, server_default=text("0"))


# --- Accounts and campaigns -----------------------------------------------------------------------


class MarketplaceAccount(TimestampMixin, Base):
    """A seller's account on one marketplace, with its API credentials encrypted at rest."""

    __tablename__ = "marketplace_accounts"
    __table_args__ = (
        CheckConstraint(check_in("marketplace", MARKETPLACES), name="marketplace"),
        UniqueConstraint("marketplace", "name"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    marketplace: Mapped[str] = mapped_column(String(32))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    # Fernet token of a JSON dict (app/core/secrets.py); never decrypted outside the adapters.
    credentials_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # Non-secret settings, e.g. the YM business_id.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_OBJECT)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    last_stats_collected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    brand: Mapped[Brand] = relationship()
    campaigns: Mapped[list[MarketingCampaign]] = relationship(back_populates="account")


class MarketingCampaign(TimestampMixin, Base):
    __tablename__ = "marketing_campaigns"
    __table_args__ = (
        CheckConstraint(check_in("marketplace", MARKETPLACES), name="marketplace"),
        CheckConstraint(check_in("campaign_type", CAMPAIGN_TYPES), name="campaign_type"),
        CheckConstraint(check_in("payment_type", PAYMENT_TYPES), name="payment_type"),
        CheckConstraint(check_in("status", CAMPAIGN_STATUSES), name="status"),
        CheckConstraint(check_in("strategy_type", STRATEGY_TYPES), name="strategy_type"),
        UniqueConstraint("account_id", "external_id"),
        Index("ix_marketing_campaigns_marketplace_status", "marketplace", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("marketplace_accounts.id"))
    marketplace: Mapped[str] = mapped_column(String(32))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    campaign_type: Mapped[str] = mapped_column(String(32), server_default=CampaignType.OTHER.value)
    payment_type: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), server_default=CampaignStatus.UNKNOWN.value)
    # The marketplace's own status, verbatim (e.g. WB 9, Ozon CAMPAIGN_STATE_RUNNING).
    marketplace_status: Mapped[str | None] = mapped_column(String(64))
    paused_reason: Mapped[str | None] = mapped_column(String(64))
    # Moscow day the campaign was paused for its budget: resumed the next day.
    budget_paused_on: Mapped[date | None] = mapped_column(Date)
    strategy_type: Mapped[str] = mapped_column(String(32), server_default=StrategyType.FIXED.value)
    strategy_params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_OBJECT)
    safety_params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_OBJECT)
    daily_limit: Mapped[int | None] = _money(nullable=True, default=None)
    spent_today: Mapped[int] = _money()
    # Moscow day `spent_today` belongs to; another day means spent_today is stale (0).
    spent_date: Mapped[date | None] = mapped_column(Date)
    # When `spent_today` was last read from the marketplace: budget protection needs its age
    # (issue 9 finding 7).
    spent_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    max_bid: Mapped[int | None] = _money(nullable=True, default=None)
    dry_run: Mapped[bool] = mapped_column(Boolean, server_default=false())
    is_removed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    account: Mapped[MarketplaceAccount] = relationship(back_populates="campaigns")
    brand: Mapped[Brand] = relationship()
    keywords: Mapped[list[MarketingKeyword]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", passive_deletes=True
    )

    def spent_on(self, day: date) -> int:
        """Kopecks spent on Moscow day `day`: `spent_today` belongs to `spent_date` only."""
        return self.spent_today if self.spent_date == day else 0


class MarketingKeyword(TimestampMixin, Base):
    """A biddable unit of a campaign: search cluster, phrase, WB nm or Ozon/YM SKU."""

    __tablename__ = "marketing_keywords"
    __table_args__ = (
        CheckConstraint(check_in("kind", KEYWORD_KINDS), name="kind"),
        CheckConstraint(check_in("status", KEYWORD_STATUSES), name="status"),
        UniqueConstraint("campaign_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id", ondelete="CASCADE"))
    # Identity within the campaign: cluster text, nm or SKU.
    external_id: Mapped[str] = mapped_column(String(255))
    keyword: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    # WB nm / Ozon SKU / YM SKU the bid applies to.
    product_id: Mapped[str | None] = mapped_column(String(64))
    current_bid: Mapped[int | None] = _money(nullable=True, default=None)
    min_bid: Mapped[int | None] = _money(nullable=True, default=None)
    status: Mapped[str] = mapped_column(String(32), server_default=KeywordStatus.ACTIVE.value)
    pause_reason: Mapped[str | None] = mapped_column(String(255))
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Never touched by strategies.
    is_fixed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # A manual change holds the keyword until then: the cycle leaves it alone (issue 9 finding 9).
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What a pause removed, to put back on resume (issue 9 finding 11): the bid before the pause
    # and how the marketplace paused it (adapters/rules.py PauseMode).
    paused_bid: Mapped[int | None] = _money(nullable=True, default=None)
    pause_mode: Mapped[str | None] = mapped_column(String(32))
    # The last bid the marketplace refused for this keyword, and why: the cycle does not send the
    # same value again (issue 17 item 11).
    refused_bid: Mapped[int | None] = _money(nullable=True, default=None)
    refused_reason: Mapped[str | None] = mapped_column(Text)
    refused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    campaign: Mapped[MarketingCampaign] = relationship(back_populates="keywords")


# --- Statistics ------------------------------------------------------------------------------------

# The Moscow business day (DESIGN.md §3 "Time"), as the database computes it.
MOSCOW_TODAY_SQL: Final = "(now() AT TIME ZONE 'Europe/Moscow')::date"


class MarketingStats(Base):
    """Snapshots of counters accumulated since the start of the Moscow day (DESIGN.md "Stats
    semantics"). Range-partitioned by `stat_date`, one partition per day named
    `marketing_stats_pYYYYMMDD` (app/models/partitions.py); there is no default partition, so a
    row for a day without a partition is refused.
    """

    __tablename__ = "marketing_stats"
    __table_args__ = (
        CheckConstraint(check_in("marketplace", MARKETPLACES), name="marketplace"),
        Index(
            "ix_marketing_stats_campaign_keyword_date_collected",
            "campaign_id",
            "keyword_id",
            "stat_date",
            "collected_at",
        ),
        {"postgresql_partition_by": "RANGE (stat_date)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Moscow date the counters belong to; defaults to the database's Moscow "today".
    stat_date: Mapped[date] = mapped_column(Date, primary_key=True, server_default=text(MOSCOW_TODAY_SQL))
    collected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Ids of marketing_campaigns / marketing_keywords without a FOREIGN KEY (issue 15): with one,
    # every partition's attach and detach waits for open writes of those tables, and dropping a
    # detached day waits for every reader of them, holding the bid cycle back meanwhile. The
    # writer takes the ids from those tables in its own transaction (stats.py), neither table
    # deletes rows, and the aggregation joins both, so a dangling id is skipped, not an error.
    campaign_id: Mapped[int] = mapped_column(BigInteger)
    keyword_id: Mapped[int | None] = mapped_column(BigInteger)
    marketplace: Mapped[str] = mapped_column(String(32))
    views: Mapped[int] = _counter()
    clicks: Mapped[int] = _counter()
    add_to_cart: Mapped[int] = _counter()
    orders: Mapped[int] = _counter()
    spent: Mapped[int] = _money()
    revenue: Mapped[int] = _money()
    avg_position: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    raw_data: Mapped[Any | None] = mapped_column(JSONB)


class MarketingStatsDaily(CreatedAtMixin, Base):
    """One row per (campaign, keyword, Moscow day): the day's last snapshot.

    Written by the SQL function `fn_marketing_aggregate_daily_stats(date)` (spec 7.3.5).
    `keyword_id` NULL is the campaign-level row; the unique key treats NULLs as equal.
    """

    __tablename__ = "marketing_stats_daily"
    __table_args__ = (
        CheckConstraint(check_in("marketplace", MARKETPLACES), name="marketplace"),
        UniqueConstraint(
            "campaign_id",
            "keyword_id",
            "stat_date",
            name="uq_marketing_stats_daily_campaign_keyword_date",
            postgresql_nulls_not_distinct=True,
        ),
        Index("ix_marketing_stats_daily_stat_date", "stat_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    stat_date: Mapped[date] = mapped_column(Date)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id"))
    keyword_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_keywords.id", ondelete="CASCADE"))
    marketplace: Mapped[str] = mapped_column(String(32))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    views: Mapped[int] = _counter()
    clicks: Mapped[int] = _counter()
    ctr: Mapped[Decimal] = mapped_column(Numeric(7, 2), server_default=text("0"), comment="percent")
    spent: Mapped[int] = _money()
    cpc: Mapped[int] = _money()
    orders: Mapped[int] = _counter()
    revenue: Mapped[int] = _money()
    cpo: Mapped[int] = _money()
    drr: Mapped[Decimal] = mapped_column(Numeric(7, 2), server_default=text("0"), comment="percent")
    avg_position: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))


class MarketingStatsAggregation(Base):
    """The newest snapshot the daily aggregation of a Moscow day has seen.

    Written by `fn_marketing_aggregate_daily_stats` itself. Retention compares it with the day's
    partition before dropping it: a day with a newer snapshot is aggregated again first, so no
    snapshot goes before its figures are in `marketing_stats_daily` (issue 15 item 3).
    """

    __tablename__ = "marketing_stats_aggregations"

    stat_date: Mapped[date] = mapped_column(Date, primary_key=True)
    # max(marketing_stats.id) of the day when it was aggregated; NULL: the day had no snapshots.
    last_snapshot_id: Mapped[int | None] = mapped_column(BigInteger)
    aggregated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MarketingStatsMonthly(Base):
    """Campaign-level monthly totals (spec 7.3.5 `aggregate_monthly_stats`)."""

    __tablename__ = "marketing_stats_monthly"
    __table_args__ = (
        CheckConstraint(check_in("marketplace", MARKETPLACES), name="marketplace"),
        CheckConstraint("stat_month BETWEEN 1 AND 12", name="stat_month"),
        UniqueConstraint("campaign_id", "stat_year", "stat_month"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id"))
    marketplace: Mapped[str] = mapped_column(String(32))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    stat_year: Mapped[int] = mapped_column(Integer)
    stat_month: Mapped[int] = mapped_column(Integer)
    views: Mapped[int] = _counter()
    clicks: Mapped[int] = _counter()
    avg_ctr: Mapped[Decimal] = mapped_column(Numeric(7, 2), server_default=text("0"), comment="percent")
    spent: Mapped[int] = _money()
    avg_cpc: Mapped[int] = _money()
    orders: Mapped[int] = _counter()
    revenue: Mapped[int] = _money()
    avg_cpo: Mapped[int] = _money()
    avg_drr: Mapped[Decimal] = mapped_column(Numeric(7, 2), server_default=text("0"), comment="percent")
    active_days: Mapped[int] = mapped_column(Integer, server_default=text("0"))


# --- Bids ------------------------------------------------------------------------------------------


class MarketingCycleRun(Base):
    """One run of the bid cycle. Its id, taken while holding the cycle lock, is the fencing
    token that money writes carry (DESIGN.md "Bids are applied once")."""

    __tablename__ = "marketing_cycle_runs"
    __table_args__ = (
        CheckConstraint(check_in("status", CYCLE_RUN_STATUSES), name="status"),
        Index("ix_marketing_cycle_runs_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(32), server_default=CycleRunStatus.RUNNING.value)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_OBJECT)


class MarketingBidIntent(CreatedAtMixin, Base):
    """A bid change written before the API call and marked after it (DESIGN.md "Bids are
    applied once"). At most one open (pending/unknown) intent per keyword."""

    __tablename__ = "marketing_bid_intents"
    __table_args__ = (
        CheckConstraint(check_in("source", BID_SOURCES), name="source"),
        CheckConstraint(check_in("status", BID_INTENT_STATUSES), name="status"),
        CheckConstraint(check_in("confirm_status", CONFIRM_STATUSES), name="confirm_status"),
        Index(
            "uq_marketing_bid_intents_keyword_id_open",
            "keyword_id",
            unique=True,
            postgresql_where=text(check_in("status", OPEN_BID_INTENT_STATUSES)),
        ),
        Index("ix_marketing_bid_intents_campaign_id_created_at", "campaign_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    cycle_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_cycle_runs.id", ondelete="SET NULL"), index=True
    )
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id"))
    keyword_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_keywords.id"))
    fencing_token: Mapped[int | None] = mapped_column(BigInteger)
    old_bid: Mapped[int | None] = _money(nullable=True, default=None)
    new_bid: Mapped[int] = _money(default=None)
    # Unit of old_bid/new_bid (app/core/money.py BidUnit): kopecks per click / per 1000 views,
    # or hundredths of a percent of the price.
    bid_unit: Mapped[str | None] = mapped_column(String(32))
    base_bid: Mapped[int | None] = mapped_column(BigInteger, comment=BASE_BID)
    source: Mapped[str] = mapped_column(String(32))
    strategy_type: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(String(32), server_default=BidIntentStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    task_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirm_status: Mapped[str | None] = mapped_column(String(32))

    campaign: Mapped[MarketingCampaign] = relationship()
    keyword: Mapped[MarketingKeyword | None] = relationship()


class MarketingBidHistory(CreatedAtMixin, Base):
    """Bid changes that reached the marketplace (spec `_log_bid_change`)."""

    __tablename__ = "marketing_bid_history"
    __table_args__ = (
        CheckConstraint(check_in("source", BID_SOURCES), name="source"),
        Index("ix_marketing_bid_history_keyword_id_created_at", "keyword_id", "created_at"),
        Index("ix_marketing_bid_history_campaign_id_created_at", "campaign_id", "created_at"),
        # Retention deletes by age in bounded batches (issue 15 item 3).
        Index("ix_marketing_bid_history_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id"))
    keyword_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_keywords.id"))
    # One history row per applied intent: a redelivered task cannot log the change twice.
    intent_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_bid_intents.id", ondelete="SET NULL"), unique=True
    )
    cycle_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_cycle_runs.id", ondelete="SET NULL")
    )
    old_bid: Mapped[int | None] = _money(nullable=True, default=None)
    new_bid: Mapped[int] = _money(default=None)
    bid_unit: Mapped[str | None] = mapped_column(String(32))
    base_bid: Mapped[int | None] = mapped_column(BigInteger, comment=BASE_BID)
    source: Mapped[str] = mapped_column(String(32))
    strategy_type: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)

    campaign: Mapped[MarketingCampaign] = relationship()
    keyword: Mapped[MarketingKeyword | None] = relationship()
    intent: Mapped[MarketingBidIntent | None] = relationship()


class MarketingRollbackRequest(CreatedAtMixin, Base):
    """A request to undo one bid change from a Telegram button (issue 12 item 5): unique per
    change, so pressing the button twice — or two people pressing it — rolls it back once."""

    __tablename__ = "marketing_rollback_requests"
    __table_args__ = (CheckConstraint(check_in("status", ROLLBACK_REQUEST_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    history_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_bid_history.id", ondelete="SET NULL"), unique=True
    )
    keyword_id: Mapped[int] = mapped_column(ForeignKey("marketing_keywords.id"))
    target_bid: Mapped[int] = mapped_column(BigInteger, comment="marketplace bid unit")
    bid_unit: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_by: Mapped[str] = mapped_column(String(255))
    # Where to answer: the requester's Telegram id.
    reply_to: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), server_default=RollbackRequestStatus.QUEUED.value)
    result: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- People's changes and the stop switch --------------------------------------------------------


class MarketingCampaignChange(CreatedAtMixin, Base):
    """A change of a campaign's settings by a person (`campaigns set`, issue 12 item 1): who,
    when, and per setting its old and new value."""

    __tablename__ = "marketing_campaign_changes"
    __table_args__ = (
        Index("ix_marketing_campaign_changes_campaign_id_created_at", "campaign_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id"))
    changed_by: Mapped[str] = mapped_column(String(255))
    # {"max_bid": {"old": 15000, "new": 20000}, ...}
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_OBJECT)


class MarketingFreeze(CreatedAtMixin, Base):
    """The stop switch (issue 12 item 4): while a freeze covers an account (all accounts, its
    marketplace, or the account itself) the bid cycle reads and reports but writes nothing except
    budget pauses. Active while `unfrozen_at` is NULL; kept afterwards as the record of it."""

    __tablename__ = "marketing_freezes"
    __table_args__ = (
        CheckConstraint(check_in("scope", FREEZE_SCOPES), name="scope"),
        CheckConstraint(check_in("marketplace", MARKETPLACES), name="marketplace"),
        Index("ix_marketing_freezes_unfrozen_at", "unfrozen_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    marketplace: Mapped[str | None] = mapped_column(String(32))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("marketplace_accounts.id"))
    reason: Mapped[str] = mapped_column(Text)
    frozen_by: Mapped[str] = mapped_column(String(255))
    unfrozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unfrozen_by: Mapped[str | None] = mapped_column(String(255))


# --- Alerts and recommendations ----------------------------------------------------------------------


class MarketingAlert(CreatedAtMixin, Base):
    """An alert (spec 7.3.7). System alerts (dead letters, health) have no campaign
    (DESIGN.md §5), hence campaign_id, marketplace and brand_id are nullable."""

    __tablename__ = "marketing_alerts"
    __table_args__ = (
        CheckConstraint(check_in("marketplace", MARKETPLACES), name="marketplace"),
        CheckConstraint(check_in("severity", ALERT_SEVERITIES), name="severity"),
        Index(
            "ix_marketing_alerts_campaign_id_alert_type_created_at",
            "campaign_id",
            "alert_type",
            "created_at",
        ),
        Index("ix_marketing_alerts_created_at", "created_at"),
        Index("ix_marketing_alerts_alert_date_alert_type", "alert_date", "alert_type"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_campaigns.id"))
    keyword_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_keywords.id", ondelete="SET NULL"))
    marketplace: Mapped[str | None] = mapped_column(String(32))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"))
    alert_type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_OBJECT)
    action_taken: Mapped[str | None] = mapped_column(String(64))
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"))
    is_resolved: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # De-duplication (issue 9 finding 10): one alert per (campaign or keyword, type, Moscow day),
    # raised again only when `situation` changes or `level` worsens; repeats are counted.
    alert_date: Mapped[date | None] = mapped_column(Date)
    situation: Mapped[str | None] = mapped_column(Text)
    level: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))
    repeats: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    campaign: Mapped[MarketingCampaign | None] = relationship()
    keyword: Mapped[MarketingKeyword | None] = relationship()
    notification: Mapped[Notification | None] = relationship()


class MarketingAnalyticsRun(Base):
    """One run of `calculate_analytics` and its Claude batch (issue 11 item 2: the batch id is kept
    here, so that the collector finds it after any crash)."""

    __tablename__ = "marketing_analytics_runs"
    __table_args__ = (
        CheckConstraint(check_in("status", ANALYTICS_RUN_STATUSES), name="status"),
        CheckConstraint(check_in("ai_status", AI_STATUSES), name="ai_status"),
        Index("ix_marketing_analytics_runs_started_at", "started_at"),
        Index("ix_marketing_analytics_runs_ai_status", "ai_status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[str | None] = mapped_column(String(64))
    # The Moscow day the run belongs to; it analyses the complete days before it.
    business_day: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(32), server_default=AnalyticsRunStatus.RUNNING.value)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_OBJECT)
    ai_status: Mapped[str] = mapped_column(String(32), server_default=AiStatus.OFF.value)
    # Why the AI part is where it is, in one line without secrets.
    ai_note: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(64))
    batch_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    batch_requests: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    batch_submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    batch_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    batch_ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Tokens counted against CLAUDE_MONTHLY_TOKEN_BUDGET: the estimate until the batch is
    # collected, then what the API reported (input incl. cache reads and writes, plus output).
    tokens_reserved: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    tokens_used: Mapped[int | None] = mapped_column(BigInteger)


class MarketingRecommendation(CreatedAtMixin, Base):
    """A recommendation a person accepts or rejects (issue 11 item 3). Bids are in the
    marketplace's bid unit, like `marketing_keywords.current_bid`; effects are kopecks over
    `EFFECT_HORIZON_DAYS` (app/services/marketing/recommendation_rules.py)."""

    __tablename__ = "marketing_recommendations"
    __table_args__ = (
        CheckConstraint(check_in("priority", RECOMMENDATION_PRIORITIES), name="priority"),
        CheckConstraint(check_in("status", RECOMMENDATION_STATUSES), name="status"),
        CheckConstraint(check_in("source", RECOMMENDATION_SOURCES), name="source"),
        CheckConstraint(check_in("recommendation_type", RECOMMENDATION_TYPES), name="recommendation_type"),
        Index("ix_marketing_recommendations_campaign_id_created_at", "campaign_id", "created_at"),
        Index("ix_marketing_recommendations_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("marketing_campaigns.id"))
    keyword_id: Mapped[int | None] = mapped_column(ForeignKey("marketing_keywords.id", ondelete="SET NULL"))
    analytics_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("marketing_analytics_runs.id", ondelete="SET NULL"), index=True
    )
    recommendation_type: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(32), server_default=RecommendationPriority.MEDIUM.value)
    # What to do, in one line.
    title: Mapped[str] = mapped_column(String(500))
    # Why, in one line.
    reason: Mapped[str] = mapped_column(Text, server_default="")
    # The evidence behind it (the numbers of the period).
    description: Mapped[str] = mapped_column(Text)
    expected_effect: Mapped[str | None] = mapped_column(Text)
    expected_spend_change: Mapped[int | None] = _money(nullable=True, default=None)
    expected_revenue_change: Mapped[int | None] = _money(nullable=True, default=None)
    current_bid: Mapped[int | None] = mapped_column(BigInteger, comment="marketplace bid unit")
    proposed_bid: Mapped[int | None] = mapped_column(BigInteger, comment="marketplace bid unit")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_OBJECT)
    status: Mapped[str] = mapped_column(String(32), server_default=RecommendationStatus.PENDING.value)
    source: Mapped[str] = mapped_column(String(32), server_default=RecommendationSource.RULES.value)
    # The model that wrote a Claude recommendation, e.g. "claude-opus-5".
    model: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(255))
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last word on it: why rejected or expired, what applying it did, or why that failed.
    status_note: Mapped[str | None] = mapped_column(Text)

    campaign: Mapped[MarketingCampaign] = relationship()
    keyword: Mapped[MarketingKeyword | None] = relationship()


# --- Dead letters -----------------------------------------------------------------------------------


class CeleryFailedTask(Base):
    """A task that failed for good (spec 7.6.2), written from Celery signals."""

    __tablename__ = "celery_failed_tasks"
    __table_args__ = (
        CheckConstraint(check_in("reason", FAILURE_REASONS), name="reason"),
        Index("ix_celery_failed_tasks_failed_at", "failed_at"),
        Index("ix_celery_failed_tasks_task_name", "task_name"),
        # Celery can report one hard time-out twice (on_timeout and the pool's own failure path):
        # one dead letter per task id.
        Index("uq_celery_failed_tasks_task_id", "task_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64))
    task_name: Mapped[str] = mapped_column(String(255))
    # Secrets redacted before they are written.
    args: Mapped[Any] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_OBJECT)
    exception: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(32), server_default=FailureReason.FAILED.value)
    retries: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    queue: Mapped[str | None] = mapped_column(String(255))
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
