"""Each way a rung call ends, played as Twilio plays it, through the webhooks, the `calls` queue
and the handler: what the caller hears after the ringing, how the call is recorded, and whether
the caller gets a text-back and the owner an alert.

Twilio's real parameter sets only: the `<Dial action>` carries DialCallStatus, DialCallSid,
DialCallDuration and DialBridged, never AnsweredBy. The owner's carrier voicemail (or a
Decline, which sends the leg there) "completes" like a person; only the leg's human check tells
them apart. Answering-machine detection may report after the Dial ended: the call is then revised
to a miss, and the caller and the owner still hear once.
"""

from __future__ import annotations

import asyncio

import pytest

from shared_code import contracts
from shared_code.calls import handler
from shared_code.calls.handler import handle_call_report
from shared_code.contracts import CallReport
from shared_code.platform.db import get_pool
from tests.calls import voice
from tests.helpers import create_business, deliver_events, drain_calls_queue, queued

CALLER, OWNER = voice.CALLER, "+14155550100"


async def ring(business) -> tuple[str, str]:
    """A caller rings the business: its CallSid, and the URL on the owner's `<Number>`."""
    parent = voice.sid()
    response = await voice.call(
        "/api/voice/incoming", voice.incoming(parent, business.phone_number)
    )
    number = next(voice.twiml(response).iter("Number"))  # the owner's, first
    return parent, number.attrib.get("url") or number.attrib.get("amdStatusCallback") or ""


async def dial_ended(business, parent: str, status: str, **leg):
    response = await voice.call(
        "/api/voice/dial-status", voice.dial_ended(parent, business.phone_number, status, **leg)
    )
    assert response.status_code == 200
    return response


def hears_voicemail(response) -> bool:
    root = voice.twiml(response)
    return [child.tag for child in root] == ["Say", "Say", "Record", "Hangup"]


def hangs_up(response) -> bool:
    return [child.tag for child in voice.twiml(response)] == ["Hangup"]


async def call_row(sid: str):
    pool = await get_pool()
    return await pool.fetchrow("SELECT * FROM calls WHERE call_sid = $1", sid)


async def alerts_delivered(stack, business) -> int:
    """Deliver every `call.missed` event to the notifications function (three times each, as
    Event Grid may); the owner's alerts sent."""
    await deliver_events("notifications", stack.topic.of_type(contracts.CallMissed.type), times=3)
    return len(stack.twilio.to(business.owner_phone))


async def assert_missed_once(stack, business, parent: str, reason: str) -> None:
    row = await call_row(parent)
    assert row["missed"] and row["miss_reason"] == reason
    assert row["text_back_status"] == "sent"
    assert len(stack.twilio.to(CALLER)) == 1
    [event] = stack.topic.of_type(contracts.CallMissed.type)
    assert event["data"]["reason"] == reason
    assert await alerts_delivered(stack, business) == 1


async def assert_answered(stack, parent: str) -> None:
    row = await call_row(parent)
    assert not row["missed"] and row["miss_reason"] == "answered"
    assert row["text_back_status"] == "not_missed"
    assert stack.twilio.sent == [] and stack.topic.received == []


# --- press 1 (the default) ---------------------------------------------------------------------


async def test_the_owner_presses_1_the_call_is_answered_and_nobody_is_texted(stack):
    business, _ = await create_business()
    parent, whisper = await ring(business)
    leg = voice.sid()
    gather = voice.twiml(await voice.follow(whisper, voice.leg(leg, parent, OWNER))).find("Gather")
    assert gather is not None
    await voice.follow(gather.attrib["action"], voice.pressed(leg, parent, OWNER, "1"))
    ended = await dial_ended(business, parent, "completed", leg_sid=leg, duration=95, bridged=True)
    assert hangs_up(ended)
    [report] = await queued()
    assert report["answer_check"] == "press_key" and report["accepted"] is True
    assert report["leg_sid"] == leg and report["greeting"] is None
    assert "answered_by" not in report or report["answered_by"] is None
    assert await drain_calls_queue() == 1
    await assert_answered(stack, parent)
    row = await call_row(parent)
    assert (row["answer_check"], row["accepted"], row["leg_sid"]) == ("press_key", True, leg)


async def test_an_acceptance_on_record_answers_the_call_even_without_dial_bridged(stack):
    """The leg's recorded acceptance decides; DialBridged only stands in when it can't be read."""
    business, _ = await create_business()
    parent, whisper = await ring(business)
    leg = voice.sid()
    gather = voice.twiml(await voice.follow(whisper, voice.leg(leg, parent, OWNER))).find("Gather")
    assert gather is not None
    await voice.follow(gather.attrib["action"], voice.pressed(leg, parent, OWNER, "1"))
    params = voice.dial_ended(parent, business.phone_number, "completed", leg_sid=leg, duration=60)
    del params["DialBridged"]
    assert hangs_up(await voice.call("/api/voice/dial-status", params))
    await drain_calls_queue()
    await assert_answered(stack, parent)


@pytest.mark.parametrize(
    "duration", [25, 3], ids=["carrier-voicemail-took-the-whisper", "declined-to-voicemail"]
)
async def test_a_leg_that_completed_without_a_key_is_a_miss_not_accepted(stack, duration):
    business, _ = await create_business()
    parent, whisper = await ring(business)
    leg = voice.sid()
    await voice.follow(whisper, voice.leg(leg, parent, OWNER))  # the voicemail hears the whisper
    ended = await dial_ended(business, parent, "completed", leg_sid=leg, duration=duration)
    assert hears_voicemail(ended)
    assert voice.spoken(ended) == (
        "Sorry, Acme Plumbing can't take your call right now. We'll text you in a moment."
        " Leave a message after the tone."
    )
    [report] = await queued()
    assert report["accepted"] is False and report["greeting"] == "text_soon"
    await drain_calls_queue()
    await assert_missed_once(stack, business, parent, "not_accepted")
    row = await call_row(parent)
    assert (row["accepted"], row["greeting"]) == (False, "text_soon")


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "canceled"])
async def test_a_leg_nobody_picked_up_is_a_miss_with_its_status(stack, status):
    business, _ = await create_business()
    parent, _ = await ring(business)
    ended = await dial_ended(business, parent, status)
    assert hears_voicemail(ended)
    await drain_calls_queue()
    await assert_missed_once(stack, business, parent, status)


# --- answering-machine detection ---------------------------------------------------------------


async def test_amd_a_machine_before_the_dial_ends_is_a_miss_machine(stack):
    business, _ = await create_business(answer_check="amd")
    parent, callback = await ring(business)
    leg = voice.sid()
    await voice.follow(callback, voice.amd_verdict(leg, "machine_end_beep"))
    ended = await dial_ended(business, parent, "completed", leg_sid=leg, duration=31, bridged=True)
    assert hears_voicemail(ended)
    reports = await queued()
    assert [r["source"] for r in reports] == ["amd", "dial-status"]
    assert reports[1]["answered_by"] == "machine_end_beep"
    assert await drain_calls_queue() == 2  # the AMD report first: no call yet, nothing changes
    await assert_missed_once(stack, business, parent, "machine")


@pytest.mark.parametrize("answered_by", ["human", "unknown"])
async def test_amd_a_person_answered(stack, answered_by):
    business, _ = await create_business(answer_check="amd")
    parent, callback = await ring(business)
    leg = voice.sid()
    await voice.follow(callback, voice.amd_verdict(leg, answered_by))
    ended = await dial_ended(business, parent, "completed", leg_sid=leg, duration=80, bridged=True)
    assert hangs_up(ended)
    await drain_calls_queue()
    await assert_answered(stack, parent)


async def test_amd_a_machine_after_the_call_was_recorded_answered_revises_it_once(stack):
    business, _ = await create_business(answer_check="amd")
    parent, callback = await ring(business)
    leg = voice.sid()
    ended = await dial_ended(business, parent, "completed", leg_sid=leg, duration=31, bridged=True)
    assert hangs_up(ended)  # no verdict yet: the caller was bridged (to the voicemail)
    await drain_calls_queue()
    await assert_answered(stack, parent)

    await voice.follow(callback, voice.amd_verdict(leg, "machine_end_silence"))
    await voice.follow(callback, voice.amd_verdict(leg, "machine_end_silence"))  # retried
    assert await drain_calls_queue() == 1
    await assert_missed_once(stack, business, parent, "machine")
    row = await call_row(parent)
    assert row["answered_by"] == "machine_end_silence"

    # The queue redelivers the revision, concurrently: still one text and one alert.
    revision = CallReport(
        call_sid=parent, to_number="", source="amd", answered_by="machine_end_silence",
        answer_check="amd", leg_sid=leg,
    )  # fmt: skip
    outcomes = await asyncio.gather(*(handle_call_report(revision) for _ in range(5)))
    assert {o.status for o in outcomes} == {"duplicate"}
    await assert_missed_once(stack, business, parent, "machine")


async def test_amd_verdict_after_dial_status_read_the_leg_is_read_again_by_the_handler(stack):
    """The verdict lands after the webhook read the leg, and the queue hands the handler the
    verdict's report first (no call yet: it changes nothing): the dial-status report, read with
    the leg as recorded since, still ends the call a miss, texted and alerted once."""
    business, _ = await create_business(answer_check="amd")
    parent, callback = await ring(business)
    leg = voice.sid()
    await dial_ended(business, parent, "completed", leg_sid=leg, duration=31, bridged=True)
    await voice.follow(callback, voice.amd_verdict(leg, "machine_start"))
    dial_report, amd_report = await queued()
    assert (dial_report["source"], dial_report["answered_by"]) == ("dial-status", None)
    assert amd_report["source"] == "amd"
    amd_first = await handle_call_report(CallReport.model_validate(amd_report))
    assert amd_first.status == "no-call"
    assert (await handle_call_report(CallReport.model_validate(dial_report))).status == "sent"
    await assert_missed_once(stack, business, parent, "machine")
    assert (await call_row(parent))["answered_by"] == "machine_start"


async def test_amd_a_machine_on_a_leg_that_was_not_bridged_changes_nothing(stack):
    """A team phone's voicemail answered too late: the owner's leg was the one bridged."""
    business, _ = await create_business(
        answer_check="amd", team_phones=[{"name": "Bo", "phone": "+14155550101"}]
    )
    parent, callback = await ring(business)
    owner_leg, team_leg = voice.sid(), voice.sid()
    await voice.follow(callback, voice.amd_verdict(owner_leg, "human"))
    ended = await dial_ended(
        business, parent, "completed", leg_sid=owner_leg, duration=70, bridged=True
    )
    assert hangs_up(ended)
    await drain_calls_queue()
    await voice.follow(callback, voice.amd_verdict(team_leg, "machine_end_beep"))
    assert await drain_calls_queue() == 1
    await assert_answered(stack, parent)


async def test_amd_a_verdict_for_a_call_never_recorded_changes_nothing(stack, monkeypatch):
    """It comes back a bounded number of times (the call's row may be on its way), then no
    more, and nothing is recorded or sent."""
    monkeypatch.setattr(handler, "NO_CALL_RETRY_SECONDS", 0)  # each return visible at once
    await create_business(answer_check="amd")
    report = CallReport(
        call_sid=voice.sid(), to_number="", source="amd", answered_by="machine_start",
        answer_check="amd", leg_sid=voice.sid(),
    )  # fmt: skip
    assert (await handle_call_report(report)).status == "no-call"
    (again,) = await queued()
    assert again["attempt"] == 1 and again["call_sid"] == report.call_sid
    assert await drain_calls_queue() == handler.NO_CALL_ATTEMPTS
    assert await queued() == []
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM calls") == 0
    assert stack.twilio.sent == []


async def test_amd_a_verdict_handled_before_the_calls_row_commits_still_revises_it(
    stack, monkeypatch
):
    """The race: the dial-status transaction read `call_legs` before the verdict committed (so
    it records the call as answered) and had not committed when the verdict's report was
    handled (no row yet). The report comes back and revises the call to a miss."""
    monkeypatch.setattr(handler, "NO_CALL_RETRY_SECONDS", 0)
    business, _ = await create_business(answer_check="amd")
    parent, _ = await ring(business)
    leg = voice.sid()
    await dial_ended(business, parent, "completed", leg_sid=leg, duration=31, bridged=True)
    (dial_report,) = await queued()
    amd_report = CallReport(
        call_sid=parent, to_number="", source="amd", answered_by="machine_start",
        answer_check="amd", leg_sid=leg,
    )  # fmt: skip
    # The verdict's report first, while the call's row is not visible yet...
    assert (await handle_call_report(amd_report)).status == "no-call"
    # ...then the dial-status delivery, which read the leg before the verdict was recorded.
    dial = CallReport.model_validate(dial_report)
    assert (await handle_call_report(dial)).status == "not_missed"
    assert (await call_row(parent))["text_back_status"] == "not_missed"
    # The verdict's report is back on the queue and revises the answered call to a miss.
    assert await drain_calls_queue() >= 1
    await assert_missed_once(stack, business, parent, "machine")


# --- no check ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "missed"), [(45, False), (3, True)], ids=["answered", "too-short"]
)
async def test_no_check_only_a_too_short_answer_is_a_miss(stack, duration, missed):
    business, _ = await create_business(answer_check="none")
    parent, _ = await ring(business)
    ended = await dial_ended(
        business, parent, "completed", leg_sid=voice.sid(), duration=duration, bridged=True
    )
    assert hears_voicemail(ended) is missed
    await drain_calls_queue()
    if missed:
        await assert_missed_once(stack, business, parent, "too-short")
    else:
        await assert_answered(stack, parent)
