"""Successful turns through the OpenAI adapter: the reply, the prompt, the wire body and the tools.

The real `openai` client does the HTTP against a local server speaking the Chat Completions wire
format; only the model is scripted (tests/fakes/openai_api.py). These tests cover what a turn
returns and sends: the reply and its token usage, the prompt built from the business profile, the
lead and the history, a request body identical to the typed call, the record_lead,
escalate_to_owner and close_conversation tools with their follow-up call, and trimming of long
replies. No database is needed, so these tests do not start the stack.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import httpx2
import openai
import pytest

from shared_code.assistant import model
from shared_code.assistant.model import (
    MAX_OUTPUT_TOKENS,
    TEMPERATURE,
    ai_turn,
    create_arguments,
)
from shared_code.assistant.prompt import TOOLS, build_messages, follow_up_messages
from tests.assistant.helpers import HISTORY, MODEL, PROFILE, turn
from tests.fakes.openai_api import DEFAULT_REPLY, FakeOpenAI, Scripted


async def test_text_reply_maps_usage(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.script(
        Scripted.text(
            "Thanks Sam! What's the address or ZIP?",
            prompt_tokens=812,
            completion_tokens=14,
            cached_tokens=640,
        )
    )
    with caplog.at_level(logging.INFO, logger="shared_code.assistant.model"):
        result = await turn()
    assert "input=812" in caplog.text
    assert "kitchen sink" not in caplog.text and fake_openai.api_key not in caplog.text
    assert result.reply == "Thanks Sam! What's the address or ZIP?"
    assert result.lead_updates == {}
    assert result.escalate_reason is None and result.close_reason is None
    assert result.usage.model == MODEL
    assert (result.usage.input_tokens, result.usage.cached_tokens) == (812, 640)
    assert result.usage.output_tokens == 14
    assert result.usage.latency_ms >= 0
    [request] = fake_openai.requests
    assert request["model"] == MODEL
    assert request["tool_choice"] == "auto"
    assert request["temperature"] <= 0.3
    assert request["max_completion_tokens"] == 200
    assert {tool["function"]["name"] for tool in request["tools"]} == {
        "record_lead",
        "escalate_to_owner",
        "close_conversation",
    }


async def test_default_reply_and_missing_cached_tokens(fake_openai: FakeOpenAI) -> None:
    result = await turn()
    assert result.reply == DEFAULT_REPLY
    assert result.usage.cached_tokens == 0


async def test_prompt_carries_profile_lead_and_mapped_history(fake_openai: FakeOpenAI) -> None:
    lead = {"need": "clogged kitchen sink", "name": "Sam", "address": ""}
    await ai_turn(PROFILE, lead, HISTORY)
    [request] = fake_openai.requests
    system, *conversation = request["messages"]
    assert system["role"] == "system"
    prompt = system["content"]
    for expected in (
        "Acme Plumbing",
        "Drain cleaning, water heaters, leak repair",
        "Springfield and Shelbyville",
        "Mon-Fri 8:00-17:00",
        "Do you charge for estimates?",
        "Estimates are free within the service area.",
        "need: clogged kitchen sink",
        "name: Sam",
    ):
        assert expected in prompt
    assert "address:" not in prompt  # empty fields are not "known"
    assert fake_openai.api_key not in prompt
    assert conversation == [
        {"role": "assistant", "content": HISTORY[0]["text"]},
        {"role": "user", "content": "My kitchen sink is clogged"},
        {"role": "assistant", "content": "(owner) I can come by tomorrow morning"},
        {"role": "user", "content": "Great, I'm Sam"},
    ]


@pytest.mark.parametrize("azure", [False, True])
async def test_request_body_is_byte_identical_to_the_typed_call(azure: bool) -> None:
    """`create_arguments` sends messages and tools past the SDK's parameter walk: the bytes on
    the wire must be exactly what passing them as typed arguments sends."""
    sent: list[bytes] = []

    def capture(request: httpx2.Request) -> httpx2.Response:
        sent.append(request.content)
        return httpx2.Response(400, json={"error": {"message": "captured"}})

    client = openai.AsyncOpenAI(
        api_key="sk-test",
        base_url="http://model.invalid/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(capture)),
    )
    calls = [
        SimpleNamespace(id="call_1", function=SimpleNamespace(name="record_lead", arguments="{}"))
    ]
    messages = follow_up_messages(build_messages(PROFILE, {"name": "Sam"}, HISTORY), calls)
    for arguments in (
        {
            "model": MODEL,
            "messages": messages,
            "tools": TOOLS,
            "tool_choice": "none",
            "temperature": TEMPERATURE,
            "max_tokens": MAX_OUTPUT_TOKENS if azure else openai.omit,
            "max_completion_tokens": openai.omit if azure else MAX_OUTPUT_TOKENS,
        },
        create_arguments(MODEL, messages, "none", azure),
    ):
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(**arguments)
    await client.close()
    typed_body, sent_body = sent
    assert sent_body == typed_body
    assert json.loads(sent_body)["messages"][-1] == {
        "role": "tool", "tool_call_id": "call_1", "content": "ok"
    }  # fmt: skip


async def test_record_lead_then_follow_up_for_text(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        Scripted.tools(
            (
                "record_lead",
                {"need": "clogged kitchen sink", "name": "Sam", "urgency": "not urgent"},
            ),
            prompt_tokens=900,
            completion_tokens=30,
            cached_tokens=512,
        ),
        Scripted.text(
            "Thanks Sam! What's the address?",
            prompt_tokens=960,
            completion_tokens=10,
            cached_tokens=896,
        ),
    )
    result = await turn()
    assert result.reply == "Thanks Sam! What's the address?"
    assert result.lead_updates == {
        "need": "clogged kitchen sink",
        "name": "Sam",
        "urgency": "not urgent",
    }
    assert result.escalate_reason is None and result.close_reason is None
    assert result.usage.input_tokens == 900 + 960
    assert result.usage.cached_tokens == 512 + 896
    assert result.usage.output_tokens == 30 + 10

    first, second = fake_openai.requests
    assert second["tool_choice"] == "none"
    *_, assistant_message, tool_message = second["messages"]
    assert second["messages"][:-2] == first["messages"]
    [call] = assistant_message["tool_calls"]
    assert assistant_message["role"] == "assistant"
    assert call["function"]["name"] == "record_lead"
    assert json.loads(call["function"]["arguments"])["name"] == "Sam"
    assert tool_message == {"role": "tool", "tool_call_id": call["id"], "content": "ok"}


async def test_text_with_tool_call_needs_no_follow_up(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        Scripted.tools(("record_lead", {"address": "62704"}), content="Got it. When suits you?")
    )
    result = await turn()
    assert result.reply == "Got it. When suits you?"
    assert result.lead_updates == {"address": "62704"}
    assert len(fake_openai.requests) == 1


async def test_escalate_tool(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        Scripted.tools(
            ("escalate_to_owner", {"reason": "Basement is flooding"}),
            ("record_lead", {"urgency": "urgent", "need": "flooding basement"}),
        ),
        Scripted.text("I'm alerting Dana right now. Please shut off your main water valve."),
    )
    result = await turn()
    assert result.escalate_reason == "Basement is flooding"
    assert result.lead_updates == {"urgency": "urgent", "need": "flooding basement"}
    assert result.reply.startswith("I'm alerting Dana")
    tool_messages = [m for m in fake_openai.requests[1]["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 2  # every tool call answered


async def test_close_tool(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        Scripted.tools(("close_conversation", {"reason": "Customer fixed it themselves"})),
        Scripted.text("Glad it's sorted. Take care!"),
    )
    result = await turn()
    assert result.close_reason == "Customer fixed it themselves"
    assert result.escalate_reason is None
    assert result.reply == "Glad it's sorted. Take care!"


async def test_close_without_text_still_returns_the_decision(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        Scripted.tools(("close_conversation", {"reason": "done"})),
        Scripted.text(""),
    )
    result = await turn()
    assert result.reply == ""
    assert result.close_reason == "done"


async def test_escalation_survives_a_failed_follow_up(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(
        Scripted.tools(("escalate_to_owner", {"reason": "gas smell"})),
        Scripted.http_error(500),
    )
    result = await turn()
    assert result.escalate_reason == "gas smell"
    assert result.reply == ""


async def test_invalid_tool_arguments_are_ignored(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.script(
        Scripted.tools(
            ("record_lead", '{"name": "Sam", '),  # truncated JSON
            ("escalate_to_owner", "[1, 2]"),  # JSON, but not an object
            ("record_lead", {"address": "62704", "urgency": "whenever", "colour": "red"}),
            ("no_such_tool", {}),
        ),
        Scripted.text("Thanks! When would suit you?"),
    )
    with caplog.at_level(logging.WARNING, logger="shared_code.assistant.model"):
        result = await turn()
    assert result.lead_updates == {"address": "62704"}
    assert result.escalate_reason is None
    assert result.reply == "Thanks! When would suit you?"
    assert "not a JSON object" in caplog.text
    tool_messages = [m for m in fake_openai.requests[1]["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 4


async def test_long_reply_is_trimmed_at_a_word_boundary(fake_openai: FakeOpenAI) -> None:
    words = "We can certainly help with that clogged drain and anything else nearby"
    fake_openai.script(Scripted.text((words + " ") * 10))
    result = await turn()
    assert len(result.reply) <= 320
    assert result.reply.endswith("...")
    stem = result.reply.removesuffix("...")
    assert stem == stem.strip()
    assert ((words + " ") * 10).startswith(stem + " ")  # cut between words


def test_trim_reply_keeps_short_text_and_cuts_unbroken_text() -> None:
    assert model.trim_reply("  Hello there  ") == "Hello there"
    trimmed = model.trim_reply("x" * 1000)
    assert len(trimmed) <= 320 and trimmed.endswith("...")
