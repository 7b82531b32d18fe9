"""Issue 13's "done when", through the simulator against the real app in devhost.

`simulate call --outcome voicemail` (the owner's carrier voicemail answers the whisper, nobody
presses 1) must still text the caller back and alert the owner; `--outcome no-answer
--leave-voicemail "my furnace is out"` must give the owner a voicemail alert whose listen link
plays the audio, with the recording archived in the local Blob container (Azurite) and deleted
from devhost's sandbox Twilio. No Twilio account: texts land in the SMS sandbox, the recording is
served by devhost's sandbox Twilio, events go through devhost's local topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import wave
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from devhost.host import Runner
from devhost.sandbox_twilio import recording_url
from devhost.simulate import DEFAULT_ACCOUNT_SID
from devhost.simulate_call import LISTEN_LINK, simulate_call, voicemail_blobs
from tests.devhost.hosting import BUSINESS, CALLER, OWNER, create_demo_business, start_devhost

WAIT = 45.0


@pytest.fixture
async def host(stack, configure) -> AsyncIterator[Runner]:
    # sandbox: texts stored, recordings from devhost's sandbox Twilio
    runner = await start_devhost(
        configure, LINK_SIGNING_SECRET="e2e-link-secret", TRANSCRIPTION="none"
    )
    await create_demo_business(runner.url, stack.admin_key)
    yield runner
    await settled(runner)
    await runner.stop()


async def settled(runner: Runner) -> None:
    """Let the app finish what the call started (queued tasks, event deliveries and the texts
    and usage they write) before the host stops and the next test truncates the tables."""
    from shared_code.contracts import RECORDINGS_QUEUE
    from shared_code.platform import queues

    deadline = time.monotonic() + WAIT
    for name in (queues.CALLS_QUEUE, queues.MESSAGES_QUEUE, RECORDINGS_QUEUE):
        client = await queues.get_queue(name)
        while (await client.get_queue_properties()).approximate_message_count:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    with contextlib.suppress(TimeoutError):
        await runner.dispatcher.drain(limit=10)
    await asyncio.sleep(0.5)  # work the last delivery deferred until after its commit


def bodies(texts: list[dict[str, Any]], number: str) -> list[str]:
    return [str(t["body"]) for t in texts if t["to_number"] == number]


async def test_carrier_voicemail_is_a_miss_with_text_back_and_alert(host: Runner) -> None:
    printed: list[str] = []
    texts = await simulate_call(
        host.url, CALLER, BUSINESS, "voicemail", out=printed.append, wait=WAIT
    )
    output = "\n".join(printed)
    assert "/api/voice/screen" in output and "DialBridged=false" in output, output
    assert len(bodies(texts, CALLER)) == 1 and "Demo Plumbing" in bodies(texts, CALLER)[0]
    assert len(bodies(texts, OWNER)) == 1 and CALLER in bodies(texts, OWNER)[0], output


async def test_voicemail_left_reaches_the_owner_with_a_working_listen_link(host: Runner) -> None:
    printed: list[str] = []
    texts = await simulate_call(
        host.url, CALLER, BUSINESS, "no-answer",
        leave_voicemail_words="my furnace is out", out=printed.append, wait=WAIT,
    )  # fmt: skip
    output = "\n".join(printed)
    alerts = [b for b in bodies(texts, OWNER) if LISTEN_LINK.search(b)]
    assert len(alerts) == 1, output
    assert len(bodies(texts, CALLER)) == 1, output  # the text-back, once
    link = LISTEN_LINK.search(alerts[0])
    assert link is not None
    path = link.group(0).rstrip(".,)").split("/api/", 1)[1]
    recording_sid = path.split("/")[1]
    recording = recording_url(host.url, DEFAULT_ACCOUNT_SID, recording_sid)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{host.url}/api/{path}") as resp:
            assert resp.status == 200, output
            audio = await resp.read()
        with wave.open(io.BytesIO(audio), "rb") as wav:
            assert wav.getnframes() > 0
        async with session.get(recording + ".json") as resp:
            assert resp.status == 404, "the recording is still in the sandbox Twilio"
    assert "gone from the sandbox Twilio" in output, output
    assert await voicemail_blobs(recording_sid), "no blob for the recording in the container"
    assert "the listen link: HTTP 200" in output, output


async def test_twilio_transcription_reaches_the_owner_alert(host: Runner, configure) -> None:
    """The simulator posts Twilio's transcription once the app has archived the recording, and
    only if it is still at the sandbox Twilio (Twilio can't transcribe a deleted recording):
    the app keeps it there until the transcript came, then deletes it."""
    configure(TRANSCRIPTION="twilio")  # <Record transcribe>: the simulator posts Twilio's text
    printed: list[str] = []
    texts = await simulate_call(
        host.url, CALLER, BUSINESS, "declined",
        leave_voicemail_words="my furnace is out", out=printed.append, wait=WAIT,
    )  # fmt: skip
    output = "\n".join(printed)
    assert "transcribeCallback" in output and "(Twilio's transcription)" in output, output
    alerts = [b for b in bodies(texts, OWNER) if LISTEN_LINK.search(b)]
    assert len(alerts) == 1, output
    # In the alert (the transcript came first) or in the second text after it.
    assert any("my furnace is out" in b for b in bodies(texts, OWNER)), output
    assert "gone from the sandbox Twilio" in output, output
