"""The recordings processor end to end in process: the queued recording callback is archived to
Blob storage (Azurite), deleted at Twilio (the real `twilio` client against the local server,
basic auth checked), transcribed (the local OpenAI-speaking server, multipart), added to the
conversation, and put in front of the owner (the real notifications function) and the ledger
(the real usage logger), exactly once however often it is delivered."""

from __future__ import annotations

import asyncio

import pytest

from shared_code import contracts
from shared_code.platform import blobs
from shared_code.platform.db import get_pool
from shared_code.platform.sms_segments import count_segments
from tests.calls.voicemail_helpers import (
    CALLER,
    make_wav,
    missed_call,
    recording_sid,
    report_body,
    run_task,
    voicemail_row,
)
from tests.fakes.openai_api import DEFAULT_TRANSCRIPT
from tests.helpers import create_business, deliver_events


def transcription_usage(stack) -> list[dict]:
    usage = stack.topic.of_type(contracts.UsageRecorded.type)
    return [u for u in usage if u["data"]["kind"] == "transcription"]


@pytest.fixture
def transcribing(stack, configure):
    configure(
        TRANSCRIPTION="openai",
        OPENAI_API_KEY=stack.openai.api_key,
        LINK_SIGNING_SECRET="test-link-secret",
    )


async def test_a_voicemail_is_archived_deleted_transcribed_added_and_alerted(stack, transcribing):
    business, _ = await create_business()
    call = await missed_call(business, conversation=True)
    sid, audio = recording_sid(), make_wav(1.5)
    url = stack.twilio.add_recording(sid, audio)

    await run_task(report_body(sid, call, url, duration=14))

    # Read from Twilio with the account's credentials, then deleted there.
    assert ("GET", f"/2010-04-01/Accounts/{stack.twilio.account_sid}/Recordings/{sid}.wav") in (
        stack.twilio.recording_requests
    )
    assert stack.twilio.deleted_recordings == [sid]
    # Archived: the blob holds exactly the recording.
    name = f"{business.id}/{sid}.wav"
    assert await blobs.names() == [name]
    assert await blobs.download(name) == audio
    # Transcribed through the audio API, as a multipart upload of the WAV.
    (request,) = stack.openai.transcriptions
    assert request["model"] == "gpt-4o-mini-transcribe" and request["audio"] == audio
    assert request["filename"] == f"{sid}.wav" and request["content_type"] == "audio/wav"

    row = await voicemail_row(sid)
    assert row["archived_at"] and row["twilio_deleted_at"] and row["alerted_at"]
    assert row["transcription_status"] == "done" and row["transcript"] == DEFAULT_TRANSCRIPT
    assert row["size_bytes"] == len(audio) and row["lease_until"] is None
    pool = await get_pool()
    message = await pool.fetchrow("SELECT * FROM messages WHERE id = $1", row["message_id"])
    assert message["kind"] == "voicemail" and message["author"] == "customer"
    assert message["direction"] == "inbound"
    assert message["body"] == f"Voicemail (0:14): {DEFAULT_TRANSCRIPT}"
    call_row = await pool.fetchrow("SELECT * FROM calls WHERE call_sid = $1", call)
    assert message["conversation_id"] == call_row["conversation_id"] == row["conversation_id"]

    # The owner's alert, through the notifications function.
    (event,) = stack.topic.of_type(contracts.VoicemailReceived.type)
    assert event["data"]["transcript"] == DEFAULT_TRANSCRIPT
    await deliver_events("notifications", [event])
    (alert,) = stack.twilio.to(business.owner_phone)
    body = alert["Body"]
    assert body.startswith(f"NeverMiss: voicemail from {CALLER} at ")
    assert "(0:14)" in body and DEFAULT_TRANSCRIPT in body
    assert f"https://nevermiss.example.com/api/voicemails/{sid}/audio?e=" in body
    assert count_segments(body).segments <= 2

    # Priced into the ledger by the usage logger: 14 s at 3000 micro-USD a minute.
    (usage,) = transcription_usage(stack)
    assert usage["data"]["audio_seconds"] == 14 and usage["data"]["recording_sid"] == sid
    await deliver_events("usage_logger", [usage])
    charged = await pool.fetchrow("SELECT * FROM usage_events")
    assert charged["kind"] == "transcription" and charged["audio_seconds"] == 14
    assert charged["cost_micro"] == 700 and charged["priced_by"] == "transcription-rate"


async def test_the_same_recording_five_times_at_once_is_archived_alerted_and_charged_once(
    stack, transcribing
):
    business, _ = await create_business()
    call = await missed_call(business)
    sid, audio = recording_sid(), make_wav()
    url = stack.twilio.add_recording(sid, audio)
    body = report_body(sid, call, url)

    await asyncio.gather(*(run_task(body) for _ in range(5)))
    await asyncio.gather(*(run_task(body) for _ in range(5)))  # and five more, after

    downloads = [r for r in stack.twilio.recording_requests if r[1].endswith(".wav")]
    assert len(downloads) == 1 and stack.twilio.deleted_recordings == [sid]
    assert len(stack.openai.transcriptions) == 1
    assert await blobs.names() == [f"{business.id}/{sid}.wav"]
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM messages WHERE kind = 'voicemail'") == 1
    events = stack.topic.of_type(contracts.VoicemailReceived.type)
    await deliver_events("notifications", events, times=5)
    assert len(stack.twilio.to(business.owner_phone)) == 1
    usage = transcription_usage(stack)
    assert len(usage) == 1
    await deliver_events("usage_logger", usage, times=5)
    assert await pool.fetchval("SELECT count(*) FROM usage_events") == 1
    assert await pool.fetchval("SELECT count(*) FROM credit_ledger WHERE kind = 'usage'") == 1


async def test_a_recording_for_an_unknown_call_comes_back_and_changes_nothing(stack, transcribing):
    """Its call may not be recorded yet: the task comes back (delayed) instead of failing the
    host's few quick deliveries (tests/calls/test_voicemail_recovery.py follows it through)."""
    await create_business()
    sid = recording_sid()
    url = stack.twilio.add_recording(sid, make_wav())
    body = report_body(sid, "CA" + "0" * 32, url)
    for attempt in range(1, 6):  # the host's deliveries: none raises, none poisons
        await run_task(body, dequeue_count=attempt)
    assert stack.twilio.recording_requests == [] and stack.openai.transcriptions == []
    assert await blobs.names() == []
    assert await voicemail_row(sid) is None
    assert stack.topic.received == []
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM messages") == 0


async def test_the_host_sees_credentials_only_at_twilio(stack, transcribing):
    """The WAV is fetched from the configured API with basic auth, never from the callback's
    RecordingUrl (which anyone able to queue a message could point elsewhere)."""
    business, _ = await create_business()
    call = await missed_call(business)
    sid = recording_sid()
    stack.twilio.add_recording(sid, make_wav())
    await run_task(report_body(sid, call, "https://attacker.example/steal"))
    assert (await voicemail_row(sid))["archived_at"] is not None
    # The fake answers 401 without the account's basic auth: this GET carried it.
    assert stack.twilio.recording_requests[0] == (
        "GET",
        f"/2010-04-01/Accounts/{stack.twilio.account_sid}/Recordings/{sid}.wav",
    )


async def test_without_a_transcriber_the_owner_gets_the_voicemail_without_one(stack, configure):
    configure(TRANSCRIPTION="none", LINK_SIGNING_SECRET="")
    business, _ = await create_business()
    call = await missed_call(business)
    sid = recording_sid()
    url = stack.twilio.add_recording(sid, make_wav())
    await run_task(report_body(sid, call, url, duration=65))
    row = await voicemail_row(sid)
    assert row["transcription_status"] == "none" and stack.openai.transcriptions == []
    pool = await get_pool()
    body = await pool.fetchval("SELECT body FROM messages WHERE id = $1", row["message_id"])
    assert body == "Voicemail (1:05), no transcript"
    # The caller had no conversation: one was opened, and nothing was texted to them.
    assert stack.twilio.to(CALLER) == []
    await deliver_events("notifications", stack.topic.of_type(contracts.VoicemailReceived.type))
    (alert,) = stack.twilio.to(business.owner_phone)
    assert "No transcript." in alert["Body"] and "open the NeverMiss inbox or API" in alert["Body"]
    assert transcription_usage(stack) == []
