"""Each messaging rule for the text-back, both sides of it, through the `calls` handler."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared_code import contracts
from shared_code.calls.handler import handle_call_report
from shared_code.contracts import CallReport
from shared_code.platform import queues
from shared_code.platform.db import get_pool
from tests.helpers import call_sid, create_business

CALLER = "+13125550123"


def missed(business, caller: str = CALLER, sid: str | None = None) -> CallReport:
    return CallReport(
        call_sid=sid or call_sid(),
        from_number=caller,
        to_number=business.phone_number,
        source="dial-status",
        dial_status="no-answer",
        duration_seconds=0,
    )


async def set_contact(business, phone: str, **columns) -> None:
    pool = await get_pool()
    await pool.execute(
        "INSERT INTO contacts (business_id, phone) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        business.id,
        phone,
    )
    for column, value in columns.items():
        await pool.execute(
            f"UPDATE contacts SET {column} = $3 WHERE business_id = $1 AND phone = $2",
            business.id,
            phone,
            value,
        )


async def close_conversations(business) -> None:
    pool = await get_pool()
    await pool.execute(
        "UPDATE conversations SET status = 'closed', closed_at = now() WHERE business_id = $1",
        business.id,
    )


async def test_not_missed_call_is_recorded_but_never_texted(stack):
    business, _ = await create_business()
    report = missed(business).model_copy(
        update={"dial_status": "completed", "duration_seconds": 60}
    )
    outcome = await handle_call_report(report)
    assert outcome.status == "not_missed"
    assert stack.twilio.sent == [] and stack.topic.received == []


async def test_cooldown_blocks_a_second_text_back_within_the_window(stack):
    business, _ = await create_business()
    assert (await handle_call_report(missed(business))).status == "sent"
    await close_conversations(business)
    outcome = await handle_call_report(missed(business))
    assert outcome.status == "suppressed_cooldown"
    assert len(stack.twilio.to(CALLER)) == 1
    # The owner still hears about the second missed call.
    assert len(stack.topic.of_type(contracts.CallMissed.type)) == 2


async def test_cooldown_over_allows_the_next_text_back(stack, configure):
    configure(TEXT_BACK_COOLDOWN_HOURS="1")
    business, _ = await create_business()
    await set_contact(business, CALLER, last_text_back_at=datetime.now(UTC) - timedelta(hours=2))
    assert (await handle_call_report(missed(business))).status == "sent"
    assert len(stack.twilio.to(CALLER)) == 1


async def test_different_calls_from_one_caller_at_once_get_one_text(stack):
    business, _ = await create_business()
    outcomes = await asyncio.gather(*(handle_call_report(missed(business)) for _ in range(6)))
    statuses = sorted(o.status for o in outcomes)
    assert statuses.count("sent") == 1, statuses
    assert len(stack.twilio.to(CALLER)) == 1


async def test_open_conversation_suppresses_and_closed_one_does_not(stack, configure):
    configure(TEXT_BACK_COOLDOWN_HOURS="0")
    business, _ = await create_business()
    assert (await handle_call_report(missed(business))).status == "sent"
    assert (await handle_call_report(missed(business))).status == "suppressed_open_conversation"
    await close_conversations(business)
    assert (await handle_call_report(missed(business))).status == "sent"
    assert len(stack.twilio.to(CALLER)) == 2


async def test_opted_out_caller_is_never_texted_and_opted_in_caller_is(stack):
    business, _ = await create_business()
    await set_contact(business, CALLER, opted_out_at=datetime.now(UTC))
    assert (await handle_call_report(missed(business))).status == "suppressed_opted_out"
    other = "+13125550199"
    assert (await handle_call_report(missed(business, other))).status == "sent"
    assert stack.twilio.to(CALLER) == [] and len(stack.twilio.to(other)) == 1


async def test_known_landline_is_not_texted(stack):
    business, _ = await create_business()
    await set_contact(business, CALLER, is_landline=True)
    assert (await handle_call_report(missed(business))).status == "suppressed_landline"
    assert stack.twilio.sent == []


async def test_blocked_caller_gets_nothing_and_owner_is_not_alerted(stack):
    business, _ = await create_business(blocked_numbers=["(312) 555-0123"])
    assert (await handle_call_report(missed(business))).status == "suppressed_blocked"
    assert stack.twilio.sent == [] and stack.topic.received == []
    assert (await handle_call_report(missed(business, "+13125550199"))).status == "sent"


async def test_own_and_owner_numbers_are_never_texted(stack):
    business, _ = await create_business()
    for number in (business.phone_number, business.owner_phone):
        assert (
            await handle_call_report(missed(business, number))
        ).status == "suppressed_own_number"
    assert stack.twilio.sent == [] and stack.topic.received == []


async def test_anonymous_caller_is_not_texted_but_owner_is_alerted(stack):
    business, _ = await create_business()
    outcome = await handle_call_report(missed(business, "Anonymous"))
    assert outcome.status == "suppressed_invalid_number"
    assert stack.twilio.sent == []
    assert len(stack.topic.of_type(contracts.CallMissed.type)) == 1


def _quiet_window_around_now(time_zone: str, inside: bool) -> dict[str, str]:
    local = datetime.now(ZoneInfo(time_zone))
    if inside:
        start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    else:
        start, end = local + timedelta(hours=1), local + timedelta(hours=3)
    return {"QUIET_HOURS_START": start.strftime("%H:%M"), "QUIET_HOURS_END": end.strftime("%H:%M")}


async def test_quiet_hours_hold_the_text_until_they_end(stack, configure):
    business, _ = await create_business(time_zone="Asia/Kolkata")
    configure(**_quiet_window_around_now("Asia/Kolkata", inside=True))
    payload = missed(business)
    outcome = await handle_call_report(payload)
    assert outcome.status == "held" and 3600 <= outcome.hold_seconds <= 2 * 3600 + 120
    assert stack.twilio.sent == []
    # The owner hears at once; the caller's text waits on the queue, invisible until morning.
    alert = stack.topic.of_type(contracts.CallMissed.type)[0]
    assert alert["data"]["text_back_status"] == "held" and alert["data"]["hold_until"]
    calls = await queues.get_queue(queues.CALLS_QUEUE)
    assert (await calls.get_queue_properties()).approximate_message_count == 1
    assert [m async for m in calls.receive_messages()] == []

    # Delivered early (a duplicate), it is still held and nothing is sent.
    assert (await handle_call_report(payload)).status == "held"
    assert stack.twilio.sent == []

    # Morning: the held text goes out once, and the owner is not alerted twice.
    pool = await get_pool()
    await pool.execute(
        "UPDATE calls SET hold_until = now() - interval '1 second' WHERE call_sid = $1",
        payload.call_sid,
    )
    configure(QUIET_HOURS_START="00:00", QUIET_HOURS_END="00:00")
    assert (await handle_call_report(payload)).status == "sent"
    assert (await handle_call_report(payload)).status == "duplicate"
    assert len(stack.twilio.to(CALLER)) == 1
    assert len(stack.topic.of_type(contracts.CallMissed.type)) == 1


async def test_outside_quiet_hours_the_text_goes_at_once(stack, configure):
    business, _ = await create_business(time_zone="Asia/Kolkata")
    configure(**_quiet_window_around_now("Asia/Kolkata", inside=False))
    assert (await handle_call_report(missed(business))).status == "sent"


async def test_opt_out_during_quiet_hours_cancels_the_held_text(stack, configure):
    business, _ = await create_business(time_zone="America/Los_Angeles")
    configure(**_quiet_window_around_now("America/Los_Angeles", inside=True))
    payload = missed(business)
    assert (await handle_call_report(payload)).status == "held"
    await set_contact(business, CALLER, opted_out_at=datetime.now(UTC))
    pool = await get_pool()
    await pool.execute("UPDATE calls SET hold_until = now() - interval '1 second'")
    assert (await handle_call_report(payload)).status == "suppressed_opted_out"
    assert stack.twilio.sent == []
