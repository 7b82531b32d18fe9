"""Twilio voice webhooks through the registered functions: signatures first, then the TwiML.

`twilio_request` signs over PUBLIC_BASE_URL + path + query, while the request itself arrives at
an internal http:// URL, as it does behind Azure's front ends.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared_code.businesses.hours import DAYS
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings
from tests.helpers import (
    call_sid,
    create_business,
    dial_status_params,
    drain_calls_queue,
    post,
    queued,
    sign,
    twilio_request,
)

CALLER = "+13125550123"
PUBLIC = "https://nevermiss.example.com"
DIAL_STATUS = "/api/voice/dial-status"
ROUTES = {
    "voice_incoming": "/api/voice/incoming",
    "voice_dial_status": DIAL_STATUS,
    "voice_status": "/api/voice/status",
}


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


async def calls_rows() -> int:
    pool = await get_pool()
    return int(await pool.fetchval("SELECT count(*) FROM calls"))


async def assert_rejected(response) -> None:
    """403 as TwiML, and nothing queued or recorded."""
    assert response.status_code == 403
    assert response.mimetype == "application/xml"
    assert twiml(response).tag == "Response"
    assert await queued() == []
    assert await drain_calls_queue() == 0
    assert await calls_rows() == 0


def closed_now_schedule(time_zone: str) -> dict[str, list[list[str]]]:
    """Open all day, but only on a day that is neither today nor tomorrow in `time_zone`."""
    today = datetime.now(UTC).astimezone(ZoneInfo(time_zone)).weekday()
    return {DAYS[(today + 3) % 7]: [["00:00", "24:00"]]}


# --- signatures -----------------------------------------------------------------------------


async def test_valid_signature_is_accepted_and_enqueued(stack):
    business, _ = await create_business()
    sid = call_sid()
    params = dial_status_params(sid, CALLER, business.phone_number, "no-answer")
    response = await post("voice_dial_status", twilio_request(DIAL_STATUS, params))
    assert response.status_code == 200
    assert twiml(response).find("Say") is not None
    [report] = await queued()
    assert report["call_sid"] == sid and report["source"] == "dial-status"
    assert report["dial_status"] == "no-answer"


@pytest.mark.parametrize(
    "signed_base",
    [PUBLIC, "https://nevermiss.example.com:443"],
    ids=["without-port", "with-port-443"],
)
async def test_signature_over_public_url_with_or_without_port(stack, signed_base):
    business, _ = await create_business()
    sid = call_sid()
    params = dial_status_params(sid, CALLER, business.phone_number, "busy")
    request = twilio_request(DIAL_STATUS, params, signed_url=signed_base + DIAL_STATUS)
    response = await post("voice_dial_status", request)
    assert response.status_code == 200
    assert [m["call_sid"] for m in await queued()] == [sid]


async def test_signature_over_the_internal_url_is_rejected(stack):
    business, _ = await create_business()
    params = dial_status_params(call_sid(), CALLER, business.phone_number, "no-answer")
    request = twilio_request(DIAL_STATUS, params, signed_url="http://10.0.0.4:80" + DIAL_STATUS)
    await assert_rejected(await post("voice_dial_status", request))


async def test_query_string_in_configured_url_is_part_of_the_signature(stack):
    business, _ = await create_business()
    sid = call_sid()
    params = dial_status_params(sid, CALLER, business.phone_number, "no-answer")
    request = twilio_request(DIAL_STATUS, params, query="code=abc&x=1")
    response = await post("voice_dial_status", request)
    assert response.status_code == 200
    assert [m["call_sid"] for m in await queued()] == [sid]


@pytest.mark.parametrize(
    ("signed_query", "sent_query"),
    [("code=abc&x=1", "code=abc&x=2"), ("code=abc&x=1", ""), ("", "code=abc")],
)
async def test_query_string_differing_from_what_was_signed_is_rejected(
    stack, signed_query, sent_query
):
    business, _ = await create_business()
    params = dial_status_params(call_sid(), CALLER, business.phone_number, "no-answer")
    signed_url = PUBLIC + DIAL_STATUS + (f"?{signed_query}" if signed_query else "")
    request = twilio_request(DIAL_STATUS, params, query=sent_query, signed_url=signed_url)
    await assert_rejected(await post("voice_dial_status", request))


async def test_missing_signature_header_is_rejected(stack):
    business, _ = await create_business()
    params = dial_status_params(call_sid(), CALLER, business.phone_number, "no-answer")
    request = twilio_request(DIAL_STATUS, params, signature="")
    assert "X-Twilio-Signature" not in request.headers
    await assert_rejected(await post("voice_dial_status", request))


async def test_signature_made_with_another_token_is_rejected(stack):
    business, _ = await create_business()
    params = dial_status_params(call_sid(), CALLER, business.phone_number, "no-answer")
    forged = sign(PUBLIC + DIAL_STATUS, params, token=secrets.token_hex(16))
    request = twilio_request(DIAL_STATUS, params, signature=forged)
    await assert_rejected(await post("voice_dial_status", request))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: {**p, "DialCallStatus": "busy"},
        lambda p: {**p, "Body": "changed"},
        lambda p: {**p, "From": "+13125550199"},
        lambda p: {**p, "Extra": "added"},
        lambda p: {k: v for k, v in p.items() if k != "DialCallSid"},
    ],
    ids=["status-changed", "body-added", "from-changed", "param-added", "param-removed"],
)
async def test_replay_with_changed_params_is_rejected(stack, tamper):
    business, _ = await create_business()
    params = dial_status_params(
        call_sid(), CALLER, business.phone_number, "completed", DialCallDuration="120"
    )
    signature = sign(PUBLIC + DIAL_STATUS, params)
    request = twilio_request(DIAL_STATUS, tamper(params), signature=signature)
    await assert_rejected(await post("voice_dial_status", request))


async def test_blank_params_are_signed_too(stack):
    """Twilio sends empty values (e.g. CallerName=); they count in the signature."""
    business, _ = await create_business()
    sid = call_sid()
    params = dial_status_params(sid, CALLER, business.phone_number, "no-answer", CallerName="")
    response = await post("voice_dial_status", twilio_request(DIAL_STATUS, params))
    assert response.status_code == 200
    assert [m["call_sid"] for m in await queued()] == [sid]


@pytest.mark.parametrize("function_name", sorted(ROUTES))
async def test_every_voice_route_rejects_unsigned_requests(stack, function_name):
    business, _ = await create_business()
    params = call_params(
        call_sid(), business.phone_number, CallStatus="no-answer", DialCallStatus="no-answer"
    )
    unsigned = twilio_request(ROUTES[function_name], params, signature="")
    await assert_rejected(await post(function_name, unsigned))
    # Signed for another route: the path is part of the signature too.
    other = next(path for path in ROUTES.values() if path != ROUTES[function_name])
    misrouted = twilio_request(ROUTES[function_name], params, signed_url=PUBLIC + other)
    await assert_rejected(await post(function_name, misrouted))


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
    assert dial.attrib["timeout"] == "20"
    assert dial.attrib["action"] == "https://nevermiss.example.com/api/voice/dial-status"
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
