"""Follow-ups against the real stack: the default schedule after an unanswered text-back, one
text per step whatever runs at once, the stop on a reply that arrives while a step is being
decided, quiet hours, DST, and the customers a follow-up never reaches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from shared_code import contracts
from shared_code.businesses import store
from shared_code.messaging import delivery, followups
from shared_code.platform.db import get_pool
from tests.followups.helpers import CALLER, make_due, missed_call, schedule_from_sent, steps
from tests.helpers import create_business, drain_messages_queue, text_in

CHICAGO = ZoneInfo("America/Chicago")


async def followup_texts(stack, caller: str = CALLER) -> list[str]:
    pool = await get_pool()
    rows = await pool.fetch(
        "SELECT body FROM outbound_texts WHERE kind = 'followup' AND to_number = $1 ORDER BY id",
        caller,
    )
    sent = [m["Body"] for m in stack.twilio.to(caller)]
    assert all(r["body"] in sent for r in rows), "every follow-up intent reached Twilio"
    return [r["body"] for r in rows]


async def test_an_unanswered_text_back_gets_each_default_step_once_then_stops(stack):
    business, _ = await create_business(booking_url="https://book.example.com/acme")
    conversation_id = await missed_call(business)
    await schedule_from_sent(stack)
    (first,) = await steps(conversation_id)
    assert first["step"] == 1 and first["due_at"] - first["anchor_at"] == timedelta(minutes=30)

    expected_gap = {2: (1, "day"), 3: (3, "days")}
    for step in (1, 2, 3):
        await make_due(conversation_id)
        assert await followups.run_due() == {"sent": 1}
        assert await followups.run_due() == {}  # nothing left due: the step is done
        sent = stack.topic.of_type(contracts.FollowupSent.type)
        assert [e["data"]["step"] for e in sent] == [step]
        await schedule_from_sent(stack)
        rows = await steps(conversation_id)
        if step < 3:
            nxt = rows[step]
            days, _ = expected_gap[step + 1]
            local_anchor = nxt["anchor_at"].astimezone(CHICAGO)
            assert nxt["due_at"].astimezone(CHICAGO) == local_anchor + timedelta(days=days)
    rows = await steps(conversation_id)
    assert [(r["step"], r["status"]) for r in rows] == [(1, "sent"), (2, "sent"), (3, "sent")]
    texts = await followup_texts(stack)
    assert len(texts) == 3 and "again" in texts[0]
    assert all("Book a time: https://book.example.com/acme" in t for t in texts)
    assert "  " not in texts[0]


async def test_a_reply_between_the_timers_read_and_its_send_stops_the_step(stack):
    business, _ = await create_business()
    conversation_id = await missed_call(business)
    await schedule_from_sent(stack)
    await make_due(conversation_id)

    async def customer_replies(_task_id: int) -> None:  # after the timer read the due steps
        await text_in(CALLER, business.phone_number, "yes I need a plumber")
        await drain_messages_queue()

    assert await followups.run_due(before_send=customer_replies) == {"cancelled:replied": 1}
    assert await followup_texts(stack) == []
    (step,) = await steps(conversation_id)
    assert step["status"] == "cancelled" and step["reason"] == "replied"


async def test_a_reply_committing_while_the_step_is_decided_wins(stack):
    """The reply's transaction holds the contact (as the inbound handler does) when the step is
    claimed: the step waits for it, then sees the reply and cancels."""
    business, _ = await create_business()
    conversation_id = await missed_call(business)
    await schedule_from_sent(stack)
    await make_due(conversation_id)
    pool = await get_pool()
    async with pool.acquire() as conn:
        reply = conn.transaction()
        await reply.start()
        await conn.execute(
            "SELECT 1 FROM contacts WHERE business_id = $1 AND phone = $2 FOR UPDATE",
            business.id, CALLER,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO messages (conversation_id, direction, author, body, received_at)"
            " VALUES ($1, 'inbound', 'customer', 'hello?', now())",
            conversation_id,
        )
        (task_id,) = await followups.due_steps()
        step = asyncio.ensure_future(followups.send_step(task_id))
        await asyncio.sleep(0.5)
        assert not step.done(), "the step must wait for the reply's transaction"
        await reply.commit()
    assert await step == "cancelled:replied"
    assert await followup_texts(stack) == []


async def test_concurrent_timers_send_each_step_once(stack):
    business, _ = await create_business()
    conversation_id = await missed_call(business)
    await schedule_from_sent(stack)
    await make_due(conversation_id)
    results = await asyncio.gather(*(followups.run_due() for _ in range(5)))
    assert sum(r.get("sent", 0) for r in results) == 1
    assert len(await followup_texts(stack)) == 1
    # The scheduler, redelivered and concurrent, schedules step 2 once; the table says so too.
    await asyncio.gather(*(schedule_from_sent(stack) for _ in range(1)))
    assert [r["step"] for r in await steps(conversation_id)] == [1, 2]
    pool = await get_pool()
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "INSERT INTO followup_tasks (business_id, conversation_id, step, anchor_at, due_at)"
            " VALUES ($1, $2, 1, now(), now())",
            business.id, conversation_id,
        )  # fmt: skip


async def test_quiet_hours_hold_a_step_until_they_end(stack, configure):
    business, _ = await create_business()
    conversation_id = await missed_call(business)
    await schedule_from_sent(stack)
    await make_due(conversation_id)
    now = datetime.now(UTC).astimezone(CHICAGO)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    configure(QUIET_HOURS_START=start.strftime("%H:%M"), QUIET_HOURS_END=end.strftime("%H:%M"))
    assert await followups.run_due() == {"held:quiet_hours": 1}
    (held,) = await steps(conversation_id)
    assert held["status"] == "scheduled" and held["reason"] == "quiet_hours"
    assert held["due_at"].astimezone(CHICAGO).strftime("%H:%M") == end.strftime("%H:%M")
    assert await followups.run_due() == {}  # not due again before the morning
    assert await followup_texts(stack) == []
    configure(QUIET_HOURS_START="00:00", QUIET_HOURS_END="00:00")
    await make_due(conversation_id)
    assert await followups.run_due() == {"sent": 1}


async def test_a_day_step_across_the_dst_change_keeps_the_local_time(stack):
    schedule = [store.FollowupStep(after_days=1)]
    business, _ = await create_business(followup_schedule=[s.model_dump() for s in schedule])
    await missed_call(business)
    pool = await get_pool()
    before_change = datetime(2026, 3, 7, 10, 15, tzinfo=CHICAGO)
    await pool.execute(
        "UPDATE outbound_texts SET sent_at = $1 WHERE kind = 'text_back'", before_change
    )
    await schedule_from_sent(stack)
    (step,) = await pool.fetch("SELECT * FROM followup_tasks")
    assert step["due_at"].astimezone(CHICAGO) == datetime(2026, 3, 8, 10, 15, tzinfo=CHICAGO)
    assert step["due_at"] - before_change == timedelta(hours=23)


async def test_follow_ups_off_when_the_schedule_is_empty(stack):
    business, _ = await create_business(followup_schedule=[])
    conversation_id = await missed_call(business)
    await schedule_from_sent(stack)
    assert await steps(conversation_id) == []


async def test_never_to_the_opted_out_the_blocked_the_closed_or_in_owner_mode(stack):
    business, _ = await create_business()
    callers = {
        "opted_out": "+13125550131", "blocked": "+13125550132", "closed": "+13125550133",
        "owner_mode": "+13125550134", "outcome_lost": "+13125550135",
    }  # fmt: skip
    conversations = {why: await missed_call(business, phone) for why, phone in callers.items()}
    await schedule_from_sent(stack)
    pool = await get_pool()
    await pool.execute(
        "UPDATE contacts SET opted_out_at = now() WHERE phone = $1", callers["opted_out"]
    )
    await store.update_business(
        business.id, store.BusinessPatch(blocked_numbers=[callers["blocked"]])
    )
    await pool.execute(
        "UPDATE conversations SET status = 'closed' WHERE id = $1", conversations["closed"]
    )
    await pool.execute(
        "UPDATE conversations SET mode = 'owner' WHERE id = $1", conversations["owner_mode"]
    )
    await pool.execute(
        "UPDATE conversations SET outcome = 'lost' WHERE id = $1", conversations["outcome_lost"]
    )
    for conversation_id in conversations.values():
        await make_due(conversation_id)
    outcomes = await followups.run_due()
    assert outcomes == {f"cancelled:{why}": 1 for why in callers}
    for phone in callers.values():
        assert await followup_texts(stack, phone) == []


async def test_the_booking_link_in_the_text_back_and_the_schedule_in_the_business(stack):
    template = "Hi from {business_name}! {booking_link} Reply STOP to opt out."
    business, _ = await create_business(
        booking_url="https://book.example.com/acme", templates={"text_back": template}
    )
    await missed_call(business)
    (text_back,) = [m["Body"] for m in stack.twilio.to(CALLER)]
    link = "Book a time: https://book.example.com/acme"
    assert text_back == f"Hi from Acme Plumbing! {link} Reply STOP to opt out."
    shown = business.to_json()
    assert shown["booking_url"] == "https://book.example.com/acme"
    assert shown["followup_schedule"] == [
        {"after_minutes": 30}, {"after_days": 1}, {"after_days": 3},
    ]  # fmt: skip
    for bad in (
        {"followup_schedule": [{"after_minutes": 30}] * 6},
        {"followup_schedule": [{"after_hours": 3}]},
        {"booking_url": "ftp://book.example.com"},
        {"templates": {"followup_1": "Hi {customer_name}"}},
    ):
        with pytest.raises(ValueError):
            store.BusinessPatch.model_validate(bad)
    updated = await store.update_business(
        business.id,
        store.BusinessPatch.model_validate(
            {"followup_schedule": [{"after_minutes": 90}], "booking_url": None}
        ),
    )
    assert updated is not None and updated.booking_url is None
    assert updated.to_json()["followup_schedule"] == [{"after_minutes": 90}]


async def _followup_intent():
    pool = await get_pool()
    return await pool.fetchrow("SELECT * FROM outbound_texts WHERE kind = 'followup'")


async def test_a_follow_up_retried_after_a_twilio_error_is_decided_again(stack, configure):
    """Review: the sweep's retry only re-checked opt-outs and blocks, so a follow-up that
    Twilio failed went out after the customer had answered."""
    configure(SEND_RETRY_AFTER_SECONDS="0", TWILIO_TIMEOUT_SECONDS="0.2")
    business, _ = await create_business()
    conversation_id = await missed_call(business)
    await schedule_from_sent(stack)
    await make_due(conversation_id)
    stack.twilio.fail_next = 3  # every try of this delivery: 500
    assert await followups.run_due() == {"sent": 1}  # decided; Twilio's answer comes after
    intent = await _followup_intent()
    assert intent["status"] == "sending" and intent["validity_seconds"] is not None
    await text_in(CALLER, business.phone_number, "yes, tomorrow works")
    await drain_messages_queue()
    await asyncio.sleep(delivery.stale_after_seconds())
    await delivery.send_unsent()
    intent = await _followup_intent()
    assert (intent["status"], intent["error"]) == ("failed", "blocked: replied")
    assert intent["body"] not in [m["Body"] for m in stack.twilio.to(CALLER)]


async def test_a_follow_up_retried_in_quiet_hours_waits_for_the_morning(stack, configure):
    configure(SEND_RETRY_AFTER_SECONDS="0", TWILIO_TIMEOUT_SECONDS="0.2")
    business, _ = await create_business()
    conversation_id = await missed_call(business)
    await schedule_from_sent(stack)
    await make_due(conversation_id)
    stack.twilio.fail_next = 3
    assert await followups.run_due() == {"sent": 1}
    now = datetime.now(UTC).astimezone(CHICAGO)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    configure(QUIET_HOURS_START=start.strftime("%H:%M"), QUIET_HOURS_END=end.strftime("%H:%M"))
    await asyncio.sleep(delivery.stale_after_seconds())
    assert await delivery.send_unsent() == 0
    held = await _followup_intent()
    assert (held["status"], held["attempts"], held["error"]) == ("sending", 1, "held:quiet_hours")
    configure(QUIET_HOURS_START="00:00", QUIET_HOURS_END="00:00")  # morning
    await asyncio.sleep(delivery.stale_after_seconds())
    assert await delivery.send_unsent() == 1
    sent = await _followup_intent()
    assert sent["status"] == "sent"
    assert [m["Body"] for m in stack.twilio.to(CALLER)].count(sent["body"]) == 1


async def test_a_step_that_keeps_failing_is_given_up_with_an_error_log(stack, monkeypatch, caplog):
    """Review: a step raising anything but SendBlocked was retried every minute forever."""
    business, _ = await create_business()
    conversation_id = await missed_call(business)
    await schedule_from_sent(stack)

    def broken_template(*_args: object) -> str:
        raise RuntimeError("template engine down")

    monkeypatch.setattr(followups, "followup_text", broken_template)
    seen = []
    for _ in range(followups.MAX_STEP_ERRORS):
        await make_due(conversation_id)
        seen.append(await followups.run_due())
    assert seen[:-1] == [{"error": 1}] * (followups.MAX_STEP_ERRORS - 1)
    assert seen[-1] == {"cancelled:gave_up": 1}
    (step,) = await steps(conversation_id)
    assert (step["status"], step["reason"], step["errors"]) == (
        "cancelled", "gave_up", followups.MAX_STEP_ERRORS,
    )  # fmt: skip
    assert any(r.levelname == "ERROR" and "given up" in r.getMessage() for r in caplog.records)
    await make_due(conversation_id)
    assert await followups.run_due() == {}
    assert await followup_texts(stack) == []
