"""A newcomer's follow-up tour through the simulator, against the real app in devhost: a missed
call, the first follow-up fast-forwarded and seen in the sandbox, the owner marking the lead won
by SMS, and the funnel read back. Every wait polls with a timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devhost.host import Runner, start_host
from devhost.services import free_port
from devhost.simulate import register_business, simulate_sms
from devhost.simulate_call import simulate_call
from devhost.simulate_followups import show_funnel, simulate_followups

HOST_JSON = {"extensions": {"queues": {"maxDequeueCount": 5, "visibilityTimeout": "00:00:00"}}}
CALLER, BUSINESS, OWNER = "+14155550100", "+12125550143", "+12125550199"
WAIT = 30.0


@pytest.fixture
async def host(stack, configure) -> AsyncIterator[Runner]:
    import function_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    configure(
        TWILIO_ACCOUNT_SID="",  # no account: texts go to the sandbox devhost shows
        PUBLIC_BASE_URL=url,
        EVENTGRID_TOPIC_ENDPOINT=f"{url}/runtime/topic/api/events",
        VOICEMAIL_RETENTION_SCHEDULE="0 30 4 * * *",
        BURST_WINDOW_SECONDS="0",
        OPENAI_API_KEY="",
    )
    runner = await start_host(
        function_app, port, host_json=HOST_JSON, run_timers=False, event_retry_delays=(0.2,)
    )
    yield runner
    await runner.stop()


async def test_missed_call_follow_up_won_and_the_funnel_in_the_simulator(host):
    printed: list[str] = []
    assert await register_business(
        host.url, "Demo Plumbing", BUSINESS, OWNER, "America/New_York", out=printed.append
    )
    await simulate_call(host.url, CALLER, BUSINESS, "no-answer", 0, out=printed.append, wait=WAIT)

    texts = await simulate_followups(host.url, CALLER, out=printed.append, wait=WAIT)
    assert len(texts) == 1 and texts[0]["to_number"] == CALLER
    assert "again" in texts[0]["body"]
    assert any("step 1: sent" in line for line in printed)
    assert any("step 2: scheduled" in line for line in printed)

    owner_texts = await simulate_sms(
        host.url, OWNER, BUSINESS, "#1 won 450", out=printed.append, wait=WAIT
    )
    assert [t["body"] for t in owner_texts if t["to_number"] == OWNER] == [
        "#1 marked won ($450.00)."
    ]
    report = await show_funnel(host.url, CALLER, out=printed.append)
    total = report["total"]
    assert total["missed_calls"] == 1 and total["text_backs_sent"] == 1
    assert total["won"] == 1 and total["value_won_micro"] == 450_000_000
    assert any(line.strip().startswith("total:") for line in printed)
