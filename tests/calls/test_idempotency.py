"""The same call delivered many times gives exactly one text-back and one owner alert,
whether Twilio retries the webhook, the queue redelivers, or Event Grid repeats the event,
and whether or not Redis is up."""

from __future__ import annotations

import asyncio

from shared_code import contracts
from shared_code.calls.handler import handle_call_report
from shared_code.contracts import CallReport
from shared_code.messaging.delivery import send_unsent, stale_after_seconds
from shared_code.platform.db import get_pool
from tests.helpers import (
    call_sid,
    create_business,
    deliver_events,
    dial_status_params,
    drain_calls_queue,
    post,
    queued,
    twilio_request,
)

CALLER = "+13125550123"


async def _webhook(business, sid: str):
    params = dial_status_params(sid, CALLER, business.phone_number, "no-answer")
    response = await post("voice_dial_status", twilio_request("/api/voice/dial-status", params))
    assert response.status_code == 200
    return response


async def _assert_exactly_one_text_and_alert(stack, business, sid: str) -> None:
    await drain_calls_queue()
    # Event Grid may deliver each published event several times, concurrently.
    await deliver_events("notifications", stack.topic.of_type(contracts.CallMissed.type), times=10)
    assert len(stack.twilio.to(CALLER)) == 1
    alerts = stack.twilio.to(business.owner_phone)
    assert len(alerts) == 1 and CALLER in alerts[0]["Body"]
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM calls WHERE call_sid = $1", sid) == 1
    assert await pool.fetchval("SELECT count(*) FROM conversations") == 1
    assert await pool.fetchval("SELECT count(*) FROM messages") == 1
    assert await pool.fetchval("SELECT count(*) FROM notifications_sent") == 1


async def test_ten_sequential_webhooks_for_one_call(stack):
    business, _ = await create_business()
    sid = call_sid()
    for _ in range(10):
        await _webhook(business, sid)
    assert len(await queued()) == 1  # Redis filtered the retries before the queue
    await _assert_exactly_one_text_and_alert(stack, business, sid)


async def test_ten_concurrent_webhooks_for_one_call(stack):
    business, _ = await create_business()
    sid = call_sid()
    await asyncio.gather(*(_webhook(business, sid) for _ in range(10)))
    await _assert_exactly_one_text_and_alert(stack, business, sid)


async def test_ten_concurrent_webhooks_with_redis_stopped(stack):
    business, _ = await create_business()
    sid = call_sid()
    stack.stop_redis()
    await asyncio.gather(*(_webhook(business, sid) for _ in range(10)))
    assert len(await queued()) == 10  # no pre-filter: the database must dedupe alone
    await _assert_exactly_one_text_and_alert(stack, business, sid)


async def test_ten_sequential_webhooks_with_redis_stopped(stack):
    business, _ = await create_business()
    sid = call_sid()
    stack.stop_redis()
    for _ in range(10):
        await _webhook(business, sid)
    await _assert_exactly_one_text_and_alert(stack, business, sid)


async def test_queue_redelivering_one_report_ten_times_concurrently(stack):
    business, _ = await create_business()
    payload = CallReport(
        call_sid=call_sid(),
        from_number=CALLER,
        to_number=business.phone_number,
        source="dial-status",
        dial_status="busy",
    )
    outcomes = await asyncio.gather(*(handle_call_report(payload) for _ in range(10)))
    assert sorted(o.status for o in outcomes).count("sent") == 1
    assert len(stack.twilio.to(CALLER)) == 1
    assert len(stack.topic.of_type(contracts.CallMissed.type)) == 1


async def test_a_twilio_outage_keeps_the_call_and_the_text_goes_out_once_when_it_recovers(
    stack, configure
):
    """The decision commits whatever Twilio answers; the text is sent after commit, retried a
    few times (looked up before each retry: a 5xx may hide a sent text), then left to the outbox
    timer's sweep, which looks it up again before sending: one text-back, never two."""
    configure(SEND_RETRY_AFTER_SECONDS="0", TWILIO_TIMEOUT_SECONDS="0.2")
    business, _ = await create_business()
    report = CallReport(
        call_sid=call_sid(), from_number=CALLER, to_number=business.phone_number,
        source="dial-status", dial_status="busy",
    )  # fmt: skip
    stack.twilio.fail_next = 3  # every try of the first delivery gets a 500
    assert (await handle_call_report(report)).status == "sent"
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM calls") == 1
    assert [e["data"]["call_sid"] for e in stack.topic.of_type(contracts.CallMissed.type)] == [
        report.call_sid
    ]
    assert stack.twilio.to(CALLER) == []
    assert await pool.fetchval("SELECT status FROM outbound_texts") == "sending"  # unknown
    assert stack.twilio.list_requests == 2  # looked up before each retry
    assert (await handle_call_report(report)).status == "duplicate"  # the queue redelivers
    assert stack.twilio.to(CALLER) == []
    await asyncio.sleep(stale_after_seconds())
    assert await send_unsent() == 1  # Twilio is back: looked up (absent), then sent
    assert await send_unsent() == 0
    assert len(stack.twilio.to(CALLER)) == 1
    sent = stack.topic.of_type(contracts.MessageSent.type)
    assert [e["data"]["message_sid"] for e in sent] == [stack.twilio.to(CALLER)[0]["sid"]]


async def test_a_failed_owner_alert_is_kept_and_sent_once_by_the_sweep(stack, configure):
    configure(SEND_RETRY_AFTER_SECONDS="0", TWILIO_TIMEOUT_SECONDS="0.2")
    business, _ = await create_business()
    await _webhook(business, call_sid())
    await drain_calls_queue()
    event = stack.topic.of_type(contracts.CallMissed.type)
    stack.twilio.fail_next = 3
    await deliver_events("notifications", event)  # answered: nothing for Event Grid to retry
    assert stack.twilio.to(business.owner_phone) == []
    await deliver_events("notifications", event, times=3)  # duplicates of a recorded alert
    assert stack.twilio.to(business.owner_phone) == []
    await asyncio.sleep(stale_after_seconds())
    assert await send_unsent() == 1
    assert len(stack.twilio.to(business.owner_phone)) == 1
