"""Webhooks under real outages of the suite's own servers: Redis killed, the queue service
stopped (a short and a long outage), PostgreSQL stopped, and both stores down at once.

Whatever is down, every webhook answers within 2 s, the caller hears the greeting, and no
report is lost: it is on the queue, or kept in the inbox and queued by the outbox timer once the
queue is back, or (nothing could keep it) the webhook answered 503 and Twilio's retry is queued,
never turned away as "seen". Each test prints one `FAULT` line with its figures (pytest -s).
"""

from __future__ import annotations

import asyncio
import json
import time
import xml.etree.ElementTree as ET
from typing import Any

import redis.asyncio as redis
from azure.functions.timer import TimerRequest

from shared_code.businesses import store
from shared_code.platform import queues
from shared_code.platform.db import get_pool
from tests.faults import ACK_SECONDS, Tally, database_down, database_hung, queue_service_down
from tests.helpers import (
    app_function,
    call_sid,
    create_business,
    dial_status_params,
    drain_messages_queue,
    message_sid,
    post,
    sms_params,
    text_in,
    twilio_request,
)

CALLER = "+13125550123"
DIAL_STATUS = "/api/voice/dial-status"
SMS_INCOMING = "/api/sms/incoming"


def dial_status(sid: str, business_number: str, status: str = "no-answer") -> Any:
    return twilio_request(DIAL_STATUS, dial_status_params(sid, CALLER, business_number, status))


def inbound_text(sid: str, business_number: str, body: str = "are you open?") -> Any:
    return twilio_request(SMS_INCOMING, sms_params(CALLER, business_number, body, MessageSid=sid))


async def timed(tally: Tally, function_name: str, request: Any) -> Any:
    started = time.perf_counter()
    response = await post(function_name, request)
    tally.ack(response.status_code, time.perf_counter() - started)
    return response


async def queued_ids(name: str) -> list[str]:
    """The call or message sid of every message on queue `name` (taken off the queue)."""
    client = await queues.get_queue(name)
    ids: list[str] = []
    while batch := [
        m async for m in client.receive_messages(messages_per_page=32, visibility_timeout=300)
    ]:
        ids += [json.loads(m.content).get("call_sid") or json.loads(m.content)["message_sid"]
                for m in batch]  # fmt: skip
    return ids


async def inbox_rows() -> int:
    return int(await (await get_pool()).fetchval("SELECT count(*) FROM webhook_inbox"))


async def run_outbox_timer() -> None:
    await app_function("outbox")(TimerRequest(past_due=False))


def greeting(response: Any) -> str:
    say = ET.fromstring(response.get_body()).find("Say")
    return (say.text or "") if say is not None else ""


async def redis_knows(stack: Any, key: str) -> bool:
    client = redis.Redis.from_url(stack.redis_url)
    try:
        return bool(await client.exists(key))
    finally:
        await client.aclose()


# --- one failed hand-off ----------------------------------------------------------------------


async def test_a_hand_off_nothing_kept_leaves_no_mark_and_twilios_retry_is_queued(stack, services):
    """Queue and database both down: the webhook answers 503 at once and leaves no dedupe mark,
    so Twilio's retry (same CallSid, same MessageSid) is queued once they are back."""
    business, _ = await create_business()
    await post("voice_dial_status", dial_status(call_sid(), business.phone_number))  # warm
    await queued_ids(queues.CALLS_QUEUE)
    tally = Tally("queue+database stopped, then Twilio's retry")
    sid, text_sid = call_sid(), message_sid()
    with database_down(services), queue_service_down(services):
        call = await timed(tally, "voice_dial_status", dial_status(sid, business.phone_number))
        text = await timed(tally, "sms_incoming", inbound_text(text_sid, business.phone_number))
        assert (call.status_code, text.status_code) == (503, 503)
        assert call.mimetype == "application/xml"
        assert not await redis_knows(stack, f"wh:voice:dial-status:{sid}")
        assert not await redis_knows(stack, f"wh:sms:{text_sid}")
    store.clear_cache()  # the lookup breaker: the database is back
    retry = await timed(tally, "voice_dial_status", dial_status(sid, business.phone_number))
    text_retry = await timed(tally, "sms_incoming", inbound_text(text_sid, business.phone_number))
    assert (retry.status_code, text_retry.status_code) == (200, 200)
    assert business.name in greeting(retry)
    await run_outbox_timer()
    calls, texts = await queued_ids(queues.CALLS_QUEUE), await queued_ids(queues.MESSAGES_QUEUE)
    assert calls == [sid] and texts == [text_sid]
    assert tally.slowest < ACK_SECONDS
    tally.report(queued=len(calls) + len(texts), lost=0)


async def test_the_inbox_keeps_a_report_once_and_the_timer_queues_it_once(stack):
    """A retry that reaches the inbox again (Redis down too) adds no row; a drained row is gone,
    so the next timer run queues nothing twice."""
    for _ in range(2):
        assert await queues.keep_in_inbox(
            queues.CALLS_QUEUE, "wh:voice:x:CA1", '{"call_sid":"CA1"}'
        )
    assert await inbox_rows() == 1
    await run_outbox_timer()
    await run_outbox_timer()
    assert await inbox_rows() == 0
    assert await queued_ids(queues.CALLS_QUEUE) == ["CA1"]


# --- Redis killed -----------------------------------------------------------------------------


async def test_redis_killed_every_webhook_is_acknowledged_and_queued(stack):
    business, _ = await create_business()
    call_sids = [call_sid() for _ in range(15)]
    text_sids = [message_sid() for _ in range(15)]
    tally = Tally("redis killed")
    stack.stop_redis()
    try:
        for _ in range(2):  # every webhook twice: Twilio's retry, with no Redis to pre-filter
            responses = await asyncio.gather(
                *(timed(tally, "voice_dial_status", dial_status(s, business.phone_number))
                  for s in call_sids),
                *(timed(tally, "sms_incoming", inbound_text(s, business.phone_number))
                  for s in text_sids),
            )  # fmt: skip
            assert {r.status_code for r in responses} == {200}
    finally:
        stack.start_redis()
    calls, texts = await queued_ids(queues.CALLS_QUEUE), await queued_ids(queues.MESSAGES_QUEUE)
    assert set(calls) == set(call_sids) and set(texts) == set(text_sids)
    assert tally.acked == tally.requests == 60
    tally.report(
        queued=len(calls) + len(texts),
        distinct=len(set(calls)) + len(set(texts)),
        lost=len(set(call_sids) - set(calls)) + len(set(text_sids) - set(texts)),
    )


# --- queue service stopped --------------------------------------------------------------------


async def _webhooks_during_queue_outage(
    business_number: str, tally: Tally, waves: int, pause: float
) -> tuple[list[str], list[str]]:
    """Waves of dial-status and inbound-text webhooks, each also retried by Twilio once."""
    call_sids: list[str] = []
    text_sids: list[str] = []
    for _ in range(waves):
        calls = [call_sid() for _ in range(3)]
        texts = [message_sid() for _ in range(2)]
        responses = await asyncio.gather(
            *(timed(tally, "voice_dial_status", dial_status(s, business_number)) for s in calls),
            *(timed(tally, "sms_incoming", inbound_text(s, business_number)) for s in texts),
            timed(tally, "voice_dial_status", dial_status(calls[0], business_number)),
        )
        assert {r.status_code for r in responses} == {200}
        assert all("Acme Plumbing" in greeting(r) for r in responses[:3])
        call_sids += calls
        text_sids += texts
        await asyncio.sleep(pause)
    return call_sids, text_sids


async def _queue_outage(stack: Any, services: Any, name: str, waves: int, pause: float) -> None:
    business, _ = await create_business()
    await post("voice_dial_status", dial_status(call_sid(), business.phone_number))  # warm
    await queued_ids(queues.CALLS_QUEUE)
    tally = Tally(name)
    with queue_service_down(services):
        call_sids, text_sids = await _webhooks_during_queue_outage(
            business.phone_number, tally, waves, pause
        )
        kept = await inbox_rows()
        assert kept == len(call_sids) + len(text_sids)  # one row per webhook, retries included
        await run_outbox_timer()  # the queue is still down: the rows stay for the next run
        assert await inbox_rows() == kept
    after = [call_sid() for _ in range(3)]
    for sid in after:  # right after the restart
        response = await timed(tally, "voice_dial_status", dial_status(sid, business.phone_number))
        assert response.status_code == 200
    await run_outbox_timer()
    assert await inbox_rows() == 0
    calls, texts = await queued_ids(queues.CALLS_QUEUE), await queued_ids(queues.MESSAGES_QUEUE)
    lost = len(set(call_sids + after) - set(calls)) + len(set(text_sids) - set(texts))
    assert lost == 0 and tally.acked == tally.requests
    tally.report(kept_in_inbox=kept, queued=len(calls) + len(texts), lost=lost)


async def test_queue_service_short_outage_keeps_every_report(stack, services):
    await _queue_outage(stack, services, "queue service stopped (short)", waves=3, pause=0.3)


async def test_queue_service_long_outage_keeps_every_report(stack, services):
    """Longer than the put breaker (5 s): some webhooks try the queue again, fail, and still
    answer in time."""
    await _queue_outage(stack, services, "queue service stopped (long)", waves=8, pause=1.0)


# --- PostgreSQL stopped -----------------------------------------------------------------------


async def test_database_stopped_callers_hear_the_greeting_and_texts_are_acknowledged(
    stack, services
):
    business, _ = await create_business()
    incoming = "/api/voice/incoming"
    params = {"CallSid": call_sid(), "From": CALLER, "To": business.phone_number}
    warm = await post("voice_incoming", twilio_request(incoming, params))  # caches the business
    assert ET.fromstring(warm.get_body()).find("Dial") is not None
    tally = Tally("postgresql stopped")
    known, unknown, new_call, text_sid = call_sid(), call_sid(), call_sid(), message_sid()
    with database_down(services):
        missed = await timed(tally, "voice_dial_status", dial_status(known, business.phone_number))
        assert business.name in greeting(missed)
        stranger = await timed(tally, "voice_dial_status", dial_status(unknown, "+13125550999"))
        assert greeting(stranger).startswith("Sorry, we can't take your call")
        ring = await timed(
            tally, "voice_incoming", twilio_request(incoming, {**params, "CallSid": new_call})
        )
        assert ET.fromstring(ring.get_body()).find("Dial") is not None
        # A number this instance never saw: no owner to dial, so greet and queue the miss.
        cold = call_sid()
        stranger_params = {**params, "CallSid": cold, "To": "+13125550999"}
        cold_ring = await timed(tally, "voice_incoming", twilio_request(incoming, stranger_params))
        assert greeting(cold_ring).startswith("Sorry, we can't take your call")
        text = await timed(tally, "sms_incoming", inbound_text(text_sid, business.phone_number))
        assert text.status_code == 200
        # A delivery status needs the database: 503 as TwiML at once, and Twilio retries.
        status = {"MessageSid": message_sid(), "MessageStatus": "delivered"}
        delivery = await post("sms_status", twilio_request("/api/sms/status", status))
        assert (delivery.status_code, delivery.mimetype) == (503, "application/xml")
    calls, texts = await queued_ids(queues.CALLS_QUEUE), await queued_ids(queues.MESSAGES_QUEUE)
    assert sorted(calls) == sorted([known, unknown, cold]) and texts == [text_sid]
    assert tally.acked == tally.requests == 5
    tally.report(queued=len(calls) + len(texts), lost=0)


async def test_database_hung_the_status_callback_answers_503_within_two_seconds(stack, services):
    """Not stopped but frozen (connections open, queries unanswered): the status callback's
    database work has a deadline, so Twilio gets a 503 to retry instead of waiting out 15 s."""
    business, _ = await create_business()
    await text_in(CALLER, business.phone_number, "hello")
    await drain_messages_queue()
    [reply] = stack.twilio.to(CALLER)
    status = {"MessageSid": reply["sid"], "MessageStatus": "delivered"}
    with database_hung(services):
        started = time.monotonic()
        delivery = await post("sms_status", twilio_request("/api/sms/status", status))
        waited = time.monotonic() - started
    assert (delivery.status_code, delivery.mimetype) == (503, "application/xml")
    assert waited < ACK_SECONDS
    again = await post("sms_status", twilio_request("/api/sms/status", status))  # Twilio retries
    assert again.status_code == 200
    pool = await get_pool()
    stored = await pool.fetchval("SELECT status FROM messages WHERE message_sid = $1", reply["sid"])
    assert stored == "delivered"
