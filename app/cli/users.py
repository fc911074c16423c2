"""`adolf-marketing users add|list|set|remove` (issue 12 item 2): the people alerts reach.

Roles are those of spec 7.3.7: a `manager` belongs to a brand and hears about its campaigns;
`senior`, `director` and `administrator` hear every warning and critical alert (administrators also
every system alert). Channels beside the in-app notification: Telegram (the user's Telegram id —
the bot tells it on /start) and email (the user's address), each from a severity on: `info` (info
alerts then come as one daily digest), `warning` or `critical`.
"""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cli.common import confirm, console
from app.cli.errors import UserError
from app.core.config import get_settings
from app.core.database import session_scope
from app.models.core import (
    NOTIFICATION_LEVELS,
    USER_ROLES,
    Brand,
    ChannelKind,
    DeliveryStatus,
    NotificationDelivery,
    User,
    UserChannel,
    UserRole,
)
from app.services.notify.delivery import configured_channels

users_app = typer.Typer(help="Users, their roles and where their alerts go.", no_args_is_help=True)
NONE = ("none", "off")


def _role(text: str) -> str:
    role = text.strip().lower()
    if role not in USER_ROLES:
        raise UserError(f"unknown role {text!r}; use one of {', '.join(USER_ROLES)}")
    return role


def _level(text: str, option: str) -> str | None:
    level = text.strip().lower()
    if level in NONE:
        return None
    if level not in NOTIFICATION_LEVELS:
        raise UserError(f"{option} {text!r}: use one of {', '.join(NOTIFICATION_LEVELS)}, or none")
    return level


def _telegram_id(text: str) -> str | None:
    value = text.strip()
    if value.lower() in NONE:
        return None
    if not value.lstrip("-").isdigit():
        raise UserError(
            f"--telegram {text!r}: give the numeric Telegram id (the bot tells it on /start), or none"
        )
    return value


def _brand(session: Session, name: str) -> Brand:
    brand = session.scalar(select(Brand).where(Brand.name == name.strip()))
    if brand is None:
        known = ", ".join(session.scalars(select(Brand.name).order_by(Brand.name))) or "none yet"
        raise UserError(f"no brand {name!r} (known: {known}); brands come with `accounts add --brand`")
    return brand


def find_user(session: Session, text: str) -> User:
    value = text.strip()
    user = session.get(User, int(value)) if value.isdigit() else None
    user = user or session.scalar(select(User).where(func.lower(User.email) == value.lower()))
    if user is None:
        raise UserError(f"no user {text!r}; `adolf-marketing users list` shows users, ids and emails")
    return user


def _set_channel(
    session: Session, user: User, kind: ChannelKind, address: str | None, level: str | None
) -> None:
    """Create, change or (address/level None) remove one channel of a user."""
    current = next((c for c in user.channels if c.channel == kind), None)
    if address is None or level is None:
        if current is not None:
            user.channels.remove(current)
        return
    if current is None:
        user.channels.append(UserChannel(channel=kind.value, address=address, min_severity=level))
    else:
        current.address, current.min_severity = address, level


def _check_manager(role: str, brand_id: int | None) -> None:
    if role == UserRole.MANAGER and brand_id is None:
        raise UserError("a manager belongs to a brand (spec 7.3.7): give --brand")


def _channel_note(user: User) -> str | None:
    missing = [c.channel for c in user.channels if c.channel not in configured_channels(get_settings())]
    if not missing:
        return None
    settings = {"telegram": "TELEGRAM_BOT_TOKEN", "email": "SMTP_HOST"}
    needed = ", ".join(settings[m] for m in missing)
    return f"note: {', '.join(missing)} messages need {needed} where the workers run (not set here)"


@users_app.command("add", help="Add a user with a role (and a brand for a manager) and their alert channels.")
def add_user(
    email: str = typer.Argument(..., help="The user's email (also their email channel's address)."),
    name: str = typer.Option(..., "--name", help="Full name."),
    role: str = typer.Option(..., "--role", help=f"One of {', '.join(USER_ROLES)}."),
    brand: str | None = typer.Option(
        None, "--brand", help="The manager's brand (name, as in `accounts list`)."
    ),
    telegram: str | None = typer.Option(
        None, "--telegram", help="Telegram id for alerts (the bot tells it on /start)."
    ),
    telegram_level: str = typer.Option(
        "warning", "--telegram-level", help="Lowest severity sent to Telegram: info, warning, critical."
    ),
    email_level: str = typer.Option(
        "none", "--email-level", help="Lowest severity emailed: info, warning, critical or none."
    ),
) -> None:
    address = email.strip()
    if "@" not in address or " " in address:
        raise UserError(f"{email!r} is not an email address")
    role = _role(role)
    with session_scope() as session:
        if session.scalar(select(User.id).where(func.lower(User.email) == address.lower())):
            raise UserError(
                f"a user with email {address} exists already; change it with `users set {address}`"
            )
        brand_row = _brand(session, brand) if brand else None
        _check_manager(role, brand_row.id if brand_row else None)
        user = User(
            email=address,
            full_name=name.strip() or address,
            role=role,
            brand_id=brand_row.id if brand_row else None,
        )
        session.add(user)
        _set_channel(
            session,
            user,
            ChannelKind.TELEGRAM,
            _telegram_id(telegram) if telegram else None,
            _level(telegram_level, "--telegram-level"),
        )
        _set_channel(session, user, ChannelKind.EMAIL, address, _level(email_level, "--email-level"))
        session.flush()
        typer.echo(f"added user {user.id}: {describe_user(user)}")
        note = _channel_note(user)
        if note:
            typer.echo(note)


def describe_user(user: User) -> str:
    brand = f", brand {user.brand.name}" if user.brand else ""
    state = "" if user.is_active else ", inactive"
    return f"{user.email} ({user.role}{brand}{state}); alerts: {describe_channels(user)}"


def describe_channels(user: User) -> str:
    parts = ["in-app"] + [f"{c.channel} {c.address} from {c.min_severity}" for c in user.channels]
    return ", ".join(parts)


@users_app.command("list", help="Users, roles, brands, channels and messages still to deliver.")
def list_users() -> None:
    table = Table()
    for column in ("id", "email", "name", "role", "brand", "active", "alerts go to", "undelivered"):
        table.add_column(column)
    with session_scope() as session:
        waiting = dict(
            session.execute(
                select(NotificationDelivery.user_id, func.count())
                .where(NotificationDelivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.FAILED)))
                .group_by(NotificationDelivery.user_id)
            ).all()
        )
        users = session.scalars(select(User).order_by(User.id)).all()
        for user in users:
            table.add_row(
                str(user.id),
                user.email,
                user.full_name,
                user.role,
                user.brand.name if user.brand else "-",
                "yes" if user.is_active else "no",
                describe_channels(user),
                str(waiting.get(user.id, 0)),
            )
    console().print(table)
    if not users:
        typer.echo("no users yet: add one with `adolf-marketing users add EMAIL --name NAME --role ROLE`")


@users_app.command("set", help="Change a user's name, role, brand, activity or channels.")
def set_user(
    user_ref: str = typer.Argument(..., help="User id or email."),
    name: str | None = typer.Option(None, "--name"),
    role: str | None = typer.Option(None, "--role", help=f"One of {', '.join(USER_ROLES)}."),
    brand: str | None = typer.Option(None, "--brand", help="Brand name, or none."),
    active: bool | None = typer.Option(None, "--active/--inactive", help="An inactive user gets no alerts."),
    telegram: str | None = typer.Option(
        None, "--telegram", help="Telegram id, or none to stop Telegram alerts."
    ),
    telegram_level: str | None = typer.Option(None, "--telegram-level", help="info, warning or critical."),
    email_level: str | None = typer.Option(None, "--email-level", help="info, warning, critical or none."),
) -> None:
    with session_scope() as session:
        user = find_user(session, user_ref)
        if name is not None:
            user.full_name = name.strip() or user.full_name
        if role is not None:
            user.role = _role(role)
        if brand is not None:
            user.brand_id = None if brand.strip().lower() in NONE else _brand(session, brand).id
        _check_manager(user.role, user.brand_id)
        if active is not None:
            user.is_active = active
        current = {c.channel: c for c in user.channels}
        if telegram is not None or telegram_level is not None:
            old = current.get(ChannelKind.TELEGRAM)
            address = _telegram_id(telegram) if telegram is not None else (old.address if old else None)
            if address is None and telegram is None:
                raise UserError("--telegram-level needs a Telegram id: give --telegram ID")
            level = (
                _level(telegram_level, "--telegram-level")
                if telegram_level
                else (old.min_severity if old else "warning")
            )
            _set_channel(session, user, ChannelKind.TELEGRAM, address, level)
        if email_level is not None:
            _set_channel(session, user, ChannelKind.EMAIL, user.email, _level(email_level, "--email-level"))
        session.flush()
        typer.echo(f"user {user.id}: {describe_user(user)}")
        note = _channel_note(user)
        if note:
            typer.echo(note)


@users_app.command("remove", help="Remove a user and their notifications; asks first (--yes skips).")
def remove_user(
    user_ref: str = typer.Argument(..., help="User id or email."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    with session_scope() as session:
        user = find_user(session, user_ref)
        label = f"user {user.id} ({user.email}, {user.role})"
        if not confirm(f"Remove {label} and their notifications? (`users set --inactive` keeps them)", yes):
            typer.echo("nothing changed")
            return
        session.delete(user)
        typer.echo(f"removed {label}")
