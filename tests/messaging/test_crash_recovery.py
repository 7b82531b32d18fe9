"""A worker killed with SIGKILL in the middle of sending: exactly one text-back, one alert.

A real worker process (the registered queue function, fed from Azurite as the host would) takes
the missed call, commits the decision, and is killed while its text is in flight: once after
Twilio accepted it (the answer never came back), once before the request left (it was waiting
on the per-number pace, before claiming it). What it committed is then finished the way
production finishes it: the queue redelivers the call (a duplicate now), Event Grid delivers the
alert, and the outbox timer's sweep sends or finds the text.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared_code import contracts
from shared_code.calls.handler import handle_call_report
from shared_code.contracts import CallReport
from shared_code.messaging.delivery import send_unsent, stale_after_seconds
from shared_code.platform import cache, queues
from shared_code.platform.db import get_pool
from tests.helpers import call_sid, create_business, deliver_events

CALLER = "+13125550123"
ROOT = Path(__file__).resolve().parents[2]
WORKER = (
    "import asyncio\nfrom tests.helpers import drain_calls_queue\nasyncio.run(drain_calls_queue())"
)


async def _wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("the worker never got there")
        await asyncio.sleep(0.05)


async def _intent_status() -> str | None:
    pool = await get_pool()
    return await pool.fetchval("SELECT status FROM outbound_texts WHERE kind = 'text_back'")


@pytest.mark.parametrize("moment", ["after_twilio_accepted", "before_the_request_left"])
async def test_worker_killed_mid_send_texts_once_and_alerts_once(stack, configure, moment):
    configure(SEND_RETRY_AFTER_SECONDS="0", TWILIO_TIMEOUT_SECONDS="0.5")
    business, _ = await create_business()
    report = CallReport(
        call_sid=call_sid(), from_number=CALLER, to_number=business.phone_number,
        source="dial-status", dial_status="no-answer",
    )  # fmt: skip
    await queues.enqueue(queues.CALLS_QUEUE, report.to_json())
    if moment == "after_twilio_accepted":
        stack.twilio.slow_after_accept[CALLER] = 60
    else:  # hold the worker in the per-number pace: its claim is committed, nothing sent
        now = int(time.time())
        for second in range(now, now + 30):
            await cache.incr_window(f"pace:{business.phone_number}:{second}", 60)
        configure(SMS_RATE_PER_SECOND="1")
    worker = subprocess.Popen(  # noqa: ASYNC220  (killed below, never awaited)
        [sys.executable, "-c", WORKER], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        if moment == "after_twilio_accepted":

            async def accepted() -> bool:
                return len(stack.twilio.to(CALLER)) == 1

            await _wait_for(accepted)
        else:

            async def committed() -> bool:
                return await _intent_status() == "pending"

            await _wait_for(committed)
            await asyncio.sleep(0.3)  # well inside the pace wait
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    stack.twilio.slow_after_accept.clear()
    if moment == "before_the_request_left":
        assert stack.twilio.to(CALLER) == []
        configure(SMS_RATE_PER_SECOND="1000")
        assert await _intent_status() == "pending"  # committed, never claimed
    else:
        assert await _intent_status() == "sending"  # claimed, outcome unknown
        await asyncio.sleep(stale_after_seconds())  # the dead worker's claim expires

    # What production does next, in any order: the queue redelivers, Event Grid delivers the
    # alert (twice, as it may), the outbox timer sweeps (twice, overlapping runs).
    assert (await handle_call_report(report)).status == "duplicate"
    missed = stack.topic.of_type(contracts.CallMissed.type)
    assert [e["data"]["call_sid"] for e in missed] == [report.call_sid]
    await deliver_events("notifications", missed, times=2)
    resent = await asyncio.gather(send_unsent(), send_unsent())
    assert sorted(resent) == [0, 1]
    assert await send_unsent() == 0

    texts = stack.twilio.to(CALLER)
    assert len(texts) == 1, "duplicates: a text-back was sent twice"
    assert len(stack.twilio.to(business.owner_phone)) == 1
    assert await _intent_status() == "sent"
    if moment == "after_twilio_accepted":
        assert stack.twilio.list_requests >= 1  # found at Twilio, not resent
    pool = await get_pool()
    marked = await pool.fetchval("SELECT message_sid FROM messages WHERE direction = 'outbound'")
    assert marked == texts[0]["sid"]
