"""When the OpenAI adapter gives up: every failure is AssistantUnavailable, never an exception.

The real `openai` client does the HTTP against a local server speaking the Chat Completions wire
format; only the model is scripted (tests/fakes/openai_api.py). These tests cover tool calls with
no text, a failed follow-up call (its usage still metered), rate limits, server errors, slow
answers, a wrong key, an unreachable server and malformed responses, then whether the assistant is
configured at all and how the shared client is reused and closed. No database is needed, so these
tests do not start the stack.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from devhost.services import free_port
from shared_code.assistant.model import AssistantUnavailable, ai_turn, is_configured
from shared_code.platform import openai_client
from shared_code.platform.openai_client import close_client
from shared_code.platform.settings import reset_settings
from tests.assistant.helpers import HISTORY, MODEL, PROFILE, turn
from tests.fakes.openai_api import FakeOpenAI, Scripted


async def test_tool_calls_without_any_text_are_unavailable(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        Scripted.tools(("record_lead", {"name": "Sam"}), prompt_tokens=100, completion_tokens=5),
        Scripted.text("", prompt_tokens=120, completion_tokens=1),
    )
    with pytest.raises(AssistantUnavailable) as raised:
        await turn()
    assert raised.value.usage is not None
    assert raised.value.usage.input_tokens == 220  # tokens spent are still metered


async def test_failed_follow_up_carries_usage_of_the_first_call(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        Scripted.tools(("record_lead", {"name": "Sam"}), prompt_tokens=100, completion_tokens=5),
        Scripted.rate_limited(),
    )
    with pytest.raises(AssistantUnavailable) as raised:
        await turn()
    assert raised.value.usage is not None
    assert (raised.value.usage.input_tokens, raised.value.usage.output_tokens) == (100, 5)


async def test_rate_limit_is_unavailable(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Scripted.rate_limited())
    with pytest.raises(AssistantUnavailable) as raised:
        await turn()
    assert raised.value.usage is None
    assert len(fake_openai.requests) == 1  # no retries inside the budget


async def test_server_error_is_unavailable(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Scripted.http_error(500))
    with pytest.raises(AssistantUnavailable):
        await turn()
    assert len(fake_openai.requests) == 1


async def test_slow_answer_is_unavailable(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Scripted.slow(3.0))
    with pytest.raises(AssistantUnavailable):
        await turn(timeout_seconds=0.5)


async def test_wrong_api_key_is_unavailable(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-1234567890")
    reset_settings()
    with (
        caplog.at_level(logging.DEBUG, logger="shared_code.assistant.model"),
        pytest.raises(AssistantUnavailable),
    ):
        await turn()
    assert "sk-wrong-key-1234567890" not in caplog.text
    assert fake_openai.requests == []  # refused before the body was read


async def test_unreachable_server_is_unavailable(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    reset_settings()
    with pytest.raises(AssistantUnavailable):
        await turn()


@pytest.mark.parametrize(
    "body",
    [
        {"id": "chatcmpl-1", "object": "chat.completion", "model": MODEL, "choices": []},
        {"unexpected": True},
        ["not", "an", "object"],
    ],
)
async def test_malformed_response_is_unavailable(fake_openai: FakeOpenAI, body: object) -> None:
    fake_openai.script(Scripted.raw(body))
    with pytest.raises(AssistantUnavailable):
        await turn()


async def test_not_configured_without_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    reset_settings()
    try:
        assert is_configured() is False
        with pytest.raises(AssistantUnavailable):
            await ai_turn(PROFILE, {}, HISTORY)
    finally:
        monkeypatch.undo()
        reset_settings()


async def test_configured_with_key(fake_openai: FakeOpenAI) -> None:
    assert is_configured() is True


async def test_client_is_reused_within_a_loop(fake_openai: FakeOpenAI) -> None:
    await turn()
    first = openai_client._client
    await turn()
    assert openai_client._client is first is not None
    await close_client()
    assert openai_client._client is None
    await asyncio.sleep(0)
