"""Customer texts through the real webhook and queue: stored once, answered once, in order."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from shared_code import contracts
from shared_code.messaging import conversations
from shared_code.platform.db import get_pool
from tests.helpers import (
    create_business,
    deliver_events,
    drain_messages_queue,
    message_sid,
    post,
    queued,
    sms_params,
    text_in,
    twilio_request,
)

CUSTOMER = "+13125550123"


async def _messages(author: str | None = None) -> list:
    pool = await get_pool()
    rows = await pool.fetch("SELECT * FROM messages ORDER BY coalesce(received_at, created_at), id")
    return [r for r in rows if author is None or r["author"] == author]


async def test_inbound_webhook_answers_empty_twiml_and_queues_with_media(stack):
    business, _ = await create_business()
    params = sms_params(
        CUSTOMER, business.phone_number, "here's the leak",
        NumMedia="1", MediaUrl0="https://api.twilio.com/media/ME1", MediaContentType0="image/jpeg",
    )  # fmt: skip
    response = await post("sms_incoming", twilio_request("/api/sms/incoming", params))
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert b"<Message" not in response.get_body()
    [task] = await queued("messages")
    assert task["message_sid"] == params["MessageSid"]
    assert task["media"] == [
        {"url": "https://api.twilio.com/media/ME1", "content_type": "image/jpeg"}
    ]
    await drain_messages_queue()
    [stored] = await _messages("customer")
    assert stored["media"] == task["media"] and stored["body"] == "here's the leak"


async def test_unsigned_inbound_text_is_rejected_and_nothing_queued(stack):
    business, _ = await create_business()
    params = sms_params(CUSTOMER, business.phone_number, "hi")
    response = await post("sms_incoming", twilio_request("/api/sms/incoming", params, signature=""))
    assert response.status_code == 403 and response.mimetype == "application/xml"
    assert await queued("messages") == []


async def test_scripted_intake_collects_the_lead_and_alerts_the_owner(stack):
    business, _ = await create_business(name="Acme Plumbing")
    answers = [
        "Hi, my water heater is leaking",
        "Dana",
        "60614",
        "tomorrow morning",
        "yes it's urgent",
    ]
    for answer in answers:
        await text_in(CUSTOMER, business.phone_number, answer)
        await drain_messages_queue()
    replies = stack.twilio.to(CUSTOMER)
    assert len(replies) == len(answers)  # one answer per text, never silence
    # A leak is urgent without asking: the confirmation came with "tomorrow morning".
    assert "Dana" in replies[-2]["Body"] and "(urgent)" in replies[-2]["Body"]
    pool = await get_pool()
    conversation = await pool.fetchrow("SELECT * FROM conversations")
    assert conversation["lead_qualified_at"] is not None
    assert conversation["lead"]["address"] == "60614" and conversation["lead"]["name"] == "Dana"
    [qualified] = stack.topic.of_type(contracts.LeadQualified.type)
    assert qualified["data"]["customer"] == CUSTOMER
    await deliver_events("notifications", [qualified], times=3)
    [alert] = stack.twilio.to(business.owner_phone)
    assert CUSTOMER in alert["Body"] and "Dana" in alert["Body"]
    assert f"#{conversation['ref']}" in alert["Body"]


async def test_duplicate_message_sid_gives_one_message_and_one_reply(stack):
    business, _ = await create_business()
    sid = message_sid()
    await asyncio.gather(
        *(
            text_in(CUSTOMER, business.phone_number, "need a plumber", MessageSid=sid)
            for _ in range(5)
        )
    )
    stack.stop_redis()  # even without the Redis pre-filter, the database dedupes
    for _ in range(5):
        await text_in(CUSTOMER, business.phone_number, "need a plumber", MessageSid=sid)
    await drain_messages_queue(concurrently=True)
    assert len(await _messages("customer")) == 1
    assert len(stack.twilio.to(CUSTOMER)) == 1


async def test_a_burst_of_texts_gets_one_reply(stack):
    business, _ = await create_business()
    for body in ("hello?", "my sink is clogged", "I'm Dana"):
        await text_in(CUSTOMER, business.phone_number, body)
    await drain_messages_queue()
    assert len(await _messages("customer")) == 3
    assert len(stack.twilio.to(CUSTOMER)) == 1


async def test_twenty_texts_at_once_are_all_stored_in_order_with_one_reply(stack):
    business, _ = await create_business()
    bodies = [f"text number {n}" for n in range(20)]
    for body in bodies:  # Twilio delivers them in this order
        await text_in(CUSTOMER, business.phone_number, body)
    await drain_messages_queue(concurrently=True)  # processed all at once
    stored = await _messages("customer")
    assert [m["body"] for m in stored] == bodies
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM conversations") == 1
    assert len(stack.twilio.to(CUSTOMER)) == 1
    assert await pool.fetchval("SELECT max(replied_through_id) FROM conversations") == max(
        m["id"] for m in stored
    )


async def test_replies_for_one_conversation_never_overlap(stack):
    """Two rounds of concurrent texts and replies: each reply follows the texts it answers."""
    business, _ = await create_business()
    for round_ in range(3):
        await asyncio.gather(
            *(text_in(CUSTOMER, business.phone_number, f"r{round_} t{n}") for n in range(4))
        )
        await drain_messages_queue(concurrently=True)
    messages = await _messages()
    authors = [m["author"] for m in messages if m["author"] in ("customer", "assistant")]
    # Replies come only after customer texts, never two composed at once for one burst.
    assert authors.count("assistant") == 3
    assert all(a != b or a == "customer" for a, b in pairwise(authors))


async def test_a_reply_gives_the_lease_back_with_its_own_commit(stack):
    business, _ = await create_business()
    await text_in(CUSTOMER, business.phone_number, "my sink is clogged")
    await drain_messages_queue()
    assert len(stack.twilio.to(CUSTOMER)) == 1
    pool = await get_pool()
    lease = await pool.fetchrow("SELECT reply_lease_token, reply_lease_until FROM conversations")
    assert tuple(lease) == (None, None)


async def test_the_lease_claim_checks_for_newer_texts_and_commits_alone(stack):
    business, _ = await create_business()
    for body in ("hello?", "my sink is clogged"):
        await text_in(CUSTOMER, business.phone_number, body)
    await drain_messages_queue()
    pool = await get_pool()
    conversation_id = await pool.fetchval("SELECT id FROM conversations")
    first, newest = [m["id"] for m in await _messages("customer")]
    async with pool.acquire() as conn:
        stale = await conversations.claim_reply_lease(conn, conversation_id, first)
        assert stale.superseded(first) and stale.conversation is None  # and no lease taken
        assert await conn.fetchval("SELECT reply_lease_token FROM conversations") is None
        claim = await conversations.claim_reply_lease(conn, conversation_id, newest)
        assert not claim.superseded(newest) and claim.conversation is not None
        assert claim.conversation["reply_lease_token"] == claim.token
        # Only the claim's own statement committed asynchronously, not the pooled connection.
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
        busy = await conversations.claim_reply_lease(conn, conversation_id, newest)
        assert busy.conversation is None and not busy.superseded(newest)
        async with conn.transaction():
            with pytest.raises(AssertionError):
                await conversations.claim_reply_lease(conn, conversation_id, newest)
