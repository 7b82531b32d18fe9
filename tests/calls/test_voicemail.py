"""A missed caller's greeting and voicemail, through the voice webhooks: the greeting promises a
text only when one will go, the `<Record>` hands Twilio the recording callbacks, and the
recording and transcript callbacks are queued on the real `recordings` queue once each."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared_code.businesses.hours import DAYS
from shared_code.calls.handler import handle_call_report
from shared_code.contracts import (
    RECORDINGS_QUEUE,
    CallReport,
    RecordingReport,
    TranscriptionReport,
)
from shared_code.platform.db import get_pool
from tests.calls import voice
from tests.faults import ACK_SECONDS, database_hung
from tests.helpers import create_business, drain_calls_queue, queued

CALLER = voice.CALLER
BASE = "https://nevermiss.example.com"
OVERRIDES = "#rc=3&rp=ct,rt,5xx&ct=2000&rt=5000"
PROMISE = "We'll text you"


async def missed(business, caller: str = CALLER, status: str = "no-answer"):
    """The owner's leg was not picked up: what the caller hears, and the queued report."""
    parent = voice.sid()
    params = voice.dial_ended(parent, business.phone_number, status, caller=caller)
    response = await voice.call("/api/voice/dial-status", params)
    assert response.status_code == 200
    [report] = [r for r in await queued() if r["call_sid"] == parent]
    return response, report


def greeting_said(response) -> str:
    root = voice.twiml(response)
    assert [child.tag for child in root] == ["Say", "Say", "Record", "Hangup"]
    says = root.findall("Say")
    assert says[1].text == "Leave a message after the tone."
    return says[0].text or ""


async def set_contact(business, phone: str, **columns) -> None:
    pool = await get_pool()
    await pool.execute(
        "INSERT INTO contacts (business_id, phone) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        business.id, phone,
    )  # fmt: skip
    for column, value in columns.items():
        await pool.execute(
            f"UPDATE contacts SET {column} = $3 WHERE business_id = $1 AND phone = $2",
            business.id, phone, value,
        )  # fmt: skip


def closed_now(time_zone: str) -> dict[str, list[list[str]]]:
    """Open only on a day that is neither today nor tomorrow in `time_zone`."""
    today = datetime.now(ZoneInfo(time_zone)).weekday()
    return {DAYS[(today + 3) % 7]: [["09:00", "17:00"]]}


def quiet_now(time_zone: str) -> dict[str, str]:
    local = datetime.now(ZoneInfo(time_zone))
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    return {"QUIET_HOURS_START": start.strftime("%H:%M"), "QUIET_HOURS_END": end.strftime("%H:%M")}


# --- the greeting ----------------------------------------------------------------------------


async def test_the_voicemail_twiml_records_and_reports_the_recording(stack):
    business, _ = await create_business()
    response, report = await missed(business)
    assert greeting_said(response) == (
        "Sorry, Acme Plumbing can't take your call right now. We'll text you in a moment."
    )
    assert report["greeting"] == "text_soon"
    record = voice.twiml(response).find("Record")
    assert record is not None
    assert record.attrib == {
        "maxLength": "120",
        "playBeep": "true",
        "timeout": "5",
        "action": f"{BASE}/api/voice/voicemail-done{OVERRIDES}",
        "method": "POST",
        "recordingStatusCallback": f"{BASE}/api/voice/recording{OVERRIDES}",
        "recordingStatusCallbackMethod": "POST",
        "recordingStatusCallbackEvent": "completed",
    }


async def test_with_twilio_transcribing_the_record_asks_for_the_transcript(stack, configure):
    configure(TRANSCRIPTION="twilio", VOICEMAIL_MAX_SECONDS="60")
    business, _ = await create_business()
    response, _ = await missed(business)
    record = voice.twiml(response).find("Record")
    assert record is not None
    assert record.attrib["maxLength"] == "60" and record.attrib["transcribe"] == "true"
    assert record.attrib["transcribeCallback"] == f"{BASE}/api/voice/transcription{OVERRIDES}"


@pytest.mark.parametrize(
    ("contact", "block"),
    [
        ({"opted_out_at": datetime.now(UTC)}, "opted out"),
        ({"is_landline": True}, "landline"),
        ({"undeliverable_at": datetime.now(UTC)}, "undeliverable"),
    ],
    ids=["opted-out", "landline", "undeliverable"],
)
async def test_a_caller_who_will_not_be_texted_is_promised_nothing(stack, contact, block):
    business, _ = await create_business()
    await set_contact(business, CALLER, **contact)
    response, report = await missed(business)
    said = greeting_said(response)
    assert said == "Sorry, Acme Plumbing can't take your call right now.", block
    assert PROMISE not in said and report["greeting"] == "no_text"


async def test_a_blocked_caller_is_promised_nothing(stack):
    business, _ = await create_business(blocked_numbers=[CALLER])
    response, report = await missed(business)
    assert PROMISE not in greeting_said(response) and report["greeting"] == "no_text"


async def test_an_anonymous_caller_is_promised_nothing(stack):
    business, _ = await create_business()
    response, report = await missed(business, caller="Anonymous")
    assert PROMISE not in greeting_said(response) and report["greeting"] == "no_text"


async def test_a_caller_in_an_open_conversation_is_promised_nothing(stack):
    business, _ = await create_business()
    await missed(business)
    await drain_calls_queue()  # texted back: the conversation is open
    assert len(stack.twilio.to(CALLER)) == 1
    response, report = await missed(business)
    assert PROMISE not in greeting_said(response) and report["greeting"] == "no_text"


async def test_a_repeat_caller_within_the_cooldown_is_promised_nothing(stack):
    """Texted back, the conversation closed since, calls again within TEXT_BACK_COOLDOWN_HOURS:
    the handler suppresses the text-back (cooldown), so the greeting must not promise one."""
    business, _ = await create_business()
    await missed(business)
    await drain_calls_queue()
    assert len(stack.twilio.to(CALLER)) == 1
    pool = await get_pool()
    await pool.execute("UPDATE conversations SET status = 'closed', closed_at = now()")
    response, report = await missed(business)
    assert PROMISE not in greeting_said(response) and report["greeting"] == "no_text"
    await drain_calls_queue()
    assert len(stack.twilio.to(CALLER)) == 1  # and indeed no second text went
    # The cooldown over (the last text-back a day and more ago): the promise is back.
    await pool.execute("UPDATE contacts SET last_text_back_at = now() - interval '25 hours'")
    response, report = await missed(business)
    assert report["greeting"] == "text_soon" and PROMISE in greeting_said(response)


async def test_with_twilio_transcribing_the_message_is_cut_at_119_seconds(stack, configure):
    """Twilio transcribes recordings of 2-120 s only (warning 13617): a longer maximum would
    leave long messages without a transcript."""
    configure(TRANSCRIPTION="twilio", VOICEMAIL_MAX_SECONDS="300")
    business, _ = await create_business()
    response, _ = await missed(business)
    record = voice.twiml(response).find("Record")
    assert record is not None and record.attrib["maxLength"] == "119"
    configure(TRANSCRIPTION="none")
    response, _ = await missed(business)
    record = voice.twiml(response).find("Record")
    assert record is not None and record.attrib["maxLength"] == "300"


async def test_in_quiet_hours_the_text_is_promised_for_the_morning(stack, configure):
    business, _ = await create_business(time_zone="Asia/Kolkata")
    configure(**quiet_now("Asia/Kolkata"))
    response, report = await missed(business)
    assert greeting_said(response) == (
        "Sorry, Acme Plumbing can't take your call right now. We'll text you in the morning."
    )
    assert report["greeting"] == "text_morning"


async def test_after_hours_in_quiet_hours_the_after_hours_template_says_morning(stack, configure):
    zone = "Asia/Kolkata"
    business, _ = await create_business(
        time_zone=zone, weekly_hours=closed_now(zone),
        templates={"after_hours_greeting": "{business_name} is closed. {text_note}"},
    )  # fmt: skip
    configure(**quiet_now(zone))
    parent = voice.sid()
    response = await voice.call(
        "/api/voice/incoming", voice.incoming(parent, business.phone_number)
    )
    assert greeting_said(response) == "Acme Plumbing is closed. We'll text you in the morning."
    [report] = await queued()
    assert report["source"] == "after-hours" and report["greeting"] == "text_morning"


async def test_with_postgresql_hung_a_miss_is_greeted_promising_nothing_within_two_seconds(
    stack, services
):
    business, _ = await create_business()
    await voice.call("/api/voice/incoming", voice.incoming(voice.sid(), business.phone_number))
    parent = voice.sid()
    params = voice.dial_ended(parent, business.phone_number, "completed", duration=30)
    with database_hung(services):
        started = time.monotonic()
        response = await voice.call("/api/voice/dial-status", params)
        waited = time.monotonic() - started
    assert response.status_code == 200 and waited < ACK_SECONDS
    # The leg's acceptance could not be read and DialBridged=false: not accepted, a miss.
    assert greeting_said(response) == "Sorry, Acme Plumbing can't take your call right now."
    [report] = await queued()
    assert report["call_sid"] == parent and report["greeting"] == "no_text"
    assert report["accepted"] is False


def _version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


async def test_the_consent_names_the_greeting_heard_and_none_when_no_text_was_promised(stack):
    zone = "Asia/Kolkata"
    business, _ = await create_business(time_zone=zone, weekly_hours=closed_now(zone))
    response = await voice.call(
        "/api/voice/incoming", voice.incoming(voice.sid(), business.phone_number)
    )
    heard = greeting_said(response)
    assert heard.startswith("Thanks for calling Acme Plumbing. We're closed right now.")
    await drain_calls_queue()
    assert len(stack.twilio.to(CALLER)) == 1
    pool = await get_pool()
    consent = await pool.fetchrow("SELECT * FROM text_back_consents")
    assert consent["greeting_version"] == _version(heard)

    # The webhook could not promise a text (facts unknown), yet one went: no greeting version.
    other = "+13125550177"
    report = CallReport(
        call_sid=voice.sid(), from_number=other, to_number=business.phone_number,
        source="dial-status", dial_status="no-answer", greeting="no_text",
    )  # fmt: skip
    assert (await handle_call_report(report)).status == "sent"
    row = await pool.fetchrow("SELECT * FROM text_back_consents WHERE caller = $1", other)
    assert row["greeting_version"] is None


# --- the voicemail's webhooks ------------------------------------------------------------------


async def test_the_record_action_says_goodbye(stack):
    params = {**voice.recording_done(voice.sid(), voice.sid("RE")), "Digits": "hangup"}
    response = await voice.call("/api/voice/voicemail-done", params)
    root = voice.twiml(response)
    assert [(c.tag, c.text) for c in root] == [("Say", "Thank you. Goodbye."), ("Hangup", None)]


async def test_five_concurrent_deliveries_of_a_recording_queue_one_report(stack):
    call, recording = voice.sid(), voice.sid("RE")
    params = voice.recording_done(call, recording, seconds=14)
    responses = await asyncio.gather(
        *(voice.call("/api/voice/recording", params) for _ in range(5))
    )
    assert [r.status_code for r in responses] == [200] * 5
    [message] = await queued(RECORDINGS_QUEUE)
    report = RecordingReport.model_validate(message)
    assert (report.recording_sid, report.call_sid) == (recording, call)
    assert report.recording_url == params["RecordingUrl"] and report.duration_seconds == 14
    assert report.received_at is not None
    assert await queued() == []  # nothing on `calls`


@pytest.mark.parametrize("status", ["absent", "failed", "in-progress", ""])
async def test_a_recording_that_is_not_completed_is_not_queued(stack, status):
    params = voice.recording_done(voice.sid(), voice.sid("RE"), status=status)
    response = await voice.call("/api/voice/recording", params)
    assert response.status_code == 200 and voice.twiml(response).tag == "Response"
    assert await queued(RECORDINGS_QUEUE) == []


@pytest.mark.parametrize("path", ["/api/voice/recording", "/api/voice/transcription"])
async def test_unsigned_recording_callbacks_are_refused_and_queue_nothing(stack, path):
    call, recording = voice.sid(), voice.sid("RE")
    params = {**voice.recording_done(call, recording), **voice.transcribed(call, recording, "hi")}
    for signature in ("", "c2lnbmF0dXJl"):
        response = await voice.post_request(path, voice.request(path, params, signature=signature))
        assert response.status_code == 403 and voice.twiml(response).tag == "Response"
    assert await queued(RECORDINGS_QUEUE) == []


async def test_twilios_transcript_is_queued_once(stack):
    call, recording = voice.sid(), voice.sid("RE")
    params = voice.transcribed(call, recording, "My furnace is out, please call back.")
    for _ in range(3):
        assert (await voice.call("/api/voice/transcription", params)).status_code == 200
    [message] = await queued(RECORDINGS_QUEUE)
    report = TranscriptionReport.model_validate(message)
    assert (report.recording_sid, report.call_sid, report.status) == (recording, call, "completed")
    assert report.text == "My furnace is out, please call back."


async def test_a_failed_transcription_is_queued_and_one_in_progress_is_not(stack):
    call = voice.sid()
    failed, pending = voice.sid("RE"), voice.sid("RE")
    await voice.call("/api/voice/transcription", voice.transcribed(call, failed, "", "failed"))
    await voice.call(
        "/api/voice/transcription", voice.transcribed(call, pending, "", "in-progress")
    )
    [message] = await queued(RECORDINGS_QUEUE)
    assert (message["recording_sid"], message["status"]) == (failed, "failed")
