"""The first text of every conversation names the business and says how to opt out (issue 16).

Through the whole stack: a customer who texts first (no missed call) gets a scripted first reply
that introduces the business and says "Reply STOP to opt out", once; an owner who writes the
first text gets the same added to it; a conversation a missed call opened (its text-back did
both) gets neither again. The scripted lead is stored with its window and parts, and the owner's
lead summary shows the latest answers.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared_code import contracts
from shared_code.messaging import conversations
from shared_code.messaging.owner_relay import send_as_owner
from shared_code.platform.db import get_pool
from shared_code.platform.sms_segments import count_segments
from shared_code.platform.work import work
from tests.helpers import create_business, drain_messages_queue, text_in

CUSTOMER = "+13125550123"


async def _say(business, body: str) -> None:
    await text_in(CUSTOMER, business.phone_number, body)
    await drain_messages_queue()


async def test_a_customer_who_texts_first_is_told_who_we_are_once(stack):
    business, _ = await create_business()
    await _say(business, "Hi, my water heater is leaking, can someone come today?")
    [first] = stack.twilio.to(CUSTOMER)
    assert first["Body"] == (
        "Hi, this is Acme Plumbing. Thanks! What's your name? Reply STOP to opt out."
    )
    assert count_segments(first["Body"]).segments == 1
    await _say(business, "Dana")
    await _say(business, "1420 W Wrightwood Ave 60614")
    await _say(business, "it can wait, tomorrow morning is fine")
    replies = [t["Body"] for t in stack.twilio.to(CUSTOMER)]
    assert len(replies) == 4 and all("STOP" not in r for r in replies[1:])
    assert "tomorrow morning (not urgent)" in replies[-1]

    pool = await get_pool()
    lead = await pool.fetchval("SELECT lead FROM conversations")
    assert lead["preferred_time"] == "tomorrow morning" and lead["urgency"] == "not urgent"
    assert lead["street"] == "1420 W Wrightwood Ave" and lead["zip"] == "60614"
    tomorrow = datetime.now(ZoneInfo("America/Chicago")).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(8), ZoneInfo("America/Chicago"))
    assert lead["when_start"] == start.isoformat()
    [qualified] = stack.topic.of_type(contracts.LeadQualified.type)
    # Qualified at the third reply ("today", urgent); the correction reaches the owner too.
    assert "When: today" in qualified["data"]["summary"]
    [update] = [
        t["Body"] for t in stack.twilio.to(business.owner_phone) if "lead updated" in t["Body"]
    ]
    assert "When: tomorrow morning (" in update and "Urgency: not urgent" in update
    assert "today" not in update


async def test_an_owner_who_writes_first_gets_the_business_name_and_opt_out_added(stack):
    business, _ = await create_business()
    pool = await get_pool()
    async with pool.acquire() as conn:
        conversation = await conversations.open_conversation(conn, business.id, CUSTOMER)
    async with work("/tests/first_message") as w:
        await send_as_owner(w, business, conversation, "I can come by at 3 today", about="t1")
    async with work("/tests/first_message") as w:
        await send_as_owner(w, business, conversation, "See you then", about="t2")
    bodies = [t["Body"] for t in stack.twilio.to(CUSTOMER)]
    assert bodies == [
        "Acme Plumbing: I can come by at 3 today Reply STOP to opt out.",
        "See you then",
    ]
