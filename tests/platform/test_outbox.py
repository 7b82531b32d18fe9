"""Events survive an Event Grid outage in the outbox and go out once it is back."""

from __future__ import annotations

import asyncio

from azure.functions.timer import TimerRequest

from shared_code.calls.handler import handle_call_report
from shared_code.contracts import CallReport
from shared_code.platform import events
from shared_code.platform.db import get_pool
from tests.helpers import app_function, call_sid, create_business

CALLER = "+13125550123"


async def _missed_call(business) -> str:
    sid = call_sid()
    report = CallReport(
        call_sid=sid, from_number=CALLER, to_number=business.phone_number,
        source="dial-status", dial_status="no-answer",
    )  # fmt: skip
    assert (await handle_call_report(report)).status == "sent"
    return sid


async def _unpublished() -> list:
    pool = await get_pool()
    return await pool.fetch("SELECT * FROM outbox WHERE published_at IS NULL ORDER BY type")


async def test_topic_down_keeps_events_then_the_timer_publishes_them_once(stack):
    business, _ = await create_business()
    stack.topic.down = True
    sid = await _missed_call(business)

    # The text still went out: an Event Grid outage never blocks the customer.
    assert len(stack.twilio.to(CALLER)) == 1
    pending = await _unpublished()
    assert [r["type"] for r in pending] == [
        events.CALL_MISSED,
        events.MESSAGE_SENT,
        events.USAGE_RECORDED,
    ]
    assert all(r["attempts"] == 1 and "503" in (r["last_error"] or "") for r in pending)
    assert stack.topic.received == []

    timer = app_function("outbox")
    await timer(TimerRequest(past_due=False))  # still down: nothing lost, attempts counted
    assert len(await _unpublished()) == 3
    assert stack.topic.received == []

    stack.topic.down = False
    await timer(TimerRequest(past_due=True))
    assert await _unpublished() == []
    received = stack.topic.received
    assert sorted(e["type"] for e in received) == [r["type"] for r in pending]
    assert {e["id"] for e in received} == {str(r["id"]) for r in pending}
    missed = stack.topic.of_type(events.CALL_MISSED)[0]
    assert missed["data"]["call_sid"] == sid and missed["specversion"] == "1.0"

    await timer(TimerRequest(past_due=False))  # a later run republishes nothing
    assert len(stack.topic.received) == 3


async def test_overlapping_timer_runs_publish_each_event_once(stack):
    business, _ = await create_business()
    stack.topic.down = True
    for n in range(3):
        await _missed_call(business)
        pool = await get_pool()
        await pool.execute("UPDATE conversations SET status = 'closed'")
        await pool.execute("UPDATE contacts SET last_text_back_at = NULL")
        del n
    stack.topic.down = False
    counts = await asyncio.gather(*(events.flush_outbox(batch_size=2) for _ in range(4)))
    assert sum(counts) == 9
    assert len(stack.topic.received) == 9
    assert len({e["id"] for e in stack.topic.received}) == 9


async def test_event_ids_are_stable_for_the_fact_they_report(stack):
    a = events.event_id(events.CALL_MISSED, "CA1")
    assert a == events.event_id(events.CALL_MISSED, "CA1")
    assert a != events.event_id(events.CALL_MISSED, "CA2")
    assert a != events.event_id(events.MESSAGE_SENT, "CA1")


async def test_several_events_in_one_statement_are_the_rows_one_by_one_would_be(stack):
    data = {"n": 1, "text": 'é "quoted"', "nested": {"list": [1, None, True]}, "none": None}
    one_by_one, batched = [("SM1",), ("SM2",)], [("SM3",), ("SM4",)]
    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():
        for fact in one_by_one:
            await events.record_event(
                conn, events.MESSAGE_SENT, "/test", data, fact=fact, subject="s"
            )
        ids = await events.record_events(
            conn,
            "/test",
            [events.NewEvent(events.MESSAGE_SENT, data, fact, "s") for fact in batched],
        )
        # A retry of the same facts is a no-op, as with record_event.
        assert ids == await events.record_events(
            conn, "/test", [events.NewEvent(events.MESSAGE_SENT, {}, fact) for fact in batched]
        )
    assert ids == [events.event_id(events.MESSAGE_SENT, *fact) for fact in batched]
    rows = await pool.fetch("SELECT id, type, source, subject, data FROM outbox ORDER BY id")
    assert len(rows) == 4
    expected = (events.MESSAGE_SENT, "/test", "s", data)
    assert all((r["type"], r["source"], r["subject"], r["data"]) == expected for r in rows)
