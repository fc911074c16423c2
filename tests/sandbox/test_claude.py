"""The fake Claude Messages API over real HTTP, driven by the official SDK through ClaudeClient:
batches that end on the virtual clock, prompt caching, structured answers, modes and faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import anthropic
import httpx
import pytest
from pydantic import SecretStr

from app.core.config import Settings
from app.sandbox.server import ServerThread, create_sandbox
from app.services.ai.advice import SYSTEM_RULES, campaign_prompt
from app.services.ai.claude import ClaudeClient, ClaudeError
from app.services.marketing.analytics_model import CampaignHistory, DayTotals, KeywordTotals

TODAY = date(2026, 12, 1)


def history(campaign_id: int) -> CampaignHistory:
    days = tuple(DayTotals(date(2026, 11, d), 2_000, 80, 4, 40_000, 300_000) for d in range(17, 31))
    keywords = (
        KeywordTotals(
            campaign_id * 10 + 1,
            "платье",
            "phrase",
            "active",
            20_000,
            15_000,
            True,
            5_000,
            200,
            10,
            80_000,
            900_000,
        ),
        KeywordTotals(
            campaign_id * 10 + 2,
            "платье летнее",
            "phrase",
            "active",
            20_000,
            15_000,
            True,
            3_000,
            90,
            1,
            60_000,
            50_000,
        ),
        KeywordTotals(
            campaign_id * 10 + 3, "юбка", "phrase", "active", 20_000, 15_000, True, 2_000, 60, 0, 30_000, 0
        ),
    )
    return CampaignHistory(
        campaign_id, f"C{campaign_id}", "wb", 1, max_bid=30_000, days=days, keywords=keywords
    )


def prompt(campaign_id: int) -> str:
    return campaign_prompt(
        history(campaign_id), today=TODAY, period_days=14, trends=(), anomalies=(), rules=(), max_keywords=40
    )


@pytest.fixture
def served() -> Iterator[tuple[ServerThread, ClaudeClient]]:
    world = create_sandbox(seed=4, speed=0)
    with ServerThread(world) as server:
        settings = Settings(
            CLAUDE_API_KEY=SecretStr(world.sandbox.claude_key),
            CLAUDE_API_URL=server.url("claude"),
            CLAUDE_MAX_RETRIES=0,
            CLAUDE_TIMEOUT=5,
        )
        yield server, ClaudeClient(settings)


def control(server: ServerThread, path: str, body: object) -> None:
    httpx.post(server.url("claude") + path, json=body, timeout=5).raise_for_status()


def test_a_batch_ends_on_the_virtual_clock_and_answers_per_campaign(served) -> None:
    server, client = served
    batch = client.submit([client.request(7, 1, prompt(1)), client.request(7, 2, prompt(2))])
    assert batch.id.startswith("msgbatch_") and batch.requests == 2 and batch.tokens_estimate > 2 * 2048
    assert client.poll(batch.id).status == "in_progress"
    control(server, "/_sandbox/clock", {"advance": 121})
    state = client.poll(batch.id)
    assert state.status == "ended" and state.ended_at is not None
    items = {item.custom_id: item for item in client.results(batch.id)}
    assert set(items) == {"run7-c1", "run7-c2"}
    advice = items["run7-c1"].advice
    assert advice is not None and items["run7-c1"].error is None and items["run7-c1"].tokens > 0
    actions = {(a.action, a.keyword_id) for a in advice.recommendations}
    # The keyword that spent without orders is paused; the best hand-set bid is raised, the worst lowered.
    assert actions == {("pause_keyword", 13), ("raise_bid", 11), ("lower_bid", 12)}
    effects = httpx.get(server.url("claude") + "/_sandbox/effects", timeout=5).json()["effects"]
    assert [e["effect"]["action"] for e in effects if e["marketplace"] == "claude"] == ["create_batch"]


def test_the_fixed_rules_are_written_to_the_cache_once_and_read_afterwards(served) -> None:
    server, client = served
    sdk = anthropic.Anthropic(
        api_key=client.settings.CLAUDE_API_KEY.get_secret_value(), base_url=server.url("claude")
    )  # type: ignore[union-attr]
    params = client.request(1, 1, prompt(1))["params"]
    first = sdk.messages.create(**params)  # type: ignore[arg-type]
    second = sdk.messages.create(**{**params, "messages": [{"role": "user", "content": prompt(2)}]})  # type: ignore[arg-type]
    cached = len(SYSTEM_RULES) // 4
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (cached, 0)
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (0, cached)
    assert json.loads(first.content[0].text)["recommendations"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("invalid", "does not match the schema at recommendations"),
        ("refusal", "stopped with 'refusal'"),
        ("truncated", "stopped with 'max_tokens'"),
        ("errored", "errored: api_error"),
    ],
)
def test_unusable_answers_are_errors_of_their_campaign(served, mode: str, error: str) -> None:
    server, client = served
    control(server, "/_sandbox/settings", {"claude_answer": mode})
    batch = client.submit([client.request(1, 1, prompt(1))])
    control(server, "/_sandbox/clock", {"advance": 121})
    [item] = client.results(batch.id)
    assert item.advice is None and item.error is not None and error in item.error


def test_out_of_range_mode_proposes_absurd_bids(served) -> None:
    server, client = served
    control(server, "/_sandbox/settings", {"claude_answer": "out_of_range"})
    batch = client.submit([client.request(1, 1, prompt(1))])
    control(server, "/_sandbox/clock", {"advance": 121})
    [item] = client.results(batch.id)
    assert item.advice is not None
    bids = {a.action: a.proposed_bid for a in item.advice.recommendations}
    assert bids["raise_bid"] == 20_000 * 1000 and bids["lower_bid"] == 1


def test_a_wrong_key_is_a_permanent_error_without_the_key_in_it(served) -> None:
    _server, client = served
    wrong = ClaudeClient(client.settings.model_copy(update={"CLAUDE_API_KEY": SecretStr("sk-wrong-123")}))
    with pytest.raises(ClaudeError) as caught:
        wrong.submit([wrong.request(1, 1, prompt(1))])
    assert not caught.value.transient and "401" in str(caught.value) and "sk-wrong" not in str(caught.value)


def test_an_injected_server_error_is_transient(served) -> None:
    server, client = served
    control(server, "/_sandbox/faults", {"path": "/v1/messages/batches", "kind": "error", "status": 503})
    with pytest.raises(ClaudeError, match="HTTP 503") as caught:
        client.submit([client.request(1, 1, prompt(1))])
    assert caught.value.transient


def test_cancel_ends_a_batch_with_canceled_results(served) -> None:
    _server, client = served
    batch = client.submit([client.request(1, 1, prompt(1))])
    client.cancel(batch.id)
    assert client.poll(batch.id).status == "ended"
    assert [i.error for i in client.results(batch.id)] == ["canceled"]


def test_bad_batches_are_refused_with_the_api_error_shape(served) -> None:
    server, client = served
    request = client.request(1, 1, prompt(1))
    reply = httpx.post(
        server.url("claude") + "/v1/messages/batches",
        json={"requests": [request, request]},
        headers={
            "x-api-key": client.settings.CLAUDE_API_KEY.get_secret_value(),
            "anthropic-version": "2023-06-01",
        },  # type: ignore[union-attr]
        timeout=5,
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == {
        "type": "invalid_request_error",
        "message": "requests.custom_id: must be unique within the batch",
    }
