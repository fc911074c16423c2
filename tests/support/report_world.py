"""A brand with known numbers for the report tests, written the way the system writes them:
snapshots through the stats COPY path (two per day, cumulative since Moscow midnight), past days
aggregated by the real `fn_marketing_aggregate_daily_stats`, bid history in each marketplace's unit,
and recommendations in open and closed states. A second brand's data must never show up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.clock import moscow_day_start
from app.core.secrets import encrypt_credentials
from app.models.core import Brand
from app.models.marketing import (
    MarketingBidHistory,
    MarketingCampaign,
    MarketingKeyword,
    MarketingRecommendation,
    MarketplaceAccount,
)
from app.services.marketing.adapters.base import StatsSnapshot
from app.services.marketing.stats_store import stats_tuple, write_stats_rows

BRAND = "Бренд «Тест»"
OTHER_BRAND = "Other brand"
PAST_DAYS = 3


@dataclass(frozen=True)
class Counters:
    views: int
    clicks: int
    orders: int
    spent: int
    revenue: int

    def half(self) -> Counters:
        """The morning snapshot of the same day: counters grow through the day."""
        return Counters(
            self.views // 2, self.clicks // 2, self.orders // 2, self.spent // 2, self.revenue // 2
        )


@dataclass
class ReportWorld:
    brand_id: int
    other_brand_id: int
    wb_account_id: int
    ym_account_id: int
    campaigns: dict[str, int]  # "wb_search" | "wb_cpc" | "ym" | "other" → id
    keywords: dict[str, int]  # keyword text → id
    today: date
    days: list[date]
    # Final counters of each (campaign key, day) and (keyword text, day): the truth a report shows.
    campaign_counters: dict[tuple[str, date], Counters] = field(default_factory=dict)
    keyword_counters: dict[tuple[str, date], Counters] = field(default_factory=dict)

    @property
    def date_from(self) -> date:
        return self.days[0]


def final_counters(campaign: str, index: int) -> Counters:
    """Day `index` (0 = the first day of the period) of a campaign; YM reports no revenue."""
    n = index + 1
    if campaign == "wb_search":
        return Counters(10_000 * n, 300 * n, 6 * n, 150_000 * n, 1_200_000 * n)
    if campaign == "wb_cpc":
        return Counters(2_000 * n, 100 * n, 1 * n, 40_000 * n, 90_000 * n)
    if campaign == "ym":
        return Counters(5_000 * n, 120 * n, 3 * n, 70_000 * n, 0)
    return Counters(999_999, 9_999, 99, 9_999_900, 99_999_900)  # the other brand


KEYWORDS = {
    # keyword → (campaign key, kind, external id, share of the campaign's counters)
    "платье женское": ("wb_search", "cluster", "платье женское", 0.6),
    "платье летнее": ("wb_search", "cluster", "платье летнее", 0.3),
    "123456": ("wb_cpc", "nm", "123456", 1.0),
    "SKU-YM-1": ("ym", "sku", "SKU-YM-1", 1.0),
}


def scaled(counters: Counters, share: float) -> Counters:
    return Counters(*(int(value * share) for value in vars(counters).values()))


def build_report_world(session: Session, today: date) -> ReportWorld:
    brand = Brand(name=BRAND)
    other = Brand(name=OTHER_BRAND)
    session.add_all([brand, other])
    session.flush()
    secret = encrypt_credentials({"token": "report-test-token"})
    wb = MarketplaceAccount(marketplace="wb", brand_id=brand.id, name="wb-main", credentials_encrypted=secret)
    ym = MarketplaceAccount(marketplace="ym", brand_id=brand.id, name="ym-main", credentials_encrypted=secret)
    other_wb = MarketplaceAccount(
        marketplace="wb", brand_id=other.id, name="wb-other", credentials_encrypted=secret
    )
    session.add_all([wb, ym, other_wb])
    session.flush()
    specs = {
        "wb_search": (wb, "wb", "1001", "Платья — поиск", "cpm", "target_position"),
        "wb_cpc": (wb, "wb", "1002", "Товар 123456 — CPC", "cpc", "target_drr"),
        "ym": (ym, "ym", "77001", "Маркет — буст", "cpo", "max_traffic"),
        "other": (other_wb, "wb", "2001", "Чужая кампания", "cpm", "fixed"),
    }
    campaigns: dict[str, MarketingCampaign] = {}
    for key, (account, marketplace, external_id, name, payment, strategy) in specs.items():
        campaigns[key] = MarketingCampaign(
            account_id=account.id,
            marketplace=marketplace,
            brand_id=account.brand_id,
            external_id=external_id,
            name=name,
            payment_type=payment,
            status="active",
            strategy_type=strategy,
        )
    session.add_all(campaigns.values())
    session.flush()
    keywords: dict[str, MarketingKeyword] = {}
    for word, (campaign_key, kind, external_id, _share) in KEYWORDS.items():
        keywords[word] = MarketingKeyword(
            campaign_id=campaigns[campaign_key].id, external_id=external_id, keyword=word, kind=kind
        )
    session.add_all(keywords.values())
    session.flush()
    days = [today - timedelta(days=PAST_DAYS - i) for i in range(PAST_DAYS + 1)]
    world = ReportWorld(
        brand_id=brand.id,
        other_brand_id=other.id,
        wb_account_id=wb.id,
        ym_account_id=ym.id,
        campaigns={key: c.id for key, c in campaigns.items()},
        keywords={word: k.id for word, k in keywords.items()},
        today=today,
        days=days,
    )
    rows = []
    for index, day in enumerate(days):
        morning = moscow_day_start(day) + timedelta(hours=9)
        evening = moscow_day_start(day) + timedelta(hours=23, minutes=45)
        if day == today:  # today's snapshots are from the first minutes of the day: never in the future
            morning, evening = moscow_day_start(day), moscow_day_start(day) + timedelta(seconds=1)
        for key, campaign in campaigns.items():
            final = final_counters(key, index)
            world.campaign_counters[(key, day)] = final
            for at, counters in ((morning, final.half()), (evening, final)):
                rows.append(_row(campaign, None, day, at, counters))
        for word, (campaign_key, _kind, external_id, share) in KEYWORDS.items():
            final = scaled(final_counters(campaign_key, index), share)
            world.keyword_counters[(word, day)] = final
            for at, counters in ((morning, final.half()), (evening, final)):
                rows.append(_row(campaigns[campaign_key], keywords[word], day, at, counters, external_id))
    write_stats_rows(session, rows)
    for day in days[:-1]:  # past days only: today has no daily row yet
        session.execute(text("SELECT fn_marketing_aggregate_daily_stats(:day)"), {"day": day})
    _bid_history(session, world, campaigns, keywords)
    _recommendations(session, campaigns, keywords)
    session.flush()
    return world


def _row(
    campaign: MarketingCampaign,
    keyword: MarketingKeyword | None,
    day: date,
    at: datetime,
    counters: Counters,
    keyword_external_id: str | None = None,
) -> tuple[object, ...]:
    snapshot = StatsSnapshot(
        campaign.external_id,
        keyword_external_id,
        day,
        counters.views,
        counters.clicks,
        0,
        counters.orders,
        counters.spent,
        counters.revenue,
    )
    return stats_tuple(day, at, campaign.id, keyword.id if keyword else None, campaign.marketplace, snapshot)


def _bid_history(
    session: Session,
    world: ReportWorld,
    campaigns: dict[str, MarketingCampaign],
    keywords: dict[str, MarketingKeyword],
) -> None:
    inside = moscow_day_start(world.days[1]) + timedelta(hours=12)
    session.add_all(
        [
            # WB CPM: kopecks per 1000 views — 200.00 ₽ → 220.00 ₽.
            MarketingBidHistory(
                campaign_id=campaigns["wb_search"].id,
                keyword_id=keywords["платье женское"].id,
                old_bid=20_000,
                new_bid=22_000,
                bid_unit="kopecks_per_1000_views",
                source="bid_cycle",
                strategy_type="target_position",
                reason="позиция 5 → цель 3",
                created_at=inside,
            ),
            # YM: percent of the price × 100 — 5.00 % → 6.50 %, never rubles.
            MarketingBidHistory(
                campaign_id=campaigns["ym"].id,
                keyword_id=keywords["SKU-YM-1"].id,
                old_bid=500,
                new_bid=650,
                bid_unit="percent_of_price_x100",
                source="manual",
                strategy_type=None,
                reason="поднять вручную",
                created_at=inside + timedelta(hours=1),
            ),
            # Before the period and of another brand: not in the report.
            MarketingBidHistory(
                campaign_id=campaigns["wb_search"].id,
                keyword_id=keywords["платье летнее"].id,
                old_bid=10_000,
                new_bid=11_000,
                source="bid_cycle",
                reason="до периода",
                created_at=moscow_day_start(world.days[0]) - timedelta(days=5),
            ),
            MarketingBidHistory(
                campaign_id=campaigns["other"].id,
                old_bid=10_000,
                new_bid=12_000,
                source="bid_cycle",
                reason="чужой бренд",
                created_at=inside,
            ),
        ]
    )


def _recommendations(
    session: Session, campaigns: dict[str, MarketingCampaign], keywords: dict[str, MarketingKeyword]
) -> None:
    def recommendation(
        campaign: str, status: str, title: str, priority: str = "medium"
    ) -> MarketingRecommendation:
        return MarketingRecommendation(
            campaign_id=campaigns[campaign].id,
            keyword_id=keywords["платье летнее"].id if campaign == "wb_search" else None,
            recommendation_type="lower_bid",
            priority=priority,
            title=title,
            description="Расход без заказов три дня подряд",
            expected_effect="−350 ₽ в день",
            status=status,
            source="rules",
        )

    session.add_all(
        [
            recommendation("wb_search", "pending", "Снизить ставку «платье летнее»", "high"),
            recommendation("wb_cpc", "pending", "Проверить товар 123456"),
            recommendation("wb_search", "applied", "Уже применена"),
            recommendation("wb_search", "rejected", "Отклонена"),
            recommendation("other", "pending", "Чужая рекомендация"),
        ]
    )
