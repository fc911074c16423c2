"""Campaigns and cumulative snapshots for the aggregation and retention tests, written through the
real COPY path (`write_stats_rows`) into real partitions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from app.core.clock import MOSCOW, moscow_today
from app.core.config import reset_settings_cache
from app.core.database import session_scope
from app.core.secrets import encrypt_credentials
from app.models.core import Brand
from app.models.marketing import MarketingCampaign, MarketingKeyword, MarketplaceAccount
from app.services.marketing.adapters.base import StatsSnapshot
from app.services.marketing.stats_store import StatsTuple, stats_tuple, write_stats_rows


@dataclass(frozen=True)
class Seeded:
    brand_id: int
    campaign_ids: list[int]
    keyword_ids: list[int]  # one per campaign, same order


def seed_campaigns(count: int = 1, marketplace: str = "wb") -> Seeded:
    with session_scope() as session:
        brand = Brand(name=f"brand-{random.random()}")
        account = MarketplaceAccount(
            marketplace=marketplace,
            brand=brand,
            name="main",
            credentials_encrypted=encrypt_credentials({"token": "t"}),
        )
        campaigns = [
            MarketingCampaign(
                account=account,
                marketplace=marketplace,
                brand=brand,
                external_id=str(100 + n),
                name=f"Кампания {n}",
                campaign_type="search",
                status="active",
            )
            for n in range(count)
        ]
        keywords = [
            MarketingKeyword(campaign=c, external_id="платье", keyword="платье", kind="cluster")
            for c in campaigns
        ]
        session.add_all([brand, account, *campaigns, *keywords])
        session.flush()
        return Seeded(brand.id, [c.id for c in campaigns], [k.id for k in keywords])


@dataclass(frozen=True)
class Counters:
    views: int = 0
    clicks: int = 0
    orders: int = 0
    spent: int = 0
    revenue: int = 0

    def grown(self, rng: random.Random) -> Counters:
        """The next cumulative snapshot: every counter grows by a random step (never shrinks)."""
        return Counters(
            self.views + rng.randint(50, 400),
            self.clicks + rng.randint(0, 20),
            self.orders + rng.randint(0, 2),
            self.spent + rng.randint(0, 5_000),
            self.revenue + rng.randint(0, 30_000),
        )


def snapshot(
    campaign_id: int, keyword_id: int | None, collected_at: datetime, c: Counters, day: date | None = None
) -> StatsTuple:
    """One snapshot of Moscow day `day` (default: the day it was collected on)."""
    day = day or moscow_today(collected_at)
    return stats_tuple(
        day,
        collected_at,
        campaign_id,
        keyword_id,
        "wb",
        StatsSnapshot(str(campaign_id), None, day, c.views, c.clicks, 0, c.orders, c.spent, c.revenue, 3.5),
    )


def quarter_hours(first: datetime, last: datetime) -> Iterator[datetime]:
    moment = first
    while moment <= last:
        yield moment
        moment += timedelta(minutes=15)


def moscow_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=MOSCOW).astimezone(UTC)


def write_cumulative_days(
    campaign_id: int, keyword_id: int | None, first: datetime, last: datetime, seed: int
) -> dict[date, list[tuple[datetime, Counters]]]:
    """A snapshot every 15 minutes from `first` to `last`; counters restart at each Moscow
    midnight, as the marketplaces report them. Returns each Moscow day's snapshots in order."""
    rng = random.Random(seed)
    by_day: dict[date, list[tuple[datetime, Counters]]] = {}
    rows = []
    for moment in quarter_hours(first, last):
        day = moscow_today(moment)
        previous = by_day.setdefault(day, [])
        current = (previous[-1][1] if previous else Counters()).grown(rng)
        previous.append((moment, current))
        rows.append(snapshot(campaign_id, keyword_id, moment, current))
    with session_scope() as session:
        write_stats_rows(session, rows)
    return by_day


def write_snapshot(
    campaign_id: int, keyword_id: int | None, collected_at: datetime, c: Counters, day: date | None = None
) -> None:
    with session_scope() as session:
        write_stats_rows(session, [snapshot(campaign_id, keyword_id, collected_at, c, day)])


def percent(part: int, whole: int) -> Decimal:
    """The seed's rounding of CTR and DRR: percent to 2 places, 0 when the divisor is 0."""
    if whole == 0:
        return Decimal("0.00")
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def kopecks_per(total: int, count: int) -> int:
    """CPC and CPO: whole kopecks (the seed's ROUND(…, 2) on rubles), 0 when the divisor is 0."""
    if count == 0:
        return 0
    return int((Decimal(total) / Decimal(count)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def derived(c: Counters) -> tuple[Decimal, int, int, Decimal]:
    """CTR, CPC, CPO and DRR of `c` as the aggregation must compute them."""
    return (
        percent(c.clicks, c.views),
        kopecks_per(c.spent, c.clicks),
        kopecks_per(c.spent, c.orders),
        percent(c.spent, c.revenue),
    )


def settings_overridden(monkeypatch: pytest.MonkeyPatch, **values: object) -> Iterator[None]:
    """For a fixture (`yield from`): the settings with `values`, restored afterwards."""
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    reset_settings_cache()
    yield
    for name in values:
        monkeypatch.delenv(name)
    reset_settings_cache()
