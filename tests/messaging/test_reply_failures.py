"""A reply turn that fails never leaves credit held and never loses what the model spent.

Before sending moved after commit, a refused reply rolled the whole turn back: the model's usage
was never recorded and its credit reservation stayed held until it expired, five times over as
the queue retried.
"""

from __future__ import annotations

import pytest

from shared_code import contracts
from shared_code.assistant import model
from shared_code.contracts import InboundText
from shared_code.messaging.owner_relay import handle_owner_text
from shared_code.messaging.responder import handle_inbound
from shared_code.platform import queues
from shared_code.platform.db import get_pool
from tests.fakes.openai_api import Scripted
from tests.faults import queue_service_down
from tests.helpers import create_business, drain_messages_queue, text_in

CUSTOMER = "+13125550123"


@pytest.fixture
def model_on(stack, configure):
    configure(OPENAI_API_KEY=stack.openai.api_key, OPENAI_MODEL="gpt-4o-mini")


async def _held_reservations() -> int:
    pool = await get_pool()
    return await pool.fetchval("SELECT count(*) FROM credit_reservations WHERE closed_at IS NULL")


async def test_a_refused_reply_still_meters_the_model_call_once(stack, model_on):
    business, _ = await create_business()
    stack.twilio.refuse[CUSTOMER] = (400, 21610)  # opted out at the carrier
    stack.openai.script(Scripted.text("Thanks! What's your name?"))
    await text_in(CUSTOMER, business.phone_number, "my water heater is leaking")
    await drain_messages_queue()
    ai = [e for e in stack.topic.of_type(contracts.UsageRecorded.type) if e["data"]["kind"] == "ai"]
    assert len(ai) == 1  # the usage logger settles the reservation with it
    assert ai[0]["data"]["reservation_id"]
    assert stack.twilio.to(CUSTOMER) == []
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM outbound_texts WHERE status = 'failed'") == 1
    assert await pool.fetchval(
        "SELECT opted_out_at IS NOT NULL FROM contacts WHERE phone = $1", CUSTOMER
    )


async def test_an_unexpected_failure_in_the_turn_gives_the_reservation_back(
    stack, model_on, monkeypatch
):
    business, _ = await create_business()

    async def broken(*args, **kwargs):
        raise RuntimeError("a bug in the turn")

    monkeypatch.setattr(model, "ai_turn", broken)
    await text_in(CUSTOMER, business.phone_number, "my water heater is leaking")
    with pytest.raises(RuntimeError):
        await drain_messages_queue()
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM credit_reservations") == 1
    assert await _held_reservations() == 0


async def test_a_reply_task_lost_after_commit_is_put_again_by_the_redelivery(stack, services):
    """The inbound text committed, but the queue refused its reply task (a storage blip right
    after commit): the invocation fails, the queue redelivers the text, and the duplicate puts
    the reply task again. One reply, never none."""
    business, _ = await create_business()
    text = InboundText(
        message_sid="SM" + "7" * 32, from_number=CUSTOMER, to_number=business.phone_number,
        body="my water heater is leaking",
    )  # fmt: skip
    queues.reset()
    with queue_service_down(services), pytest.raises(Exception):  # noqa: B017
        await handle_inbound(text)
    queues.reset()
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM messages WHERE author = 'customer'") == 1
    assert await handle_inbound(text) == "duplicate"
    await drain_messages_queue()
    assert len(stack.twilio.to(CUSTOMER)) == 1
    assert await handle_inbound(text) == "duplicate"  # answered now: nothing put again
    await drain_messages_queue()
    assert len(stack.twilio.to(CUSTOMER)) == 1


async def test_a_release_whose_reply_task_was_lost_is_answered_on_the_redelivery(stack, services):
    """The owner's "#1 release" committed, but its reply task never reached the queue: the
    redelivered owner text (a duplicate) puts a reply task again for the unanswered text."""
    business, _ = await create_business()
    await text_in(CUSTOMER, business.phone_number, "my water heater is leaking")
    await drain_messages_queue()
    await handle_owner_text(business, "SM" + "8" * 32, "#1 On my way")
    pool = await get_pool()
    # The customer wrote while the owner was away (not yet answered by anyone).
    conversation_id = await pool.fetchval("SELECT id FROM conversations")
    await pool.execute(
        "INSERT INTO messages (conversation_id, direction, author, body, message_sid)"
        " VALUES ($1, 'inbound', 'customer', 'hello?', $2)",
        conversation_id, "SM" + "6" * 32,
    )  # fmt: skip
    before = len(stack.twilio.to(CUSTOMER))
    release = "SM" + "9" * 32
    queues.reset()
    with queue_service_down(services), pytest.raises(Exception):  # noqa: B017
        await handle_owner_text(business, release, "#1 release")
    queues.reset()
    assert await handle_owner_text(business, release, "#1 release") == "duplicate"
    await drain_messages_queue()
    assert len(stack.twilio.to(CUSTOMER)) == before + 1  # the assistant answered "hello?"
