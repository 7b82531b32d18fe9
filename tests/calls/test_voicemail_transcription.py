"""Transcription failures don't hold the owner up: a 500 or a timeout from the audio API leaves
the voicemail alerted without a transcript and the task retried (put again, delayed, after
commit); the transcript that a later attempt brings reaches the message and the owner once.
Twilio's own transcription (a TranscriptionReport) fills it the same way."""

from __future__ import annotations

import json

import pytest

from shared_code import contracts
from shared_code.calls import voicemail
from shared_code.platform.db import get_pool
from tests.calls.voicemail_helpers import (
    CALLER,
    drain_recordings,
    make_wav,
    missed_call,
    recorded_missed_call,
    recording_sid,
    report_body,
    run_task,
    voicemail_row,
)
from tests.fakes.openai_api import DEFAULT_TRANSCRIPT, Scripted
from tests.helpers import create_business, deliver_events, queued


@pytest.fixture
def transcribing(stack, configure, monkeypatch):
    configure(
        TRANSCRIPTION="openai",
        OPENAI_API_KEY=stack.openai.api_key,
        LINK_SIGNING_SECRET="test-link-secret",
        TRANSCRIPTION_TIMEOUT_SECONDS="1",
        TRANSCRIPTION_MAX_ATTEMPTS="3",
    )
    monkeypatch.setattr(voicemail, "RETRY_BASE_SECONDS", 0)  # the retry is visible at once


async def message_body(sid: str) -> str:
    pool = await get_pool()
    row = await voicemail_row(sid)
    return str(await pool.fetchval("SELECT body FROM messages WHERE id = $1", row["message_id"]))


async def alerts_for(stack, business) -> list[str]:
    """Deliver every voicemail event to notifications (twice: at least once) and return the
    owner's texts."""
    events = stack.topic.of_type(contracts.VoicemailReceived.type)
    await deliver_events("notifications", events, times=2)
    return [m["Body"] for m in stack.twilio.to(business.owner_phone)]


@pytest.mark.parametrize(
    "failure", [Scripted.http_error(500), Scripted.slow(5)], ids=["http-500", "timeout"]
)
async def test_a_failed_transcription_alerts_at_once_and_the_retry_follows_up(
    stack, transcribing, failure
):
    business, _ = await create_business(team_phones=[])
    call = await missed_call(business, conversation=True)
    sid = recording_sid()
    url = stack.twilio.add_recording(sid, make_wav())
    stack.openai.script_transcription(failure)

    await run_task(report_body(sid, call, url, duration=14))

    row = await voicemail_row(sid)
    assert row["alerted_at"] is not None and row["transcript"] is None
    assert row["transcription_status"] == "pending" and row["transcription_attempts"] == 1
    assert await message_body(sid) == "Voicemail (0:14), no transcript"
    (alert,) = await alerts_for(stack, business)
    assert "Transcript to follow." in alert and "/audio?e=" in alert
    # The task came back on the queue (after commit), for the next attempt.
    (retry,) = await queued(contracts.RECORDINGS_QUEUE)
    assert retry["recording_sid"] == sid and retry["kind"] == "recording"

    assert await drain_recordings() == 1  # the host delivers it: the default transcript now

    row = await voicemail_row(sid)
    assert row["transcription_status"] == "done" and row["transcript"] == DEFAULT_TRANSCRIPT
    assert row["transcription_attempts"] == 2
    assert await message_body(sid) == f"Voicemail (0:14): {DEFAULT_TRANSCRIPT}"
    alerts = [m["Body"] for m in stack.twilio.to(business.owner_phone)]
    assert len(alerts) == 2
    assert alerts[1].startswith(f"NeverMiss: voicemail from {CALLER} (0:14) said: ")
    assert DEFAULT_TRANSCRIPT in alerts[1] and "Reply #" in alerts[1]
    # The archive and the delete were not repeated; the charge is for the transcript made.
    assert len([r for r in stack.twilio.recording_requests if r[1].endswith(".wav")]) == 1
    assert stack.twilio.deleted_recordings == [sid]
    usage = [
        u
        for u in stack.topic.of_type(contracts.UsageRecorded.type)
        if u["data"]["kind"] == "transcription"
    ]
    assert len(usage) == 1
    # Redelivered again: nothing more (no attempt, no alert, nothing queued).
    await run_task(report_body(sid, call, url, duration=14))
    assert len(stack.openai.transcriptions) == 2
    assert len(await alerts_for(stack, business)) == 2
    assert await queued(contracts.RECORDINGS_QUEUE) == []


async def test_transcription_gives_up_after_the_last_attempt(stack, transcribing):
    business, call, sid, url = await recorded_missed_call(stack.twilio)
    stack.openai.script_transcription(*[Scripted.http_error(503)] * 3)

    await run_task(report_body(sid, call, url))
    assert await drain_recordings() == 2  # attempts 2 and 3, then no more

    row = await voicemail_row(sid)
    assert row["transcription_status"] == "failed" and row["transcription_attempts"] == 3
    assert await queued(contracts.RECORDINGS_QUEUE) == []
    assert len(await alerts_for(stack, business)) == 1  # the first, without a transcript
    assert not [
        u
        for u in stack.topic.of_type(contracts.UsageRecorded.type)
        if u["data"]["kind"] == "transcription"
    ]


async def test_a_refused_audio_is_not_retried(stack, transcribing):
    _, call, sid, url = await recorded_missed_call(stack.twilio)
    stack.openai.script_transcription(Scripted.http_error(400, "Invalid file format."))
    await run_task(report_body(sid, call, url))
    row = await voicemail_row(sid)
    assert row["transcription_status"] == "failed" and row["alerted_at"] is not None
    assert await queued(contracts.RECORDINGS_QUEUE) == []


async def test_twilio_transcription_fills_the_transcript_and_follows_up(stack, configure):
    configure(TRANSCRIPTION="twilio", LINK_SIGNING_SECRET="test-link-secret")
    business, call, sid, url = await recorded_missed_call(stack.twilio, conversation=True)

    await run_task(report_body(sid, call, url, duration=9))
    row = await voicemail_row(sid)
    assert row["transcription_status"] == "pending" and row["alerted_at"] is not None
    (first,) = await alerts_for(stack, business)
    assert "Transcript to follow." in first

    # Twilio transcribes the recording only while it is still there (warning 13618).
    assert stack.twilio.transcribe(sid, 9)
    transcript = contracts.TranscriptionReport(
        recording_sid=sid, call_sid=call, status="completed", text="Leak under the sink."
    )
    body = json.dumps(transcript.to_json()).encode()
    await run_task(body)
    await run_task(body)  # redelivered

    row = await voicemail_row(sid)
    assert row["transcription_status"] == "done" and row["transcript"] == "Leak under the sink."
    assert await message_body(sid) == "Voicemail (0:09): Leak under the sink."
    alerts = [m["Body"] for m in stack.twilio.to(business.owner_phone)]
    assert len(alerts) == 2 and '"Leak under the sink."' in alerts[1]
    assert stack.openai.transcriptions == []
    assert stack.twilio.deleted_recordings == [sid]  # once Twilio's transcript is in


async def test_a_lost_retry_is_queued_again_by_the_timer(stack, transcribing):
    """The retry's put failed after commit (here: the message is gone): the stalled sweep's
    timer finds the voicemail still owed a transcript and untouched, and queues it again."""
    from azure.functions.timer import TimerRequest

    from shared_code.platform import queues
    from tests.helpers import app_function

    _, call, sid, url = await recorded_missed_call(stack.twilio)
    stack.openai.script_transcription(Scripted.http_error(500))
    await run_task(report_body(sid, call, url))
    await (await queues.get_queue(contracts.RECORDINGS_QUEUE)).clear_messages()  # lost
    timer = app_function("voicemail_stalled")

    await timer(TimerRequest(past_due=False))
    assert await queued(contracts.RECORDINGS_QUEUE) == []  # not yet: a retry may still come

    pool = await get_pool()
    await pool.execute(
        "UPDATE voicemails SET lease_until = now() - interval '3 hours',"
        " received_at = now() - interval '3 hours' WHERE recording_sid = $1",
        sid,
    )
    await timer(TimerRequest(past_due=False))
    (again,) = await queued(contracts.RECORDINGS_QUEUE)
    assert again["recording_sid"] == sid and again["recording_url"] == url
    assert await drain_recordings() == 1
    row = await voicemail_row(sid)
    assert row["transcription_status"] == "done" and row["transcript"] == DEFAULT_TRANSCRIPT
