"""ClaudeClient (spec 7.3.4; issue 11 item 2): the night's campaigns as one Message Batch on the
official `anthropic` SDK (2.x).

- `submit` sends one request per campaign (`custom_id` = `run<run id>-c<campaign id>`) and
  returns at once; `poll` and `results` are called by a later task — a worker never waits for
  Claude (batches end within 24 h, most within one; they cost half of single calls).
- The fixed part of the prompt (`advice.SYSTEM_RULES`) is a system block marked for prompt
  caching with a 1-hour TTL, so that every campaign of a batch reuses it; the campaign's data
  comes after it.
- Structured output: `output_config.format` carries the JSON schema of `advice.Advice`; the
  answer is validated again by `advice.parse_advice`, whatever the API enforced.
- Settings: CLAUDE_API_KEY (never logged: the SDK holds it, no message here contains it),
  CLAUDE_API_URL, CLAUDE_MODEL, CLAUDE_TIMEOUT, CLAUDE_MAX_RETRIES, CLAUDE_MAX_TOKENS.

Every API failure ends as `ClaudeError` with a one-line message and whether a later try may
succeed (`transient`); the caller falls back to the rule-based recommendations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import anthropic
from anthropic.types.messages.batch_create_params import Request

from app.core.config import Settings, get_settings
from app.services.ai.advice import SYSTEM_RULES, Advice, AdviceError, parse_advice

CUSTOM_ID = re.compile(r"^run(\d+)-c(\d+)$")
# Characters per token for the budget's estimate of a batch not yet collected (a round figure
# for mixed JSON, digits and Cyrillic; the collected batch's real usage replaces it).
CHARS_PER_TOKEN = 3


class ClaudeError(Exception):
    """The Anthropic API did not do what was asked; the message names the call and the reason."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def custom_id(run_id: int, campaign_id: int) -> str:
    return f"run{run_id}-c{campaign_id}"


def parse_custom_id(value: str) -> tuple[int, int] | None:
    match = CUSTOM_ID.match(value)
    return (int(match[1]), int(match[2])) if match else None


@dataclass(frozen=True)
class SubmittedBatch:
    id: str
    expires_at: datetime
    requests: int
    tokens_estimate: int


@dataclass(frozen=True)
class BatchState:
    status: str  # in_progress | canceling | ended
    ended_at: datetime | None
    expires_at: datetime


@dataclass(frozen=True)
class BatchItem:
    """One campaign's answer: advice, or why there is none."""

    custom_id: str
    advice: Advice | None
    error: str | None
    tokens: int


def _describe(call: str, error: Exception) -> ClaudeError:
    if isinstance(error, anthropic.APITimeoutError):
        return ClaudeError(f"{call}: no answer within CLAUDE_TIMEOUT", transient=True)
    if isinstance(error, anthropic.APIConnectionError):
        return ClaudeError(f"{call}: cannot reach the API (check CLAUDE_API_URL)", transient=True)
    if isinstance(error, anthropic.AuthenticationError):
        return ClaudeError(f"{call}: the API refused CLAUDE_API_KEY (401)", transient=False)
    if isinstance(error, anthropic.APIStatusError):
        transient = error.status_code in (408, 409, 429) or error.status_code >= 500
        body = error.body if isinstance(error.body, dict) else {}
        detail = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
        kind = detail.get("type", "error")
        return ClaudeError(f"{call}: HTTP {error.status_code} {kind}", transient=transient)
    if isinstance(error, anthropic.AnthropicError):
        return ClaudeError(f"{call}: {type(error).__name__}: {str(error).splitlines()[0]}", transient=True)
    raise error


class ClaudeClient:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._client: anthropic.Anthropic | None = None

    @property
    def configured(self) -> bool:
        key = self.settings.CLAUDE_API_KEY
        return key is not None and bool(key.get_secret_value().strip())

    @property
    def model(self) -> str:
        return self.settings.CLAUDE_MODEL

    def _sdk(self) -> anthropic.Anthropic:
        if self._client is None:
            key = self.settings.CLAUDE_API_KEY
            if key is None:
                raise ClaudeError("CLAUDE_API_KEY is not set", transient=False)
            self._client = anthropic.Anthropic(
                api_key=key.get_secret_value().strip(),
                base_url=self.settings.CLAUDE_API_URL,
                timeout=self.settings.CLAUDE_TIMEOUT,
                max_retries=self.settings.CLAUDE_MAX_RETRIES,
            )
        return self._client

    def request(self, run_id: int, campaign_id: int, campaign_prompt: str) -> Request:
        """One batch request: the cached fixed rules, then the campaign's JSON."""
        return {
            "custom_id": custom_id(run_id, campaign_id),
            "params": {
                "model": self.model,
                "max_tokens": self.settings.CLAUDE_MAX_TOKENS,
                "system": [
                    {
                        "type": "text",
                        "text": SYSTEM_RULES,
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    }
                ],
                "messages": [{"role": "user", "content": campaign_prompt}],
                "output_config": {
                    "format": {"type": "json_schema", "schema": anthropic.transform_schema(Advice)}
                },
            },
        }

    def estimate_tokens(self, requests: Sequence[Request]) -> int:
        prompt_chars = sum(len(SYSTEM_RULES) + len(str(r["params"]["messages"])) for r in requests)
        return prompt_chars // CHARS_PER_TOKEN + len(requests) * self.settings.CLAUDE_MAX_TOKENS

    def submit(self, requests: Sequence[Request]) -> SubmittedBatch:
        try:
            batch = self._sdk().messages.batches.create(requests=list(requests))
        except Exception as error:
            raise _describe("creating the batch", error) from None
        return SubmittedBatch(batch.id, batch.expires_at, len(requests), self.estimate_tokens(requests))

    def poll(self, batch_id: str) -> BatchState:
        try:
            batch = self._sdk().messages.batches.retrieve(batch_id)
        except Exception as error:
            raise _describe(f"reading batch {batch_id}", error) from None
        return BatchState(batch.processing_status, batch.ended_at, batch.expires_at)

    def cancel(self, batch_id: str) -> None:
        try:
            self._sdk().messages.batches.cancel(batch_id)
        except Exception as error:
            raise _describe(f"canceling batch {batch_id}", error) from None

    def results(self, batch_id: str) -> list[BatchItem]:
        """Every result of an ended batch (any order; match them by `custom_id`)."""
        try:
            return list(self._items(batch_id))
        except ClaudeError:
            raise
        except Exception as error:
            raise _describe(f"reading the results of batch {batch_id}", error) from None

    def _items(self, batch_id: str) -> Iterator[BatchItem]:
        for line in self._sdk().messages.batches.results(batch_id):
            result = line.result
            if result.type != "succeeded":
                reason: str = result.type
                if result.type == "errored":
                    reason = f"errored: {result.error.error.type}"
                yield BatchItem(line.custom_id, None, reason, 0)
                continue
            message = result.message
            usage = message.usage
            tokens = (
                usage.input_tokens
                + (usage.cache_creation_input_tokens or 0)
                + (usage.cache_read_input_tokens or 0)
                + usage.output_tokens
            )
            text = "".join(block.text for block in message.content if block.type == "text")
            try:
                yield BatchItem(line.custom_id, parse_advice(text, message.stop_reason), None, tokens)
            except AdviceError as error:
                yield BatchItem(line.custom_id, None, str(error), tokens)
