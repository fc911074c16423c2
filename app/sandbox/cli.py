"""`adolf-marketing sandbox`: serve the six sandbox apps on loopback until Ctrl-C.

`sandbox_command` is a plain function whose parameters are Typer options, so app/cli.py registers it
with `app.command("sandbox")(sandbox_command)`; `python -m app.sandbox.cli` runs it standalone.
"""

from __future__ import annotations

import asyncio
import contextlib
from enum import StrEnum

import typer
from rich.console import Console

from app.sandbox.server import SandboxWorld, create_sandbox, serve


class ProfileName(StrEnum):
    official = "official"
    fast = "fast"


class SizeName(StrEnum):
    small = "small"
    demo = "demo"
    bench = "bench"


def describe(world: SandboxWorld, ports: dict[str, int], host: str) -> list[str]:
    """The URLs and credentials a user needs to point the system (or curl) at the sandbox; one
    credential per line, never wrapped, so that it can be copied."""
    sb = world.sandbox
    lines = [
        f"ADOLF marketplace sandbox — seed {sb.seed}, profile {sb.profile.name} (×{sb.profile.factor:g})"
    ]
    titles = {
        "wildberries": "Wildberries Promotion API",
        "ozon": "Ozon Performance API",
        "yandex_market": "Yandex Market Partner API",
    }
    for name, title in titles.items():
        lines.append(f"{title}: http://{host}:{ports[name]}")
        for account in sb.accounts_json(name):
            creds = account["credentials"]
            lines.append(f"  {account['name']} (account {account['id']})")
            if name == "wildberries":
                for token_type, token in creds["tokens"].items():
                    lines.append(f"    Authorization ({token_type}): {token}")
            elif name == "ozon":
                lines.append(f"    client_id: {creds['client_id']}")
                lines.append(f"    client_secret: {creds['client_secret']}")
            else:
                lines.append(f"    Api-Key: {creds['api_key']}")
                lines.append(f"    businessId: {creds['business_id']}  campaignIds: {creds['campaign_ids']}")
    lines.append(f"Watcher API: http://{host}:{ports['watcher']}")
    lines.append(f"    X-Watcher-Key: {sb.watcher_key}")
    lines.append(f"Claude Messages API (fake): http://{host}:{ports['claude']}")
    lines.append(f"    x-api-key: {sb.claude_key}")
    lines.append(f"Telegram Bot API (fake): http://{host}:{ports['telegram']}")
    lines.append(f"    bot token: {sb.telegram_token}")
    lines.append(
        "Control on every port: GET /_sandbox/accounts · GET /_sandbox/effects?since=N · "
        "GET|POST|DELETE /_sandbox/faults · GET|POST /_sandbox/clock. Ctrl-C stops."
    )
    return lines


def sandbox_command(
    seed: int = typer.Option(1, "--seed", help="World seed: the same seed gives the same world and answers."),
    profile: ProfileName = typer.Option(
        ProfileName.official,
        "--profile",
        help="official = the specs' rate limits; fast = every rate × --fast-factor.",
    ),
    speed: float = typer.Option(
        1.0, "--speed", min=0.0, help="Virtual seconds per real second (0 = frozen)."
    ),
    size: SizeName = typer.Option(SizeName.demo, "--size", help="World size: small, demo or bench."),
    fast_factor: float = typer.Option(
        60.0, "--fast-factor", min=1.0, help="Rate multiplier of --profile fast."
    ),
    history_days: float = typer.Option(
        1.0, "--history-days", min=0.0, help="Days of simulated past the world starts with."
    ),
    wb_port: int = typer.Option(8101, "--wb-port", help="Wildberries Promotion API port."),
    ozon_port: int = typer.Option(8102, "--ozon-port", help="Ozon Performance API port."),
    ym_port: int = typer.Option(8103, "--ym-port", help="Yandex Market Partner API port."),
    watcher_port: int = typer.Option(8104, "--watcher-port", help="Watcher API port."),
    claude_port: int = typer.Option(8105, "--claude-port", help="Fake Claude Messages API port."),
    telegram_port: int = typer.Option(8106, "--telegram-port", help="Fake Telegram Bot API port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback by default)."),
    brief: bool = typer.Option(
        False, "--brief", help="One line, not every URL and credential (`up` registers the accounts)."
    ),
) -> None:
    """Run the marketplace sandbox: WB, Ozon, YM, Watcher and a fake Claude over one simulated world."""
    ports = {
        "wildberries": wb_port,
        "ozon": ozon_port,
        "yandex_market": ym_port,
        "watcher": watcher_port,
        "claude": claude_port,
        "telegram": telegram_port,
    }
    if len(set(ports.values())) != len(ports):
        raise typer.BadParameter(
            "the six ports must differ",
            param_hint="--wb-port/--ozon-port/--ym-port/--watcher-port/--claude-port/--telegram-port",
        )
    world = create_sandbox(
        seed=seed,
        profile=profile.value,
        speed=speed,
        size=size.value,
        fast_factor=fast_factor,
        history_days=history_days,
    )
    # Simulate the past now, so that the first request does not pay for it.
    world.sandbox.now()
    console = Console(highlight=False)
    lines = describe(world, ports, host)
    if brief:
        lines = [f"{lines[0]} on {host} ports {', '.join(str(p) for p in ports.values())}"]
    for line in lines:
        console.print(line, soft_wrap=True, markup=False)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(world, ports, host))


def main() -> None:
    typer.run(sandbox_command)


if __name__ == "__main__":
    main()
