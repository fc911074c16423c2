"""The demo world of `adolf-marketing up` (issue 6 item 6): with the zero-config default, the
marketplace sandbox runs beside the system, its accounts are registered, and the main job runs at
once — sync, stats, a first bid cycle — then keeps the schedule."""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

import httpx
from celery import chain, group

from app.cli.tasks import release_result
from app.cli.up import Child
from app.core.celery_config import celery_app
from app.core.database import session_scope
from app.models.marketing import MarketplaceAccount
from app.sandbox.server import DEFAULT_PORTS, free_ports
from app.services.marketing.sandbox_accounts import register_sandbox_accounts

FAST_FACTOR = 60.0
# What the demo's campaigns bid by (account setting `default_strategy`, applied to new campaigns
# by sync): WB holds position 3, Ozon and YM buy traffic up to a cap (YM bids: % of price × 100).
# Every cap sits inside what the marketplace accepts (the sandbox's bounds, from the API digest):
# WB CPM from 125–159 ₽ (per placement and category) and CPC from 4 ₽, up to 100 000 ₽; Ozon CPC
# 8–11 ₽ .. 1 000 ₽ per click and CPM 100 ₽ .. 10 000 ₽ per thousand views — hence a CPM override,
# as one cap cannot fit both (issue 17 item 1: all 20 Ozon CPM bids were refused at a 50 ₽ cap);
# YM 0.50 %..99.99 %.
DEMO_STRATEGIES: dict[str, dict[str, Any]] = {
    "wb": {"strategy_type": "target_position", "strategy_params": {"position": 3}, "max_bid": 150_000},
    "ozon": {
        "strategy_type": "max_traffic",
        "strategy_params": {"bid_cap": 3_000},
        "max_bid": 5_000,
        "by_payment_type": {"cpm": {"strategy_params": {"bid_cap": 20_000}, "max_bid": 30_000}},
    },
    "ym": {"strategy_type": "max_traffic", "strategy_params": {"bid_cap": 900}, "max_bid": 1_000},
}


DEMO_SIZE = "demo"  # the world size `up` serves (`backtest` replays the same world)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_ports() -> dict[str, int]:
    """The documented ports (8101–8106) when free, else any free ones."""
    spare = iter(free_ports(len(DEFAULT_PORTS)))
    return {name: port if port_free(port) else next(spare) for name, port in DEFAULT_PORTS.items()}


def sandbox_child(ports: dict[str, int], seed: int) -> Child:
    return Child(
        "sandbox",
        [
            sys.executable,
            "-m",
            "app.sandbox.cli",
            "--profile",
            "fast",
            "--fast-factor",
            str(FAST_FACTOR),
            "--speed",
            "1",
            "--seed",
            str(seed),
            "--size",
            DEMO_SIZE,
            "--wb-port",
            str(ports["wildberries"]),
            "--ozon-port",
            str(ports["ozon"]),
            "--ym-port",
            str(ports["yandex_market"]),
            "--watcher-port",
            str(ports["watcher"]),
            "--claude-port",
            str(ports["claude"]),
            "--telegram-port",
            str(ports["telegram"]),
            "--brief",  # `up` registers the accounts: their credentials need not fill its log
        ],
    )


def sandbox_env(
    ports: dict[str, int], watcher_key: str, claude_key: str, telegram_token: str
) -> dict[str, str]:
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    return {
        "WB_API_URL": base["wildberries"],
        "OZON_API_URL": base["ozon"],
        "YM_API_URL": base["yandex_market"],
        "WATCHER_API_URL": base["watcher"],
        "WATCHER_API_KEY": watcher_key,
        "CLAUDE_API_URL": base["claude"],
        "CLAUDE_API_KEY": claude_key,
        "TELEGRAM_API_URL": base["telegram"],
        "TELEGRAM_BOT_TOKEN": telegram_token,
        "CLOCK_URL": base["wildberries"] + "/_sandbox/clock",
        "RATE_LIMIT_FACTOR": str(FAST_FACTOR),
    }


def wait_for_sandbox(ports: dict[str, int], timeout: float = 60.0) -> dict[str, Any]:
    """The sandbox's accounts, once it answers."""
    url = f"http://127.0.0.1:{ports['wildberries']}/_sandbox/accounts"
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = httpx.get(url, timeout=2)
            if reply.status_code == 200:
                return dict(reply.json())
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.3)


def register_demo_accounts(accounts: list[dict[str, Any]]) -> int:
    with session_scope() as session:
        ids = register_sandbox_accounts(session, accounts)
        for account_id in ids:
            account = session.get(MarketplaceAccount, account_id)
            assert account is not None
            account.settings = {**account.settings, "default_strategy": DEMO_STRATEGIES[account.marketplace]}
    return len(ids)


def kick_off(wait_for_workers: float = 90.0) -> str | None:
    """Sync → stats of the three marketplaces → a first bid cycle, once the workers answer."""
    deadline = time.monotonic() + wait_for_workers
    while time.monotonic() < deadline:
        if len(celery_app.control.ping(timeout=1.0)) >= 3:
            break
    else:
        return None
    return send_first_run()


def send_first_run() -> str:
    sig = celery_app.signature
    flow = chain(
        sig("app.tasks.marketing.sync.sync_campaigns", immutable=True),
        group(
            sig("app.tasks.marketing.stats.collect_stats", args=(mp,), immutable=True)
            for mp in ("wb", "ozon", "ym")
        ),
        sig("app.tasks.marketing.bid_cycle.run_bid_cycle", immutable=True),
    )
    result = flow.apply_async()
    release_result(result)  # nobody here waits for it; see release_result
    return str(result.id)
