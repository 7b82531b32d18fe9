"""The newcomer's path: the real app in devhost, the simulator playing Twilio, texts in the
sandbox, events through devhost's local topic; and a bad `calls` message ending in poison."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from devhost.host import Runner, start_host
from devhost.services import free_port
from devhost.simulate_call import simulate_call
from shared_code.platform import queues

HOST_JSON = {"extensions": {"queues": {"maxDequeueCount": 5, "visibilityTimeout": "00:00:00"}}}
CALLER, BUSINESS, OWNER = "+14155550100", "+12125550143", "+12125550199"


@pytest.fixture
async def host(stack, configure) -> AsyncIterator[Runner]:
    import function_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    configure(
        TWILIO_ACCOUNT_SID="",  # no account: texts go to the sandbox devhost shows
        PUBLIC_BASE_URL=url,
        EVENTGRID_TOPIC_ENDPOINT=f"{url}/runtime/topic/api/events",
        VOICEMAIL_RETENTION_SCHEDULE="0 30 4 * * *",  # the retention timer's %setting%
    )
    runner = await start_host(
        function_app, port, host_json=HOST_JSON, run_timers=False, event_retry_delays=(0.2,)
    )
    yield runner
    await runner.stop()


async def test_simulated_missed_call_texts_the_caller_and_alerts_the_owner(stack, host):
    async with aiohttp.ClientSession() as session:
        created = await session.post(
            f"{host.url}/api/v1/businesses",
            headers={"Authorization": f"Bearer {stack.admin_key}"},
            json={
                "name": "Demo Plumbing",
                "phone_number": BUSINESS,
                "owner_phone": OWNER,
                "time_zone": "America/Chicago",
            },
        )
        assert created.status == 201, await created.text()

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
