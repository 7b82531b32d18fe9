"""The model behind the SMS responder: one customer turn in, one short reply (and lead facts) out.

A customer who texted a business must never be left in silence, so this module has exactly one
way to fail: `AssistantUnavailable`. Every model error, rate limit, timeout or unusable answer
becomes that exception, and the caller sends its scripted reply instead. Nothing here retries
(`max_retries=0`): a retry inside the time budget would only delay that fallback, and the queue
that called us already retries the whole message.

Structured facts come from function tools rather than from parsing prose: `record_lead` fills
the lead, `escalate_to_owner` and `close_conversation` change the conversation's state. When the
model answers with tool calls only, one follow-up request (tool results appended) asks it for the
customer-facing text.

What the model is sent (system prompt, tool schemas, the conversation as messages) is built in
`assistant_prompt`; this module owns the requests, reading the tool calls back and metering the
tokens. The client (the real `openai` one, pointed at `OPENAI_BASE_URL`) is
`platform.openai_client`'s; the `openai` package is imported on the first turn, not with this
module, so a worker that never calls the model never loads it. Logs carry token counts, latency
and tool names, never the key or what the customer wrote.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared_code.assistant.prompt import (
    LEAD_FIELDS,
    TOOLS,
    URGENCY_VALUES,
    BusinessProfile,
    build_messages,
    follow_up_messages,
)
from shared_code.platform import openai_client
from shared_code.platform.settings import get_settings

if TYPE_CHECKING:
    from openai.types.chat import (
        ChatCompletion,
        ChatCompletionMessageParam,
        ChatCompletionToolChoiceOptionParam,
    )

__all__ = [
    "MAX_REPLY_CHARS",
    "AssistantTurn",
    "AssistantUnavailable",
    "BusinessProfile",
    "ModelUsage",
    "ai_turn",
    "is_configured",
    "trim_reply",
]

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 320  # two GSM-7 segments are 306; the prompt asks for 300, this is the hard cap
MAX_OUTPUT_TOKENS = 200
TEMPERATURE = 0.2  # steady, factual intake; creativity here only invents promises
MAX_FIELD_CHARS = 500  # a lead field is a phrase, not an essay; bounds what reaches the database


@dataclass(frozen=True)
class ModelUsage:
    """What one turn cost, for the usage event and the credit ledger."""

    model: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    latency_ms: int


@dataclass(frozen=True)
class AssistantTurn:
    reply: str
    lead_updates: dict[str, str]
    escalate_reason: str | None
    close_reason: str | None
    usage: ModelUsage


class AssistantUnavailable(Exception):
    """The model could not answer (error, timeout, rate limit, bad output). Carries `usage` when
    tokens were spent before the failure (may be None), so they are still metered."""

    def __init__(self, message: str, usage: ModelUsage | None = None) -> None:
        super().__init__(message)
        self.usage = usage


def is_configured() -> bool:
    """True when a model can be called; otherwise the caller uses the scripted intake."""
    return bool(get_settings().openai_api_key.get_secret_value())


def trim_reply(text: str, limit: int = MAX_REPLY_CHARS) -> str:
    """At most `limit` characters, cut at a word boundary so no word arrives half-written."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    head, sep, _ = cut.rpartition(" ")
    if sep and len(head) >= limit // 2:
        cut = head
    return cut.rstrip(" ,;:-") + "..."


@dataclass
class _Tally:
    """Usage summed over the requests of one turn."""

    started: float = field(default_factory=time.monotonic)
    model: str = ""
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0

    def add(self, completion: ChatCompletion) -> None:
        self.calls += 1
        self.model = str(completion.model or self.model)
        usage = completion.usage
        if usage is None:
            log.warning("model response carried no usage; metering it as zero tokens")
            return
        details = usage.prompt_tokens_details
        self.input_tokens += int(usage.prompt_tokens or 0)
        self.cached_tokens += int((details.cached_tokens if details else 0) or 0)
        self.output_tokens += int(usage.completion_tokens or 0)

    def usage(self) -> ModelUsage:
        return ModelUsage(
            model=self.model,
            input_tokens=self.input_tokens,
            cached_tokens=self.cached_tokens,
            output_tokens=self.output_tokens,
            latency_ms=round((time.monotonic() - self.started) * 1000),
        )

    def spent(self) -> ModelUsage | None:
        return self.usage() if self.calls else None


@dataclass
class _ToolResults:
    lead_updates: dict[str, str] = field(default_factory=dict)
    escalate_reason: str | None = None
    close_reason: str | None = None
    calls: list[Any] = field(default_factory=list)  # echoed back in the follow-up request


def _apply_tool_calls(message: Any, results: _ToolResults) -> None:
    """Fold the message's tool calls into `results`; a call with bad arguments is skipped."""
    for call in message.tool_calls or []:
        function = getattr(call, "function", None)
        if getattr(call, "type", None) != "function" or function is None:
            log.warning("ignoring non-function tool call of type %r", getattr(call, "type", None))
            continue
        results.calls.append(call)
        name = function.name
        try:
            args = json.loads(function.arguments or "{}")
        except (json.JSONDecodeError, TypeError):
            args = None
        if not isinstance(args, dict):
            log.warning("ignoring %s tool call: arguments are not a JSON object", name)
            continue
        if name == "record_lead":
            for key in LEAD_FIELDS:
                value = args.get(key)
                if not isinstance(value, str) or not value.strip():
                    continue
                value = value.strip()[:MAX_FIELD_CHARS]
                if key == "urgency" and value.lower() not in URGENCY_VALUES:
                    log.warning("ignoring urgency outside %s", URGENCY_VALUES)
                    continue
                results.lead_updates[key] = value.lower() if key == "urgency" else value
        elif name in ("escalate_to_owner", "close_conversation"):
            reason = str(args.get("reason") or "").strip()[:MAX_FIELD_CHARS] or "not given"
            if name == "escalate_to_owner":
                results.escalate_reason = reason
            else:
                results.close_reason = reason
        else:
            log.warning("ignoring call to unknown tool %r", name)


def _first_message(completion: ChatCompletion) -> Any:
    """The answer's message; a completion without one is a failure."""
    if not completion.choices:
        raise AssistantUnavailable("model returned no choices")
    message = completion.choices[0].message
    if message is None:
        raise AssistantUnavailable("model returned no message")
    return message


def create_arguments(
    model: str,
    messages: list[ChatCompletionMessageParam],
    tool_choice: ChatCompletionToolChoiceOptionParam,
    azure: bool,
) -> dict[str, Any]:
    """The keyword arguments of `chat.completions.create` for one request.

    `create` first walks its typed arguments against the SDK's TypedDict unions, which changes
    nothing for plain JSON like ours but costs about a millisecond of CPU per request for a
    short conversation, growing with the history. The SDK merges `extra_body` into the JSON body
    after that walk, key by key, so `messages` and `tools` travel there; the empty lists left in
    the typed arguments satisfy `create`'s required arguments and keep each key's place, so the
    body sent is byte for byte the same (a test checks).
    """
    from openai import omit

    return {
        "model": model,
        "messages": [],
        "tools": [],
        "tool_choice": tool_choice,
        "temperature": TEMPERATURE,
        # Azure's GA API version predates max_completion_tokens; OpenAI deprecated max_tokens.
        "max_tokens": MAX_OUTPUT_TOKENS if azure else omit,
        "max_completion_tokens": omit if azure else MAX_OUTPUT_TOKENS,
        "extra_body": {"messages": messages, "tools": TOOLS},
    }


async def _request(
    messages: list[ChatCompletionMessageParam],
    tool_choice: ChatCompletionToolChoiceOptionParam,
    deadline: float,
    tally: _Tally,
) -> Any:
    """One chat completion within the turn's deadline; returns its message.

    Every way it can go wrong becomes `AssistantUnavailable` carrying the usage spent so far.
    """
    import openai
    from openai.types.chat import ChatCompletion

    settings = get_settings()
    azure = openai_client.is_azure(settings.openai_base_url)
    try:
        async with asyncio.timeout_at(deadline):
            remaining = max(deadline - asyncio.get_running_loop().time(), 0.001)
            client = await openai_client.get_client(remaining)
            completion = await client.chat.completions.create(
                **create_arguments(settings.openai_model, messages, tool_choice, azure),
                timeout=remaining,
            )
        if not isinstance(completion, ChatCompletion):
            raise AssistantUnavailable("model response is not a chat completion")
        tally.add(completion)
        return _first_message(completion)
    except AssistantUnavailable as exc:
        exc.usage = exc.usage or tally.spent()
        log.warning("assistant unavailable: %s", exc)
        raise
    except (openai.OpenAIError, TimeoutError) as exc:
        raise _unavailable(exc, tally) from exc
    except (AttributeError, TypeError, ValueError) as exc:
        # A response the client could not make sense of; the traceback names no customer text.
        log.warning("malformed model response", exc_info=True)
        raise AssistantUnavailable("malformed model response", usage=tally.spent()) from exc


async def ai_turn(
    profile: BusinessProfile,
    lead: dict[str, str],
    history: list[dict[str, str]],
    *,
    timeout_seconds: float = 8.0,
) -> AssistantTurn:
    """Answer the customer's latest message, or raise `AssistantUnavailable` within the budget.

    `timeout_seconds` bounds the whole turn, follow-up request included: the caller has its
    own deadline (queue visibility, the customer's patience) and a scripted reply to fall back on.
    """
    if not is_configured():
        raise AssistantUnavailable("OPENAI_API_KEY is not set")
    tally = _Tally()
    results = _ToolResults()
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    messages = build_messages(profile, lead, history)

    message = await _request(messages, "auto", deadline, tally)
    _apply_tool_calls(message, results)
    reply = (message.content or "").strip()
    if not reply and results.calls:
        try:
            follow_up = follow_up_messages(messages, results.calls)
            reply = ((await _request(follow_up, "none", deadline, tally)).content or "").strip()
        except AssistantUnavailable:
            # An escalation or a close already decided is worth more than the missing sentence:
            # the caller explains it with its own text.
            if not (results.escalate_reason or results.close_reason):
                raise
            log.warning("follow-up request failed; returning the tool results alone")

    if not reply and not (results.escalate_reason or results.close_reason):
        log.warning("assistant unavailable: model returned no text")
        raise AssistantUnavailable("model returned no text", usage=tally.spent())
    usage = tally.usage()
    log.info(
        "assistant turn: model=%s requests=%d input=%d cached=%d output=%d latency_ms=%d tools=%s",
        usage.model,
        tally.calls,
        usage.input_tokens,
        usage.cached_tokens,
        usage.output_tokens,
        usage.latency_ms,
        ",".join(call.function.name for call in results.calls) or "-",
    )
    return AssistantTurn(
        reply=trim_reply(reply),
        lead_updates=results.lead_updates,
        escalate_reason=results.escalate_reason,
        close_reason=results.close_reason,
        usage=usage,
    )


def _unavailable(exc: BaseException, tally: _Tally) -> AssistantUnavailable:
    """One exception type for the caller; the log names the cause without the request's text."""
    import openai

    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        cause = "timed out"
    elif isinstance(exc, openai.APIStatusError):
        cause = f"HTTP {exc.status_code}"
    elif isinstance(exc, openai.APIConnectionError):
        cause = "connection failed"
    else:
        cause = type(exc).__name__
    log.warning("assistant unavailable: %s", cause)
    return AssistantUnavailable(f"model unavailable: {cause}", usage=tally.spent())
