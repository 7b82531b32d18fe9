"""A voicemail survives what really happens around it: Twilio's own transcription needs the
recording kept until its transcript came (warning 13618) and transcribes only 2-120 s (13617);
an outage of Twilio, S3 or Blob storage longer than the host's quick redeliveries; a recording
whose call is not recorded yet; a task lost altogether (the stalled sweep rebuilds it from the
row, RecordingUrl included, on a frequent timer); and Twilio's transcript arriving before the
recording's own task (charged for the recording's real length)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from azure.functions.timer import TimerRequest

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
from tests.helpers import app_function, create_business, deliver_events, queued


@pytest.fixture
def twilio_transcribes(stack, configure):
    configure(TRANSCRIPTION="twilio", LINK_SIGNING_SECRET="test-link-secret")


@pytest.fixture
def no_transcriber(stack, configure, monkeypatch):
    configure(TRANSCRIPTION="none", LINK_SIGNING_SECRET="test-link-secret")
    monkeypatch.setattr(voicemail, "TRANSIENT_FIRST_SECONDS", 0)  # each return visible at once


def transcript_body(sid: str, call: str, text: str = "Leak under the sink.", ok: bool = True):
    report = contracts.TranscriptionReport(
        recording_sid=sid, call_sid=call, status="completed" if ok else "failed", text=text
    )
    return json.dumps(report.to_json()).encode()


def transcription_usage(stack) -> list[dict]:
    usage = stack.topic.of_type(contracts.UsageRecorded.type)
    return [u for u in usage if u["data"]["kind"] == "transcription"]


async def sweep() -> None:
    await app_function("voicemail_stalled")(TimerRequest(past_due=False))


async def age(sid: str, hours: int = 3) -> None:
    """The voicemail came `hours` ago and nothing has touched it since."""
    pool = await get_pool()
    await pool.execute(
        "UPDATE voicemails SET lease_until = NULL,"
        " received_at = now() - make_interval(hours => $2) WHERE recording_sid = $1",
        sid, hours,
    )  # fmt: skip


# --- Twilio's transcription ------------------------------------------------------------------


async def test_with_twilio_transcribing_the_recording_stays_until_its_transcript(
    stack, twilio_transcribes
):
    _, call, sid, url = await recorded_missed_call(stack.twilio, conversation=True)

    await run_task(report_body(sid, call, url, duration=9))
    row = await voicemail_row(sid)
    assert row["archived_at"] is not None and row["alerted_at"] is not None
    assert row["twilio_deleted_at"] is None and stack.twilio.deleted_recordings == []
    await run_task(report_body(sid, call, url, duration=9))  # a redelivery: still kept
    assert stack.twilio.deleted_recordings == []

    assert stack.twilio.transcribe(sid, 9)  # Twilio can: the recording is still there
    await run_task(transcript_body(sid, call))
    await run_task(transcript_body(sid, call))  # redelivered

    row = await voicemail_row(sid)
    assert row["transcript"] == "Leak under the sink." and row["twilio_deleted_at"] is not None
    assert stack.twilio.deleted_recordings == [sid]
    (usage,) = transcription_usage(stack)
    assert usage["data"]["audio_seconds"] == 9 and usage["data"]["model"] == "twilio"


async def test_a_failed_twilio_transcription_deletes_the_recording(stack, twilio_transcribes):
    _, call, sid, url = await recorded_missed_call(stack.twilio)
    await run_task(report_body(sid, call, url, duration=30))
    assert stack.twilio.deleted_recordings == []
    await run_task(transcript_body(sid, call, "", ok=False))
    row = await voicemail_row(sid)
    assert row["transcription_status"] == "failed" and stack.twilio.deleted_recordings == [sid]
    assert transcription_usage(stack) == []


async def test_a_recording_too_short_for_twilio_to_transcribe_is_deleted_at_once(
    stack, twilio_transcribes
):
    _, call, sid, url = await recorded_missed_call(stack.twilio)
    await run_task(report_body(sid, call, url, duration=1))
    assert not stack.twilio.transcribe(sid, 1)  # 13617: no transcript will come
    row = await voicemail_row(sid)
    assert row["transcription_status"] == "none" and stack.twilio.deleted_recordings == [sid]


async def test_a_twilio_transcript_that_never_comes_is_given_up_by_the_sweep(
    stack, twilio_transcribes
):
    """Archived and alerted, still at Twilio: the sweep (L5) queues it again after the wait,
    and the pass deletes the recording and marks the transcript failed."""
    _, call, sid, url = await recorded_missed_call(stack.twilio)
    await run_task(report_body(sid, call, url, duration=20))
    await sweep()
    assert await queued(contracts.RECORDINGS_QUEUE) == []  # not yet: Twilio may still send it

    await age(sid)
    await sweep()
    (again,) = await queued(contracts.RECORDINGS_QUEUE)
    assert again["recording_sid"] == sid and again["recording_url"] == url
    assert await drain_recordings() == 1
    row = await voicemail_row(sid)
    assert row["transcription_status"] == "failed" and stack.twilio.deleted_recordings == [sid]
    await sweep()
    assert await queued(contracts.RECORDINGS_QUEUE) == []  # done: nothing more to do


async def test_twilios_transcript_before_the_recording_task_is_charged_for_its_length(
    stack, twilio_transcribes
):
    _, call, sid, url = await recorded_missed_call(stack.twilio, conversation=True)
    assert stack.twilio.transcribe(sid)
    await run_task(transcript_body(sid, call))  # first: the row has no length yet
    assert transcription_usage(stack) == []
    assert stack.twilio.deleted_recordings == []  # not archived yet: ours is the only copy

    await run_task(report_body(sid, call, url, duration=14))
    await run_task(report_body(sid, call, url, duration=14))

    row = await voicemail_row(sid)
    assert row["duration_seconds"] == 14 and row["transcript"] == "Leak under the sink."
    assert stack.twilio.deleted_recordings == [sid]  # archived, and Twilio is done with it
    (usage,) = transcription_usage(stack)
    assert usage["data"]["audio_seconds"] == 14
    await deliver_events("usage_logger", [usage], times=2)
    pool = await get_pool()
    charged = await pool.fetchrow("SELECT * FROM usage_events")
    assert charged["audio_seconds"] == 14 and charged["cost_micro"] == 700
    assert await pool.fetchval("SELECT count(*) FROM usage_events") == 1


# --- outages -----------------------------------------------------------------------------------


async def test_an_outage_longer_than_the_hosts_redeliveries_loses_nothing(stack, no_transcriber):
    _, call, sid, url = await recorded_missed_call(stack.twilio)
    stack.twilio.fail_recordings = 7  # more failures than maxDequeueCount (5) deliveries

    await run_task(report_body(sid, call, url))  # returns: no exception for the host to count
    row = await voicemail_row(sid)
    assert row["archived_at"] is None and row["recording_url"] == url
    (again,) = await queued(contracts.RECORDINGS_QUEUE)
    assert again["recording_sid"] == sid and again["received_at"] is not None

    await drain_recordings()
    row = await voicemail_row(sid)
    assert row["archived_at"] is not None and row["alerted_at"] is not None
    assert stack.twilio.deleted_recordings == [sid]
    assert await queued(contracts.RECORDINGS_QUEUE) == []


async def test_past_the_window_an_outage_leaves_it_to_the_sweep_which_rebuilds_the_task(
    stack, no_transcriber, monkeypatch
):
    monkeypatch.setattr(voicemail, "TRANSIENT_WINDOW_SECONDS", 0)  # the hour is over
    _, call, sid, url = await recorded_missed_call(stack.twilio)
    stack.twilio.fail_recordings = 1

    await run_task(report_body(sid, call, url))
    assert await queued(contracts.RECORDINGS_QUEUE) == []
    await sweep()
    assert await queued(contracts.RECORDINGS_QUEUE) == []  # its quiet period has just begun

    await age(sid)
    await sweep()  # an unarchived row is taken too, rebuilt with its real RecordingUrl
    (again,) = await queued(contracts.RECORDINGS_QUEUE)
    assert again["recording_sid"] == sid and again["recording_url"] == url
    assert again["duration_seconds"] == 14
    assert await drain_recordings() == 1
    row = await voicemail_row(sid)
    assert row["archived_at"] is not None and row["alerted_at"] is not None
    assert stack.twilio.deleted_recordings == [sid]


def test_the_stalled_sweep_runs_on_the_frequent_timer() -> None:
    import function_app
    from devhost.catalog import get_functions_once

    triggers = {
        fn.get_function_name(): fn.get_trigger().get_dict_repr()
        for fn in get_functions_once(function_app.app)
    }
    assert triggers["voicemail_stalled"]["schedule"] == "%OUTBOX_SCHEDULE%"


async def test_a_recording_whose_call_is_not_recorded_yet_comes_back_for_it(stack, no_transcriber):
    """The recording's task ran before the call's: it comes back, and once the call is
    recorded (its text-back sent, its conversation open) the voicemail joins that thread."""
    business, _ = await create_business()
    call = "CA" + "1" * 32
    sid = recording_sid()
    url = stack.twilio.add_recording(sid, make_wav())

    await run_task(report_body(sid, call, url))
    assert stack.twilio.recording_requests == [] and await voicemail_row(sid) is None
    (again,) = await queued(contracts.RECORDINGS_QUEUE)
    assert again["recording_sid"] == sid

    await missed_call(business, conversation=True, sid=call)  # the calls task, now
    await drain_recordings()
    row = await voicemail_row(sid)
    assert row["alerted_at"] is not None and stack.twilio.deleted_recordings == [sid]
    pool = await get_pool()
    assert row["conversation_id"] == await pool.fetchval(
        "SELECT conversation_id FROM calls WHERE call_sid = $1", call
    )


async def test_a_recording_for_a_call_never_recorded_is_given_up_with_an_error(
    stack, no_transcriber, caplog
):
    await create_business()
    sid = recording_sid()
    url = stack.twilio.add_recording(sid, make_wav())
    came = datetime.now(UTC) - timedelta(minutes=11)
    with caplog.at_level(logging.ERROR, logger="shared_code.calls.voicemail"):
        await run_task(report_body(sid, "CA" + "0" * 32, url, received_at=came))
    assert any(sid in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert await queued(contracts.RECORDINGS_QUEUE) == []
    assert stack.twilio.recording_requests == [] and stack.twilio.deleted_recordings == []
    assert await voicemail_row(sid) is None and stack.topic.received == []


# --- the held text-back and the voicemail's conversation ---------------------------------------


def quiet_now(time_zone: str) -> dict[str, str]:
    from zoneinfo import ZoneInfo

    local = datetime.now(ZoneInfo(time_zone))
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    return {"QUIET_HOURS_START": start.strftime("%H:%M"), "QUIET_HOURS_END": end.strftime("%H:%M")}


def a_miss(business, sid: str) -> contracts.CallReport:
    return contracts.CallReport(
        call_sid=sid, from_number=CALLER, to_number=business.phone_number,
        source="dial-status", dial_status="no-answer", duration_seconds=0,
        greeting="text_morning",
    )  # fmt: skip


async def test_a_quiet_hours_miss_with_a_voicemail_gets_its_morning_text_in_that_thread(
    stack, no_transcriber, configure
):
    """The caller heard "we'll text you in the morning" and left a voicemail; the voicemail
    opened the conversation overnight. In the morning the text-back goes, once, into it."""
    from shared_code.calls.handler import handle_call_report

    business, _ = await create_business(time_zone="Asia/Kolkata")
    configure(**quiet_now("Asia/Kolkata"))
    call = "CA" + "2" * 32
    report = a_miss(business, call)
    assert (await handle_call_report(report)).status == "held"
    sid = recording_sid()
    await run_task(report_body(sid, call, stack.twilio.add_recording(sid, make_wav())))
    row = await voicemail_row(sid)
    pool = await get_pool()
    opened = await pool.fetchrow(
        "SELECT * FROM conversations WHERE id = $1", row["conversation_id"]
    )
    assert opened["origin_call_sid"] == call and stack.twilio.to(CALLER) == []

    # Morning.
    await pool.execute("UPDATE calls SET hold_until = now() - interval '1 second'")
    configure(QUIET_HOURS_START="00:00", QUIET_HOURS_END="00:00")
    assert (await handle_call_report(report)).status == "sent"
    assert (await handle_call_report(report)).status == "duplicate"
    assert len(stack.twilio.to(CALLER)) == 1
    assert await pool.fetchval("SELECT count(*) FROM conversations") == 1
    call_row = await pool.fetchrow("SELECT * FROM calls WHERE call_sid = $1", call)
    assert call_row["conversation_id"] == row["conversation_id"]
    kinds = await pool.fetch(
        "SELECT kind, author FROM messages WHERE conversation_id = $1 ORDER BY id",
        row["conversation_id"],
    )
    assert [(m["kind"], m["author"]) for m in kinds] == [
        ("voicemail", "customer"),
        ("text", "system"),
    ]


async def test_another_calls_open_conversation_still_suppresses_the_text_back(
    stack, no_transcriber
):
    """Only the call's own voicemail thread is adopted: a conversation another call (or a
    text) opened still means no second text-back."""
    from shared_code.calls.handler import handle_call_report

    business, _ = await create_business()
    first = "CA" + "3" * 32
    sid = recording_sid()
    await missed_call(business, sid=first)  # decided earlier, nothing sent
    await run_task(report_body(sid, first, stack.twilio.add_recording(sid, make_wav())))
    report = a_miss(business, "CA" + "4" * 32)
    assert (await handle_call_report(report)).status == "suppressed_open_conversation"
    assert stack.twilio.to(CALLER) == []
