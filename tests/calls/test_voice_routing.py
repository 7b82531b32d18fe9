"""Voice routing through the registered functions: who gets dialled, who hears the greeting,
what is queued, by `voice/incoming` and the `voice/status` callback (signed requests throughout;
the signature checks themselves are in test_signatures.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared_code.businesses.hours import DAYS
from shared_code.platform.settings import get_settings
from tests.helpers import call_sid, create_business, post, queued, twilio_request

CALLER = "+13125550123"


def call_params(sid: str, to: str, *, caller: str = CALLER, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": get_settings().twilio_account_sid,
        "CallSid": sid,
        "From": caller,
        "To": to,
        "CallStatus": "ringing",
        "Direction": "inbound",
        **extra,
    }


def twiml(response) -> ET.Element:
    assert response.mimetype == "application/xml"
    return ET.fromstring(response.get_body())


def closed_now_schedule(time_zone: str) -> dict[str, list[list[str]]]:
    """Open all day, but only on a day that is neither today nor tomorrow in `time_zone`."""
    today = datetime.now(UTC).astimezone(ZoneInfo(time_zone)).weekday()
    return {DAYS[(today + 3) % 7]: [["00:00", "24:00"]]}


# --- voice/incoming -------------------------------------------------------------------------


async def test_incoming_in_hours_dials_the_owner(stack):
    business, _ = await create_business(owner_phone="(415) 555-0100")
    request = twilio_request("/api/voice/incoming", call_params(call_sid(), business.phone_number))
    response = await post("voice_incoming", request)
    assert response.status_code == 200
    root = twiml(response)
    dial = root.find("Dial")
    assert dial is not None
    assert dial.attrib["answerOnBridge"] == "true"
    assert dial.attrib["timeout"] == "18"
    # Connection overrides ride in the fragment: Twilio retries a slow or failed dial-status.
    assert dial.attrib["action"] == (
        "https://nevermiss.example.com/api/voice/dial-status#rc=3&rp=ct,rt,5xx&ct=2000&rt=5000"
    )
    assert dial.attrib.get("method", "POST") == "POST"
    assert [n.text for n in dial.findall("Number")] == ["+14155550100"]
    assert await queued() == []


async def test_incoming_uses_the_business_ring_timeout(stack):
    business, _ = await create_business(ring_timeout_seconds=35)
    request = twilio_request("/api/voice/incoming", call_params(call_sid(), business.phone_number))
    dial = twiml(await post("voice_incoming", request)).find("Dial")
    assert dial is not None and dial.attrib["timeout"] == "35"


async def test_incoming_from_a_blocked_caller_is_rejected(stack):
    business, _ = await create_business(blocked_numbers=["(312) 555-0123"])
    request = twilio_request("/api/voice/incoming", call_params(call_sid(), business.phone_number))
    response = await post("voice_incoming", request)
    assert response.status_code == 200
    root = twiml(response)
    assert root.find("Reject") is not None and root.find("Dial") is None
    assert await queued() == []


async def test_incoming_after_hours_says_sorry_and_queues_the_miss(stack):
    zone = "Pacific/Auckland"
    business, _ = await create_business(time_zone=zone, weekly_hours=closed_now_schedule(zone))
    sid = call_sid()
    request = twilio_request("/api/voice/incoming", call_params(sid, business.phone_number))
    response = await post("voice_incoming", request)
    assert response.status_code == 200
    root = twiml(response)
    assert root.find("Dial") is None
    say = root.find("Say")
    assert say is not None and "Sorry" in (say.text or "") and business.name in (say.text or "")
    assert root.find("Hangup") is not None
    [report] = await queued()
    assert report["call_sid"] == sid
    assert report["source"] == "after-hours" and report["dial_status"] == "after-hours"
    assert report["from"] == CALLER and report["to"] == business.phone_number


async def test_incoming_with_no_owner_phone_says_sorry_and_queues_the_miss(stack):
    business, _ = await create_business(owner_phone=None)
    assert business.owner_phone is None
    sid = call_sid()
    request = twilio_request("/api/voice/incoming", call_params(sid, business.phone_number))
    response = await post("voice_incoming", request)
    assert response.status_code == 200
    root = twiml(response)
    assert root.find("Dial") is None
    say = root.find("Say")
    assert say is not None and "Sorry" in (say.text or "")
    [report] = await queued()
    assert report["call_sid"] == sid and report["source"] == "no-owner"


async def test_incoming_to_an_unknown_number_is_not_in_service(stack):
    await create_business()
    request = twilio_request("/api/voice/incoming", call_params(call_sid(), "+13125550999"))
    response = await post("voice_incoming", request)
    assert response.status_code == 200
    root = twiml(response)
    say = root.find("Say")
    assert say is not None and "not in service" in (say.text or "")
    assert root.find("Dial") is None
    assert await queued() == []


# --- voice/status ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["no-answer", "busy", "completed"])
async def test_status_callback_with_final_status_is_queued(stack, status):
    business, _ = await create_business()
    sid = call_sid()
    params = call_params(sid, business.phone_number, CallStatus=status, CallDuration="0")
    response = await post("voice_status", twilio_request("/api/voice/status", params))
    assert response.status_code == 200
    assert twiml(response).tag == "Response"
    [report] = await queued()
    assert report["call_sid"] == sid and report["source"] == "status"
    assert report["dial_status"] == status and report["duration"] == 0


@pytest.mark.parametrize("status", ["ringing", "in-progress", "queued", "initiated"])
async def test_status_callback_with_non_final_status_is_not_queued(stack, status):
    business, _ = await create_business()
    params = call_params(call_sid(), business.phone_number, CallStatus=status)
    response = await post("voice_status", twilio_request("/api/voice/status", params))
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert await queued() == []
