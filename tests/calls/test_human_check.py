"""The webhooks on a dialled leg (/voice/screen, /voice/screen-result, /voice/amd), followed from
the TwiML /voice/incoming answers, as Twilio would: what they answer, what they record in
`call_legs`, what they queue, and that they refuse anything Twilio did not sign. A key pressed
while PostgreSQL is down or hung still bridges the call within 2 s."""

from __future__ import annotations

import time

import pytest

from shared_code.platform.db import get_pool
from tests.calls import voice
from tests.faults import ACK_SECONDS, database_down, database_hung
from tests.helpers import create_business, queued

OWNER = "+14155550100"
OVERRIDES = "#rc=3&rp=ct,rt,5xx&ct=2000&rt=5000"


async def ring(business) -> tuple[str, list[str]]:
    """A caller rings: the parent CallSid and, per dialled phone, the URL Twilio is told to use
    (the whisper's `url` or the `amdStatusCallback`)."""
    parent = voice.sid()
    response = await voice.call(
        "/api/voice/incoming", voice.incoming(parent, business.phone_number)
    )
    dial = voice.twiml(response).find("Dial")
    assert dial is not None
    urls = [n.attrib.get("url") or n.attrib.get("amdStatusCallback") or "" for n in dial]
    return parent, urls


async def legs() -> list[dict]:
    pool = await get_pool()
    return [dict(r) for r in await pool.fetch("SELECT * FROM call_legs ORDER BY created_at")]


async def whisper(business) -> tuple[str, str, str]:
    """Ring, and the owner's leg picks up: the parent, the leg and the Gather's action URL."""
    parent, [url] = await ring(business)
    leg = voice.sid()
    response = await voice.follow(url, voice.leg(leg, parent, OWNER))
    assert response.status_code == 200
    gather = voice.twiml(response).find("Gather")
    assert gather is not None
    return parent, leg, gather.attrib["action"]


# --- press 1 ---------------------------------------------------------------------------------


async def test_a_picked_up_leg_is_asked_to_press_1_and_hangs_up_without_it(stack):
    business, _ = await create_business()
    parent, [url] = await ring(business)
    response = await voice.follow(url, voice.leg(voice.sid(), parent, OWNER))
    root = voice.twiml(response)
    assert [child.tag for child in root] == ["Gather", "Hangup"]
    gather = root.find("Gather")
    assert gather is not None
    assert gather.attrib == {
        "numDigits": "1",
        "timeout": "8",
        "action": f"https://nevermiss.example.com/api/voice/screen-result?parent={parent}{OVERRIDES}",
        "method": "POST",
    }
    assert [say.text for say in gather] == ["Call for Acme Plumbing. Press 1 to take it."]
    assert await legs() == [] and await queued() == []


async def test_pressing_1_records_the_acceptance_and_bridges(stack):
    business, _ = await create_business()
    parent, leg, action = await whisper(business)
    response = await voice.follow(action, voice.pressed(leg, parent, OWNER, "1"))
    assert response.status_code == 200
    assert list(voice.twiml(response)) == []  # an empty <Response/>: the whisper ends, bridged
    [row] = await legs()
    assert (row["leg_sid"], row["parent_call_sid"], row["phone"]) == (leg, parent, OWNER)
    assert row["accepted_at"] is not None and row["answered_by"] is None
    # Twilio retries: the first acceptance stands, still one row.
    again = await voice.follow(action, voice.pressed(leg, parent, OWNER, "1"))
    assert again.status_code == 200
    [same] = await legs()
    assert same["accepted_at"] == row["accepted_at"]
    assert await queued() == []


@pytest.mark.parametrize("digits", ["2", "#", "*", "0", ""])
async def test_another_key_hangs_the_leg_up_and_records_nothing(stack, digits):
    business, _ = await create_business()
    parent, leg, action = await whisper(business)
    response = await voice.follow(action, voice.pressed(leg, parent, OWNER, digits))
    assert [child.tag for child in voice.twiml(response)] == ["Hangup"]
    assert await legs() == []


async def test_the_whisper_names_no_business_it_cannot_find(stack):
    await create_business()
    parent = voice.sid()
    response = await voice.call(
        "/api/voice/screen", voice.leg(voice.sid(), parent, OWNER), f"parent={parent}"
    )
    assert voice.spoken(response) == "Incoming call. Press 1 to take it."


async def test_without_the_parent_in_the_url_twilios_parent_call_sid_is_used(stack):
    await create_business()
    parent, leg = voice.sid(), voice.sid()
    response = await voice.call("/api/voice/screen-result", voice.pressed(leg, parent, OWNER, "1"))
    assert response.status_code == 200 and list(voice.twiml(response)) == []
    [row] = await legs()
    assert row["parent_call_sid"] == parent


@pytest.mark.parametrize("outage", [database_down, database_hung], ids=["stopped", "hung"])
async def test_pressing_1_with_postgresql_out_still_bridges_within_two_seconds(
    stack, services, outage
):
    business, _ = await create_business()
    parent, leg, action = await whisper(business)
    with outage(services):
        started = time.monotonic()
        response = await voice.follow(action, voice.pressed(leg, parent, OWNER, "1"))
        waited = time.monotonic() - started
    assert response.status_code == 200 and list(voice.twiml(response)) == []
    assert waited < ACK_SECONDS


# --- answering-machine detection ---------------------------------------------------------------


async def test_a_machine_verdict_is_recorded_and_queued_against_the_parent(stack):
    business, _ = await create_business(answer_check="amd")
    parent, [callback] = await ring(business)
    leg = voice.sid()
    response = await voice.follow(callback, voice.amd_verdict(leg, "machine_end_beep"))
    assert response.status_code == 200 and list(voice.twiml(response)) == []
    [row] = await legs()
    assert (row["leg_sid"], row["parent_call_sid"]) == (leg, parent)
    assert row["answered_by"] == "machine_end_beep" and row["accepted_at"] is None
    [report] = await queued()
    assert (report["call_sid"], report["source"], report["leg_sid"]) == (parent, "amd", leg)
    assert report["answered_by"] == "machine_end_beep" and report["answer_check"] == "amd"
    # Twilio retries the callback: recorded again, queued once.
    await voice.follow(callback, voice.amd_verdict(leg, "machine_end_beep"))
    assert len(await queued()) == 1 and len(await legs()) == 1


@pytest.mark.parametrize("answered_by", ["human", "unknown"])
async def test_a_person_or_no_verdict_is_recorded_and_nothing_is_queued(stack, answered_by):
    business, _ = await create_business(answer_check="amd")
    _, [callback] = await ring(business)
    response = await voice.follow(callback, voice.amd_verdict(voice.sid(), answered_by))
    assert response.status_code == 200
    [row] = await legs()
    assert row["answered_by"] == answered_by
    assert await queued() == []


async def test_a_verdict_not_recorded_is_answered_503_in_time_and_twilios_retry_records_it(
    stack, services
):
    business, _ = await create_business(answer_check="amd")
    parent, [callback] = await ring(business)
    leg = voice.sid()
    with database_hung(services):
        started = time.monotonic()
        response = await voice.follow(callback, voice.amd_verdict(leg, "machine_start"))
        waited = time.monotonic() - started
    assert response.status_code == 503 and waited < ACK_SECONDS
    # Nothing handed off: the report must not reach the handler ahead of its verdict (and the
    # dedupe key must stay free for Twilio's retry, which does both).
    assert await queued() == []
    retry = await voice.follow(callback, voice.amd_verdict(leg, "machine_start"))
    assert retry.status_code == 200
    [row] = await legs()
    assert row["answered_by"] == "machine_start"
    assert [r["call_sid"] for r in await queued()] == [parent]  # queued once, after recording


# --- signatures ------------------------------------------------------------------------------


async def _assert_refused(response) -> None:
    assert response.status_code == 403
    assert voice.twiml(response).tag == "Response"
    assert await legs() == [] and await queued() == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/voice/screen", lambda p, leg: voice.leg(leg, p, OWNER)),
        ("/api/voice/screen-result", lambda p, leg: voice.pressed(leg, p, OWNER, "1")),
        ("/api/voice/amd", lambda p, leg: voice.amd_verdict(leg, "machine_start")),
    ],
    ids=["screen", "screen-result", "amd"],
)
async def test_unsigned_or_tampered_leg_webhooks_are_refused_and_change_nothing(
    stack, path, params
):
    await create_business(answer_check="amd")
    parent, leg = voice.sid(), voice.sid()
    form = params(parent, leg)
    unsigned = voice.request(path, form, f"parent={parent}", signature="")
    await _assert_refused(await voice.post_request(path, unsigned))
    forged = voice.request(path, form, f"parent={parent}", signature="c2lnbmF0dXJl")
    await _assert_refused(await voice.post_request(path, forged))
    # Signed for one parent, sent for another: the query is signed with the URL.
    other = voice.sid()
    signed_url = f"https://nevermiss.example.com{path}?parent={parent}"
    moved = voice.request(path, form, f"parent={other}", signed_url=signed_url)
    await _assert_refused(await voice.post_request(path, moved))
