"""The newcomer's path: the real app in devhost, the simulator playing Twilio, texts in the
sandbox, events through devhost's local topic; and a bad `calls` message ending in poison."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from devhost.host import Runner
from devhost.simulate_call import simulate_call
from shared_code.platform import queues
from tests.devhost.hosting import BUSINESS, CALLER, OWNER, create_demo_business, start_devhost


@pytest.fixture
async def host(stack, configure) -> AsyncIterator[Runner]:
    runner = await start_devhost(configure)
    yield runner
    await runner.stop()


async def test_simulated_missed_call_texts_the_caller_and_alerts_the_owner(stack, host):
    await create_demo_business(host.url, stack.admin_key)

    printed: list[str] = []
    texts = await simulate_call(
        host.url, CALLER, BUSINESS, "no-answer", out=printed.append, wait=15
    )
    to_caller = [t for t in texts if t["to_number"] == CALLER]
    to_owner = [t for t in texts if t["to_number"] == OWNER]
    assert len(to_caller) == 1 and "Demo Plumbing" in to_caller[0]["body"]
    assert len(to_owner) == 1 and CALLER in to_owner[0]["body"]
    assert "We texted them back" in to_owner[0]["body"]
    output = "\n".join(printed)
    assert "<Dial" in output and CALLER in output
    assert not stack.topic.received  # events went to devhost's topic, not elsewhere


async def test_a_calls_message_failing_five_times_lands_in_poison(stack, host):
    bad = {"call_sid": "not-a-call-sid", "to": BUSINESS, "source": "dial-status"}
    calls = await queues.get_queue(queues.CALLS_QUEUE)
    poison = await queues.get_queue(f"{queues.CALLS_QUEUE}-poison")
    await calls.send_message(json.dumps(bad))

    deadline = time.monotonic() + 30
    landed: list = []
    while time.monotonic() < deadline and not landed:
        landed = await poison.peek_messages(max_messages=5)
        await asyncio.sleep(0.2)
    assert len(landed) == 1, "the failing message never reached calls-poison"
    assert json.loads(landed[0].content) == bad
    assert (await calls.get_queue_properties()).approximate_message_count == 0
