"""Events survive an Event Grid outage in the outbox and go out once it is back."""

from __future__ import annotations

import asyncio
import uuid

from azure.functions.timer import TimerRequest

from shared_code import contracts
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
        contracts.CallMissed.type,
        contracts.MessageSent.type,
        contracts.UsageRecorded.type,
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
    missed = stack.topic.of_type(contracts.CallMissed.type)[0]
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


async def test_events_are_written_as_their_contracts_say_and_a_rewrite_adds_nothing(stack):
    """The one INSERT the unit of work uses: each row's data is the contract's JSON (text that
    needs escaping included), its id the fact's; writing the same facts again writes no row."""
    business, _ = await create_business()
    conversation_id = uuid.uuid4()
    texts = ['é "quoted" \\ back', "second"]
    escalations = [
        contracts.ConversationEscalated(
            business_id=business.id, conversation_id=conversation_id, conversation_ref=1,
            customer=CALLER, reason=f"reason {n}", last_text=text,
        )
        for n, text in enumerate(texts)
    ]  # fmt: skip
    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():
        written = await events.write_events(conn, "/test", escalations)
        assert await events.write_events(conn, "/test", escalations) == []
    assert sorted(written) == sorted(e.id for e in escalations)
    rows = await pool.fetch("SELECT id, type, source, subject, data FROM outbox")
    by_id = {r["id"]: r for r in rows}
    for event in escalations:
        row = by_id[event.id]
        assert (row["type"], row["source"], row["subject"]) == (
            event.type,
            "/test",
            event.subject(),
        )
        assert row["data"] == event.to_json()
