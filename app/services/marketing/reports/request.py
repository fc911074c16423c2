"""What a report is asked for: a brand (optionally one account or one campaign of it), a period of
Moscow days and a file format — and every way that request can be wrong, as one readable line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from app.models.core import Brand
from app.models.marketing import MarketingCampaign, MarketplaceAccount

# One quarter: a report of the longest period still fits the worker's default time limit and
# memory on a brand with hundreds of campaigns; longer periods are split into several reports.
MAX_REPORT_DAYS: Final = 92
FORMATS: Final[tuple[str, ...]] = ("xlsx", "csv")


class ReportError(Exception):
    """A report request that cannot be served; the message says what to fix."""


@dataclass(frozen=True)
class ReportRequest:
    """Ids, as a task receives them (DESIGN.md §2: ids in)."""

    brand_id: int
    date_from: date
    date_to: date
    account_id: int | None = None
    campaign_id: int | None = None
    file_format: str = "xlsx"

    @property
    def days(self) -> list[date]:
        return [self.date_from + timedelta(days=n) for n in range((self.date_to - self.date_from).days + 1)]


@dataclass(frozen=True)
class ReportScope:
    """The brand, account and campaign a report covers, resolved and checked to belong together."""

    brand_id: int
    brand_name: str
    account_id: int | None = None
    account_name: str | None = None
    campaign_id: int | None = None
    campaign_name: str | None = None

    def campaign_filter(self) -> list[ColumnElement[bool]]:
        """WHERE conditions on marketing_campaigns that select the campaigns in scope."""
        conditions = [MarketingCampaign.brand_id == self.brand_id]
        if self.account_id is not None:
            conditions.append(MarketingCampaign.account_id == self.account_id)
        if self.campaign_id is not None:
            conditions.append(MarketingCampaign.id == self.campaign_id)
        return conditions


def parse_day(text: str | None, option: str) -> date:
    if not text:
        raise ReportError(f"{option} is required: a Moscow date such as 2026-12-01")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(
            f"{option} {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-01"
        ) from None


def check_format(file_format: str) -> str:
    value = file_format.strip().lower()
    if value not in FORMATS:
        raise ReportError(f"unknown format {file_format!r}; use one of {', '.join(FORMATS)}")
    return value


def check_period(date_from: date, date_to: date, today: date | None = None) -> None:
    """The period runs forward, is at most MAX_REPORT_DAYS long and, given `today` (the Moscow
    business day), does not end in the future."""
    if date_from > date_to:
        raise ReportError(f"--from {date_from} is after --to {date_to}; swap them")
    length = (date_to - date_from).days + 1
    if length > MAX_REPORT_DAYS:
        raise ReportError(
            f"the period {date_from}..{date_to} has {length} days; a report covers at most "
            f"{MAX_REPORT_DAYS} days — split it into several reports"
        )
    if today is not None and date_to > today:
        raise ReportError(
            f"--to {date_to} is after today ({today}, Moscow time); end the period today or earlier"
        )


def _by_id_or_name(text: str) -> int | None:
    """The id a command-line value may be (tried first, then the value as a name)."""
    return int(text) if text.strip().isdigit() else None


def find_scope(
    session: Session, brand: str, account: str | None = None, campaign: str | None = None
) -> ReportScope:
    """The scope named on the command line: brand by name or id; account by name or id and campaign
    by id or marketplace id, each within the brand (and the account)."""
    brand_id = _by_id_or_name(brand)
    found = session.get(Brand, brand_id) if brand_id is not None else None
    if found is None:
        found = session.scalar(select(Brand).where(Brand.name == brand.strip()))
    if found is None:
        known = session.scalars(select(Brand.name).order_by(Brand.name).limit(10)).all()
        raise ReportError(
            f"unknown brand {brand!r}; known brands: {', '.join(known) or 'none (add an account first)'}"
        )
    account_row = _find_account(session, found.id, account) if account is not None else None
    campaign_row = _find_campaign(session, found.id, account_row, campaign) if campaign is not None else None
    return _scope_of(found, account_row, campaign_row)


def _scope_of(
    brand: Brand, account: MarketplaceAccount | None, campaign: MarketingCampaign | None
) -> ReportScope:
    if account is None and campaign is not None:
        account = campaign.account
    return ReportScope(
        brand.id,
        brand.name,
        account.id if account else None,
        account.name if account else None,
        campaign.id if campaign else None,
        campaign.name if campaign else None,
    )


def _find_account(session: Session, brand_id: int, account: str) -> MarketplaceAccount:
    account_id = _by_id_or_name(account)
    query = select(MarketplaceAccount).where(MarketplaceAccount.brand_id == brand_id)
    matches = []
    if account_id is not None:
        matches = list(session.scalars(query.where(MarketplaceAccount.id == account_id)))
    if not matches:  # a name, digits or not
        matches = list(session.scalars(query.where(MarketplaceAccount.name == account.strip())))
    if not matches:
        raise ReportError(
            f"the brand has no account {account!r}; `adolf-marketing accounts list` shows accounts and ids"
        )
    if len(matches) > 1:
        raise ReportError(f"the brand has {len(matches)} accounts named {account!r}; give its id instead")
    return matches[0]


def _find_campaign(
    session: Session, brand_id: int, account: MarketplaceAccount | None, campaign: str
) -> MarketingCampaign:
    text = campaign.strip()
    query = select(MarketingCampaign).where(MarketingCampaign.brand_id == brand_id)
    if account is not None:
        query = query.where(MarketingCampaign.account_id == account.id)
    campaign_id = _by_id_or_name(text)
    matches = []
    if campaign_id is not None:
        matches = list(session.scalars(query.where(MarketingCampaign.id == campaign_id)))
    if not matches:  # a marketplace's own campaign id (WB advertId, Ozon id, YM business id)
        matches = list(session.scalars(query.where(MarketingCampaign.external_id == text)))
    where = "the account" if account is not None else "the brand"
    if not matches:
        raise ReportError(f"{where} has no campaign {campaign!r} (give our campaign id or the marketplace's)")
    if len(matches) > 1:
        raise ReportError(f"{where} has {len(matches)} campaigns with id {campaign!r}; add --account")
    return matches[0]


def load_scope(session: Session, request: ReportRequest) -> ReportScope:
    """The scope of a task's ids, checked again: a task can be sent without the CLI."""
    brand = session.get(Brand, request.brand_id)
    if brand is None:
        raise ReportError(f"no brand with id {request.brand_id}")
    account = session.get(MarketplaceAccount, request.account_id) if request.account_id is not None else None
    if request.account_id is not None and (account is None or account.brand_id != brand.id):
        raise ReportError(f"brand {brand.name!r} has no account with id {request.account_id}")
    campaign = (
        session.get(MarketingCampaign, request.campaign_id) if request.campaign_id is not None else None
    )
    if request.campaign_id is not None and (
        campaign is None
        or campaign.brand_id != brand.id
        or (account is not None and campaign.account_id != account.id)
    ):
        raise ReportError(f"brand {brand.name!r} has no campaign with id {request.campaign_id} in that scope")
    return _scope_of(brand, account, campaign)
