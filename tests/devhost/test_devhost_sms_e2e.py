"""A newcomer's whole conversation through the simulator, against the real app in devhost.

Missed call, text-back, scripted intake answers, the owner taking over by SMS ("#<ref> ...") and
releasing, then the transcript view showing all of it in order. Texts go to the SMS sandbox
(no Twilio account); events go through devhost's own local topic to the real notifications
function. Every wait polls with a timeout: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from devhost.host import Runner
from devhost.simulate import fetch_transcript, show_transcript, simulate_sms
from devhost.simulate_call import simulate_call
from shared_code.platform import queues
from tests.devhost.hosting import BUSINESS, CALLER, OWNER, create_demo_business, start_devhost

WAIT = 30.0
CUSTOMER_TEXTS = ("My kitchen sink is leaking", "I'm Dana Reyes", "1234 Oak Street, 60614")


@pytest.fixture
async def host(stack, configure) -> AsyncIterator[Runner]:
    runner = await start_devhost(
        configure,
        BURST_WINDOW_SECONDS="0",
        OPENAI_API_KEY="",  # the scripted intake answers
    )
    yield runner
    await runner.stop()


async def settled() -> None:
    """Wait until the `messages` queue is empty: every task received, run and deleted (the
    approximate count includes messages being processed, which are only invisible)."""
    client = await queues.get_queue(queues.MESSAGES_QUEUE)
    deadline = time.monotonic() + WAIT
    while (await client.get_queue_properties()).approximate_message_count:
        assert time.monotonic() < deadline, "the messages queue never drained"
        await asyncio.sleep(0.1)


def to(texts: list[dict[str, Any]], number: str) -> list[str]:
    return [t["body"] for t in texts if t["to_number"] == number]


async def customer_says(host: Runner, body: str, printed: list[str]) -> list[dict[str, Any]]:
    texts = await simulate_sms(host.url, CALLER, BUSINESS, body, out=printed.append, wait=WAIT)
    await settled()
    return texts


async def owner_says(host: Runner, body: str, printed: list[str]) -> list[dict[str, Any]]:
    texts = await simulate_sms(host.url, OWNER, BUSINESS, body, out=printed.append, wait=WAIT)
    await settled()
    return texts


async def test_newcomer_conversation_with_owner_takeover_and_transcript(stack, host):
    await create_demo_business(host.url, stack.admin_key)

    printed: list[str] = []
    # 1. The missed call: the caller gets the text-back, the owner an alert naming the ref.
    texts = await simulate_call(
        host.url, CALLER, BUSINESS, "no-answer", out=printed.append, wait=WAIT
    )
    text_back = to(texts, CALLER)
    assert len(text_back) == 1 and "Demo Plumbing" in text_back[0]
    await settled()

    async with aiohttp.ClientSession() as session:
        transcript = await fetch_transcript(session, host.url, CALLER)
    ref = transcript["conversations"][0]["ref"]
    assert isinstance(ref, int)

    # 2. The customer answers a few times; the scripted intake answers every text.
    intake_replies = []
    for body in CUSTOMER_TEXTS:
        texts = await customer_says(host, body, printed)
        replies = to(texts, CALLER)
        assert len(replies) == 1, (body, texts)
        assert replies[0].strip() and not replies[0].startswith(f"#{ref}")
        intake_replies.append(replies[0])
    assert len(set(intake_replies)) == len(intake_replies), "the intake repeated itself"

    # 3. The owner takes over by SMS: the customer receives the owner's words.
    texts = await owner_says(host, f"#{ref} On my way, be there in 20", printed)
    assert to(texts, CALLER) == ["On my way, be there in 20"]

    # 4. The customer's next text goes to the owner; the assistant stays quiet.
    texts = await customer_says(host, "Great, the side door is open", printed)
    relayed = to(texts, OWNER)
    assert len(relayed) == 1 and "Great, the side door is open" in relayed[0]
    assert f"#{ref}" in relayed[0] and CALLER in relayed[0]
    assert to(texts, CALLER) == []
    async with aiohttp.ClientSession() as session:
        transcript = await fetch_transcript(session, host.url, CALLER)
    assert transcript["conversations"][0]["mode"] == "owner"
    assert transcript["conversations"][0]["messages"][-1]["author"] == "customer"

    # 5. The owner hands back; the customer's next text gets an assistant reply again.
    texts = await owner_says(host, f"#{ref} release", printed)
    assert any("assistant" in body for body in to(texts, OWNER)), texts
    texts = await customer_says(host, "Tomorrow morning works, not urgent", printed)
    after_release = to(texts, CALLER)
    assert after_release and all(not body.startswith("#") for body in after_release)

    # 6. The transcript shows all of it, in order.
    lines: list[str] = []
    transcript = await show_transcript(host.url, CALLER, out=lines.append)
    (conversation,) = transcript["conversations"]
    assert conversation["ref"] == ref and conversation["mode"] == "assistant"
    messages = conversation["messages"]
    authored = [(m["author"], m["body"]) for m in messages]
    assert authored[0] == ("system", text_back[0])
    customer = [body for author, body in authored if author == "customer"]
    assert customer == [
        *CUSTOMER_TEXTS,
        "Great, the side door is open",
        "Tomorrow morning works, not urgent",
    ]
    # Each intake text is followed by its answer; then the owner's text, then the relayed one.
    expected_prefix = [("system", text_back[0])]
    for body, reply in zip(CUSTOMER_TEXTS, intake_replies, strict=True):
        expected_prefix += [("customer", body), ("assistant", reply)]
    expected_prefix += [
        ("owner", "On my way, be there in 20"),
        ("customer", "Great, the side door is open"),
    ]
    assert authored[: len(expected_prefix)] == expected_prefix
    # After the release the assistant answers again (the relayed text, if it chose to, and the
    # new one); the conversation ends with the assistant's answer to the last text.
    rest = authored[len(expected_prefix) :]
    assert ("customer", "Tomorrow morning works, not urgent") in rest
    assert rest[-1][0] == "assistant" and rest[-1][1] == after_release[-1]
    assert all(author in ("customer", "assistant") for author, _ in rest)
    times = [m["at"] for m in messages]
    assert times == sorted(times)

    # The printed transcript reads the same, line by line in that order.
    output = "\n".join(lines)
    assert f"conversation #{ref} with {CALLER}" in output
    cursor = 0
    for _, body in authored:
        cursor = output.index(" ".join(body.split()), cursor)  # ValueError if out of order
    assert "owner      On my way, be there in 20" in output


async def test_transcript_route_rejects_a_bad_phone_and_knows_no_strangers(stack, host):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{host.url}/sandbox/transcript", params={"phone": "x"}) as resp:
            assert resp.status == 400
        unknown = await fetch_transcript(session, host.url, "+14155550199")
    assert unknown == {"phone": "+14155550199", "conversations": []}
    lines: list[str] = []
    await show_transcript(host.url, "+14155550199", out=lines.append)
    assert lines == ["── no conversation with +14155550199 yet"]
