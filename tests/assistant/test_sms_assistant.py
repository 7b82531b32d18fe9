"""The AI path through the real `openai` client against a local OpenAI-speaking server."""

from __future__ import annotations

import pytest

from shared_code import contracts
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings
from tests.fakes.openai_api import Scripted
from tests.helpers import create_business, drain_messages_queue, text_in

CUSTOMER = "+13125550123"


@pytest.fixture
def model_on(stack, configure):
    configure(OPENAI_API_KEY=stack.openai.api_key, OPENAI_MODEL="gpt-4o-mini")


async def _say(business, body: str) -> None:
    await text_in(CUSTOMER, business.phone_number, body)
    await drain_messages_queue()


async def test_model_reply_is_sent_and_its_usage_reported(stack, model_on):
    business, _ = await create_business(
        services="Water heaters, drains", faq=[{"q": "Do you work weekends?", "a": "Yes"}]
    )
    stack.openai.script(
        Scripted.text("Sorry about the leak! What's your name?", prompt_tokens=420,
                      completion_tokens=12, cached_tokens=128)
    )  # fmt: skip
    await _say(business, "my water heater is leaking")
    [reply] = stack.twilio.to(CUSTOMER)
    # The customer texted first: the model's reply is this conversation's first text, so it
    # names the business and says how to opt out.
    assert reply["Body"] == (
        "Acme Plumbing: Sorry about the leak! What's your name? Reply STOP to opt out."
    )
    [request] = stack.openai.requests
    system = request["messages"][0]["content"]
    assert business.name in system and "Water heaters" in system and "weekends" in system
    assert request["messages"][-1] == {"role": "user", "content": "my water heater is leaking"}
    ai = [
        e["data"]
        for e in stack.topic.of_type(contracts.UsageRecorded.type)
        if e["data"]["kind"] == "ai"
    ]
    assert len(ai) == 1
    assert (ai[0]["input_tokens"], ai[0]["cached_tokens"], ai[0]["output_tokens"]) == (420, 128, 12)
    assert ai[0]["model"] == "gpt-4o-mini"


async def test_record_lead_tool_completes_the_lead(stack, model_on):
    business, _ = await create_business()
    lead = {"need": "leaking water heater", "name": "Dana", "address": "60614",
            "preferred_time": "tomorrow morning", "urgency": "urgent"}  # fmt: skip
    stack.openai.script(
        Scripted.tools(("record_lead", lead)),
        Scripted.text("Thanks Dana, the owner will confirm shortly."),
    )
    await _say(business, "Dana, 60614, leaking water heater, tomorrow morning, urgent")
    assert stack.twilio.to(CUSTOMER)[0]["Body"] == (
        "Acme Plumbing: Thanks Dana, the owner will confirm shortly. Reply STOP to opt out."
    )
    pool = await get_pool()
    conversation = await pool.fetchrow("SELECT * FROM conversations")
    assert conversation["lead"] == lead and conversation["lead_qualified_at"] is not None
    assert len(stack.topic.of_type(contracts.LeadQualified.type)) == 1


@pytest.mark.parametrize(
    "failure",
    [Scripted.http_error(500), Scripted.rate_limited(), Scripted.slow(3.0), Scripted.raw({"x": 1})],
    ids=["500", "429", "timeout", "garbage"],
)
async def test_model_outage_falls_back_to_the_scripted_reply(stack, model_on, configure, failure):
    configure(ASSISTANT_TIMEOUT_SECONDS="0.5")
    business, _ = await create_business()
    stack.openai.script(failure)
    await _say(business, "my water heater is leaking")
    [reply] = stack.twilio.to(CUSTOMER)
    assert "name" in reply["Body"].lower()  # the intake's next question, not silence


async def test_a_response_naming_no_model_is_still_metered_as_the_model_asked(stack, model_on):
    """Tokens may have been spent: the usage event must be one the usage logger accepts (it
    refuses an empty model), priced as the model we called."""
    business, _ = await create_business()
    stack.openai.script(Scripted.raw({"x": 1}))
    await _say(business, "my water heater is leaking")
    ai = [
        e["data"]
        for e in stack.topic.of_type(contracts.UsageRecorded.type)
        if e["data"]["kind"] == "ai"
    ]
    assert [d["model"] for d in ai] == [get_settings().openai_model]


async def test_escalate_tool_alerts_the_owner(stack, model_on):
    business, _ = await create_business()
    stack.openai.script(
        Scripted.tools(("escalate_to_owner", {"reason": "customer asked for a human"}),
                       content="I'll get the owner for you right away.")
    )  # fmt: skip
    await _say(business, "can I talk to a real person")
    [escalated] = stack.topic.of_type(contracts.ConversationEscalated.type)
    assert escalated["data"]["reason"] == "customer asked for a human"
    assert stack.twilio.to(CUSTOMER)[0]["Body"] == (
        "Acme Plumbing: I'll get the owner for you right away. Reply STOP to opt out."
    )
