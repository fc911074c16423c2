"""The `/_sandbox/*` control routes, mounted on every sandbox app (issue 3, "Control and
observation"): accounts, the effect log, fault injection and the virtual clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.sandbox.faults import FaultSpecError
from app.sandbox.http import BadJSON, JSONBody, parse_int, read_json
from app.sandbox.state import CLAUDE_ANSWERS, Sandbox


def _error(status: int, message: str) -> JSONBody:
    return JSONBody({"error": message}, status)


def control_routes(sandbox: Sandbox) -> list[Route]:
    async def accounts(request: Request) -> Response:
        marketplace = request.query_params.get("marketplace")
        return JSONBody(
            {
                "seed": sandbox.seed,
                "accounts": sandbox.accounts_json(marketplace),
                "watcher": {"api_key": sandbox.watcher_key, "header": "X-Watcher-Key"},
                "claude": {"api_key": sandbox.claude_key, "header": "x-api-key"},
                "telegram": {"bot_token": sandbox.telegram_token},
            }
        )

    async def effects(request: Request) -> Response:
        since = parse_int(request.query_params.get("since", "0"))
        if since is None or since < 0:
            return _error(400, "since must be a non-negative integer (the last seq you have seen)")
        marketplace = request.query_params.get("marketplace")
        items = sandbox.effects.since(since, marketplace)
        return JSONBody({"last_seq": sandbox.effects.last_seq, "effects": [e.to_json() for e in items]})

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONBody({"faults": [r.to_json() for r in sandbox.faults.rules()]})
        if request.method == "DELETE":
            return JSONBody({"cleared": sandbox.faults.clear()})
        try:
            data = await read_json(request)
        except BadJSON as exc:
            return _error(400, exc.detail)
        if isinstance(data, dict) and data.get("clear") is True:
            return JSONBody({"cleared": sandbox.faults.clear()})
        items = data if isinstance(data, list) else [data]
        try:
            added = [sandbox.faults.add(item) for item in items]
        except FaultSpecError as exc:
            return _error(400, str(exc))
        return JSONBody({"faults": [r.to_json() for r in added]}, 201)

    def clock_state() -> dict[str, Any]:
        now = sandbox.now()
        return {
            "now": now.isoformat(),
            "speed": sandbox.clock.speed,
            "simulated_until": sandbox.market.sim_time.isoformat(),
        }

    async def clock(request: Request) -> Response:
        if request.method == "GET":
            return JSONBody(clock_state())
        try:
            data = await read_json(request)
        except BadJSON as exc:
            return _error(400, exc.detail)
        if not isinstance(data, dict):
            return _error(400, 'send {"advance": seconds}, {"set": "<ISO time>"} and/or {"speed": factor}')
        try:
            if "speed" in data:
                speed = data["speed"]
                if not isinstance(speed, int | float) or isinstance(speed, bool):
                    raise ValueError("speed must be a number >= 0")
                sandbox.clock.set_speed(float(speed))
            if "advance" in data:
                seconds = data["advance"]
                if not isinstance(seconds, int | float) or isinstance(seconds, bool):
                    raise ValueError("advance must be a number of seconds >= 0")
                sandbox.clock.advance(float(seconds))
            if "set" in data:
                moment = datetime.fromisoformat(str(data["set"]))
                sandbox.clock.set_time(moment)
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONBody(clock_state())

    async def settings(request: Request) -> Response:
        current = sandbox.settings
        if request.method == "POST":
            try:
                data = await read_json(request)
            except BadJSON as exc:
                return _error(400, exc.detail)
            usage = (
                'known settings: {"wb_client_error_cost": 1..100, "ym_service_time_s": 0..10, '
                f'"claude_answer": {"|".join(CLAUDE_ANSWERS)}}}'
            )
            if not isinstance(data, dict) or set(data) - {
                "wb_client_error_cost",
                "ym_service_time_s",
                "claude_answer",
            }:
                return _error(400, usage)
            cost = data.get("wb_client_error_cost", current.wb_client_error_cost)
            service = data.get("ym_service_time_s", current.ym_service_time_s)
            answer = data.get("claude_answer", current.claude_answer)
            if answer not in CLAUDE_ANSWERS:
                return _error(400, f"claude_answer must be one of {', '.join(CLAUDE_ANSWERS)}")
            if not isinstance(cost, int) or isinstance(cost, bool) or not 1 <= cost <= 100:
                return _error(400, "wb_client_error_cost must be an integer from 1 to 100")
            if not isinstance(service, int | float) or isinstance(service, bool) or not 0 <= service <= 10:
                return _error(400, "ym_service_time_s must be a number of seconds from 0 to 10")
            current.wb_client_error_cost = cost
            current.ym_service_time_s = float(service)
            current.claude_answer = answer
        return JSONBody(
            {
                "wb_client_error_cost": current.wb_client_error_cost,
                "ym_service_time_s": current.ym_service_time_s,
                "claude_answer": current.claude_answer,
            }
        )

    async def world(request: Request) -> Response:
        w = sandbox.world
        return JSONBody(
            {
                "seed": w.seed,
                "profile": {"name": sandbox.profile.name, "factor": sandbox.profile.factor},
                "accounts": len(w.accounts),
                "campaigns": len(w.campaigns),
                "products": len(w.products),
                "clusters": len(w.clusters),
                "now": sandbox.now().isoformat(),
            }
        )

    return [
        Route("/_sandbox/accounts", accounts, methods=["GET"]),
        Route("/_sandbox/effects", effects, methods=["GET"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/_sandbox/settings", settings, methods=["GET", "POST"]),
        Route("/_sandbox/world", world, methods=["GET"]),
    ]
