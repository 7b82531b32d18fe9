"""Sending rules on automated texts: loop guard, auto-responders, emergencies, delivery status,
quiet hours for replies, and the per-number pace."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared_code import contracts
from shared_code.messaging import outbound
from shared_code.messaging.delivery_status import record_status
from shared_code.platform.db import get_pool
from shared_code.platform.work import work
from tests.helpers import (
    create_business,
    deliver_events,
    drain_messages_queue,
    post,
    text_in,
    twilio_request,
)

CUSTOMER = "+13125550123"


async def _say(business, body: str) -> None:
    await text_in(CUSTOMER, business.phone_number, body)
    await drain_messages_queue()


async def _conversation():
    pool = await get_pool()
    return await pool.fetchrow("SELECT * FROM conversations")


async def test_loop_guard_stops_automated_replies_and_tells_the_owner(stack, configure):
    configure(MAX_AUTOMATED_PER_HOUR="3")
    business, _ = await create_business()
    for n in range(6):
        await _say(business, f"message {n}")
    assert len(stack.twilio.to(CUSTOMER)) == 3
    conversation = await _conversation()
    assert conversation["auto_paused_reason"] == "loop_guard"
    [escalated] = stack.topic.of_type(contracts.ConversationEscalated.type)
    assert escalated["data"]["reason"] == "too many automated replies"


async def test_under_the_loop_guard_every_text_is_answered(stack, configure):
    configure(MAX_AUTOMATED_PER_HOUR="10")
    business, _ = await create_business()
    for n in range(5):
        await _say(business, f"message {n}")
    assert len(stack.twilio.to(CUSTOMER)) == 5


async def test_another_auto_responder_is_not_answered(stack):
    business, _ = await create_business()
    await _say(business, "Auto-reply: I'm driving right now and will get back to you later")
    assert stack.twilio.to(CUSTOMER) == []
    assert (await _conversation())["auto_paused_reason"] == "auto_responder"
    assert len(stack.topic.of_type(contracts.ConversationEscalated.type)) == 1


async def test_emergency_words_escalate_at_once_and_the_owner_hears(stack):
    business, _ = await create_business(owner_name="Sam")
    await _say(business, "My basement is flooding!!")
    [escalated] = stack.topic.of_type(contracts.ConversationEscalated.type)
    assert "flooding" in escalated["data"]["reason"]
    [ack] = stack.twilio.to(CUSTOMER)
    assert "urgent" in ack["Body"].lower() and "Sam" in ack["Body"]
    await deliver_events("notifications", [escalated], times=3)
    [alert] = stack.twilio.to(business.owner_phone)
    assert alert["Body"].startswith("URGENT") and CUSTOMER in alert["Body"]


async def test_configured_emergency_words_replace_the_defaults(stack, configure):
    configure(EMERGENCY_KEYWORDS="sparks, smoke")
    business, _ = await create_business()
    await _say(business, "my basement is flooding")
    assert stack.topic.of_type(contracts.ConversationEscalated.type) == []
    await _say(business, "now there are sparks from the outlet")
    assert len(stack.topic.of_type(contracts.ConversationEscalated.type)) == 1


async def test_landline_error_marks_the_contact_and_status_only_moves_forward(stack):
    business, _ = await create_business()
    await _say(business, "hi")
    [reply] = stack.twilio.to(CUSTOMER)
    pool = await get_pool()
    await record_status(reply["sid"], "delivered", None)
    await record_status(reply["sid"], "sent", None)  # late, out of order
    assert (
        await pool.fetchval("SELECT status FROM messages WHERE message_sid = $1", reply["sid"])
        == "delivered"
    )
    await record_status(reply["sid"], "undelivered", 30006)
    assert await pool.fetchval("SELECT is_landline FROM contacts")
    assert (
        await pool.fetchval("SELECT error_code FROM messages WHERE message_sid = $1", reply["sid"])
        == 30006
    )


async def test_status_callback_needs_a_valid_signature(stack):
    business, _ = await create_business()
    await _say(business, "hi")
    [reply] = stack.twilio.to(CUSTOMER)
    params = {"MessageSid": reply["sid"], "MessageStatus": "undelivered", "ErrorCode": "30006"}
    forged = await post("sms_status", twilio_request("/api/sms/status", params, signature="bad"))
    assert forged.status_code == 403
    pool = await get_pool()
    assert not await pool.fetchval("SELECT is_landline FROM contacts")
    ok = await post("sms_status", twilio_request("/api/sms/status", params))
    assert ok.status_code == 200 and ok.mimetype == "application/xml"
    assert await pool.fetchval("SELECT is_landline FROM contacts")


async def test_replies_to_a_customer_who_texts_during_quiet_hours_go_out(stack, configure):
    """Quiet hours hold texts we start (text-backs); a customer who just wrote gets an answer."""
    business, _ = await create_business(time_zone="Asia/Kolkata")
    local = datetime.now(ZoneInfo("Asia/Kolkata"))
    configure(
        QUIET_HOURS_START=(local - timedelta(hours=1)).strftime("%H:%M"),
        QUIET_HOURS_END=(local + timedelta(hours=2)).strftime("%H:%M"),
    )
    await _say(business, "is anyone there?")
    assert len(stack.twilio.to(CUSTOMER)) == 1


async def test_sends_from_one_number_are_paced(stack, configure):
    configure(SMS_RATE_PER_SECOND="2")
    business, _ = await create_business()

    async def one(n: int) -> None:
        async with work("/test") as w:
            await outbound.send_after_commit(
                w, business, to=f"+1312555{1000 + n}", body="hi", author="system",
                kind="notice", fact=f"paced:{n}", conversation_id=None, automated=False,
            )  # fmt: skip

    await asyncio.gather(*(one(n) for n in range(5)))
    per_second = Counter(int(m["at"]) for m in stack.twilio.sent)
    # Unpaced, all five land within milliseconds. Paced at 2/s, a wall-clock second sees at
    # most 2, plus at most one request in flight across the boundary.
    assert sum(per_second.values()) == 5 and max(per_second.values()) <= 3
    assert len(per_second) >= 2
