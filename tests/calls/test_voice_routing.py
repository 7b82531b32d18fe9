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


async def test_incoming_after_hours_greets_takes_a_voicemail_and_queues_the_miss(stack):
    zone = "Pacific/Auckland"
    business, _ = await create_business(time_zone=zone, weekly_hours=closed_now_schedule(zone))
    sid = call_sid()
    request = twilio_request("/api/voice/incoming", call_params(sid, business.phone_number))
    response = await post("voice_incoming", request)
    assert response.status_code == 200
    root = twiml(response)
    assert root.find("Dial") is None
    say = root.find("Say")
    assert say is not None and (say.text or "") == (
        "Thanks for calling Acme Plumbing. We're closed right now. We'll text you in a moment."
    )
    record = root.find("Record")
    assert record is not None
    assert record.attrib["recordingStatusCallback"].startswith(
        "https://nevermiss.example.com/api/voice/recording#"
    )
    assert [child.tag for child in root] == ["Say", "Say", "Record", "Hangup"]
    [report] = await queued()
    assert report["call_sid"] == sid
    assert report["source"] == "after-hours" and report["dial_status"] == "after-hours"
    assert report["from"] == CALLER and report["to"] == business.phone_number
    assert report["greeting"] == "text_soon"


async def test_incoming_with_nobody_to_ring_greets_and_queues_the_miss(stack):
    business, _ = await create_business(owner_phone=None)
    assert business.owner_phone is None and business.dial_phones == []
    sid = call_sid()
    request = twilio_request("/api/voice/incoming", call_params(sid, business.phone_number))
    response = await post("voice_incoming", request)
    assert response.status_code == 200
    root = twiml(response)
    assert root.find("Dial") is None and root.find("Record") is not None
    say = root.find("Say")
    assert say is not None and (say.text or "").startswith(
        "Sorry, Acme Plumbing can't take your call right now. We'll text you in a moment."
    )
    [report] = await queued()
    assert report["call_sid"] == sid and report["source"] == "no-owner"
    assert report["greeting"] == "text_soon"


async def test_incoming_with_no_owner_phone_rings_the_team(stack):
    team = [{"name": "Bo", "phone": "+14155550101"}]
    business, _ = await create_business(owner_phone=None, team_phones=team)
    request = twilio_request("/api/voice/incoming", call_params(call_sid(), business.phone_number))
    dial = twiml(await post("voice_incoming", request)).find("Dial")
    assert dial is not None and [n.text for n in dial.findall("Number")] == ["+14155550101"]
    assert await queued() == []


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


# --- the human check and the team ----------------------------------------------------------

BASE = "https://nevermiss.example.com"
OVERRIDES = "#rc=3&rp=ct,rt,5xx&ct=2000&rt=5000"


async def _dial(business, sid: str) -> ET.Element:
    request = twilio_request("/api/voice/incoming", call_params(sid, business.phone_number))
    dial = twiml(await post("voice_incoming", request)).find("Dial")
    assert dial is not None
    return dial


async def test_press_key_whispers_on_every_leg_before_it_is_bridged(stack):
    business, _ = await create_business()
    assert business.answer_check == "press_key"  # the default
    sid = call_sid()
    [number] = (await _dial(business, sid)).findall("Number")
    assert number.text == business.owner_phone
    assert number.attrib == {
        "url": f"{BASE}/api/voice/screen?parent={sid}&business=15005550006{OVERRIDES}",
        "method": "POST",
    }


async def test_amd_detects_a_machine_on_every_leg(stack):
    business, _ = await create_business(answer_check="amd")
    sid = call_sid()
    [number] = (await _dial(business, sid)).findall("Number")
    assert number.attrib == {
        "machineDetection": "Enable",
        "amdStatusCallback": f"{BASE}/api/voice/amd?parent={sid}{OVERRIDES}",
        "amdStatusCallbackMethod": "POST",
    }


async def test_none_dials_a_plain_number(stack):
    business, _ = await create_business(answer_check="none")
    [number] = (await _dial(business, call_sid())).findall("Number")
    assert number.text == business.owner_phone and number.attrib == {}


async def test_the_team_rings_with_the_owner_owner_first_at_most_ten_each_once(stack):
    team = [{"name": f"Tech {i}", "phone": f"+1415555{i:04d}"} for i in range(1, 10)]
    team.insert(3, {"name": "Owner's other entry", "phone": "+14155550100"})  # the owner again
    business, _ = await create_business(team_phones=team)
    numbers = (await _dial(business, call_sid())).findall("Number")
    phones = [n.text for n in numbers]
    assert phones[0] == "+14155550100"
    assert phones == ["+14155550100"] + [f"+1415555{i:04d}" for i in range(1, 10)]
    assert len(phones) == 10 == len(set(phones))
    assert all(n.attrib["url"].startswith(f"{BASE}/api/voice/screen?") for n in numbers)


async def test_more_than_ten_phones_are_refused_when_saved(stack):
    from shared_code.businesses.store import TooManyPhones

    team = [{"name": f"Tech {i}", "phone": f"+1415555{i:04d}"} for i in range(1, 11)]
    with pytest.raises(TooManyPhones):
        await create_business(team_phones=team)


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
