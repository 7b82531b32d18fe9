"""The one door for Twilio webhooks, through the registered functions: every Twilio route
answers a request that is unsigned, signed over anything but what arrived, or unreadable with
403 TwiML, and changes nothing.

`twilio_request` signs over PUBLIC_BASE_URL + path + query, while the request itself arrives at
an internal http:// URL, as it does behind Azure's front ends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import azure.functions as func
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from shared_code.platform import queues
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings
from shared_code.platform.twilio_webhooks import form_pairs, signed_bytes
from tests.helpers import (
    call_sid,
    create_business,
    dial_status_params,
    drain_calls_queue,
    post,
    queued,
    sign,
    sms_params,
    twilio_request,
)

CALLER = "+13125550123"
PUBLIC = "https://nevermiss.example.com"
DIAL_STATUS = "/api/voice/dial-status"
ROUTES = {
    "voice_incoming": "/api/voice/incoming",
    "voice_dial_status": DIAL_STATUS,
    "voice_status": "/api/voice/status",
    "sms_incoming": "/api/sms/incoming",
    "sms_status": "/api/sms/status",
    "voice_screen": "/api/voice/screen",
    "voice_screen_result": "/api/voice/screen-result",
    "voice_amd": "/api/voice/amd",
    "voice_voicemail_done": "/api/voice/voicemail-done",
    "voice_recording": "/api/voice/recording",
    "voice_transcription": "/api/voice/transcription",
}


def any_route_params(business_number: str) -> dict[str, str]:
    """Parameters every Twilio route would act on if they were accepted."""
    params = dial_status_params(call_sid(), CALLER, business_number, "no-answer")
    return {
        **sms_params(CALLER, business_number, "hello"),
        **params,
        "CallStatus": "no-answer",
        "MessageStatus": "undelivered",
        "ErrorCode": "30006",
        # the dialled leg's human check and the voicemail's callbacks
        "ParentCallSid": call_sid(),
        "Digits": "1",
        "AnsweredBy": "machine_start",
        "RecordingSid": "RE" + secrets.token_hex(16),
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
        "TranscriptionStatus": "completed",
        "TranscriptionText": "call me back",
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
    assert await queued(queues.MESSAGES_QUEUE) == []
    assert await queued(queues.RECORDINGS_QUEUE) == []
    assert await drain_calls_queue() == 0
    assert await calls_rows() == 0
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM contacts") == 0
    assert await pool.fetchval("SELECT count(*) FROM call_legs") == 0


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
async def test_every_twilio_route_rejects_unsigned_requests(stack, function_name):
    business, _ = await create_business()
    params = any_route_params(business.phone_number)
    unsigned = twilio_request(ROUTES[function_name], params, signature="")
    await assert_rejected(await post(function_name, unsigned))
    # Signed for another route: the path is part of the signature too.
    other = next(path for path in ROUTES.values() if path != ROUTES[function_name])
    misrouted = twilio_request(ROUTES[function_name], params, signed_url=PUBLIC + other)
    await assert_rejected(await post(function_name, misrouted))


def raw_request(path: str, body: bytes, signature: str) -> func.HttpRequest:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return func.HttpRequest("POST", "http://10.0.0.4:80" + path, headers=headers, body=body)


@pytest.mark.parametrize("function_name", sorted(ROUTES))
async def test_every_twilio_route_answers_a_body_that_is_not_utf8_with_403(stack, function_name):
    business, _ = await create_business()
    params = any_route_params(business.phone_number)
    signature = sign(PUBLIC + ROUTES[function_name], params)
    # Signed for the form, but the bytes that arrive are Latin-1 (\xe9), not UTF-8.
    body = urlencode(params).encode() + b"&Body=caf\xe9"
    await assert_rejected(
        await post(function_name, raw_request(ROUTES[function_name], body, signature))
    )


@pytest.mark.parametrize("function_name", sorted(ROUTES))
async def test_every_twilio_route_answers_a_body_that_is_not_a_form_with_403(stack, function_name):
    business, _ = await create_business()
    params = any_route_params(business.phone_number)
    signature = sign(PUBLIC + ROUTES[function_name], {})
    body = repr(params).encode()  # a JSON-ish body: no form fields at all
    await assert_rejected(
        await post(function_name, raw_request(ROUTES[function_name], body, signature))
    )


# --- signed as Twilio signs: repeated parameters, raw bytes, fragments ----------------------


class MultiDict(dict):
    """Repeated form parameters as the SDK's validator reads them (Flask's `getall`)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


def sdk_signature(url: str, pairs: list[tuple[str, str]]) -> str:
    token = get_settings().twilio_auth_token.get_secret_value()
    return str(RequestValidator(token).compute_signature(url, MultiDict(pairs)))


async def test_repeated_parameter_signed_over_all_its_values_is_accepted(stack):
    """Twilio signs every value of a repeated name (sorted); the first value is the one used."""
    business, _ = await create_business()
    sid = call_sid()
    pairs = [*dial_status_params(sid, CALLER, business.phone_number, "no-answer").items()]
    pairs += [("Tag", "b"), ("Tag", "a"), ("Tag", "b")]
    signature = sdk_signature(PUBLIC + DIAL_STATUS, pairs)
    request = raw_request(DIAL_STATUS, urlencode(pairs).encode(), signature)
    response = await post("voice_dial_status", request)
    assert response.status_code == 200
    assert [m["call_sid"] for m in await queued()] == [sid]


async def test_repeated_parameter_signed_over_one_value_only_is_rejected(stack):
    business, _ = await create_business()
    params = dial_status_params(call_sid(), CALLER, business.phone_number, "no-answer")
    signature = sign(PUBLIC + DIAL_STATUS, {**params, "Tag": "a"})
    body = urlencode([*params.items(), ("Tag", "a"), ("Tag", "b")]).encode()
    await assert_rejected(
        await post("voice_dial_status", raw_request(DIAL_STATUS, body, signature))
    )


async def test_callback_signed_without_its_connection_override_fragment_is_accepted(stack):
    """The `<Dial action>` is handed to Twilio with `#rc=3&...`: the fragment is never sent and
    is not signed, so the signature is over the URL without it (accepted with it too)."""
    business, _ = await create_business()
    sids = [call_sid(), call_sid()]
    overrides = "#rc=3&rp=ct,rt,5xx&ct=2000&rt=5000"
    signed_urls = [PUBLIC + DIAL_STATUS, PUBLIC + DIAL_STATUS + overrides]
    for sid, signed_url in zip(sids, signed_urls, strict=True):
        params = dial_status_params(sid, CALLER, business.phone_number, "no-answer")
        request = twilio_request(DIAL_STATUS, params, signed_url=signed_url)
        response = await post("voice_dial_status", request)
        assert response.status_code == 200
    assert [m["call_sid"] for m in await queued()] == sids


async def test_a_signed_body_that_is_not_utf8_is_rejected_without_decoding(stack):
    """Signed over its raw bytes (no Twilio request is like this), still refused: 403."""
    business, _ = await create_business()
    params = dial_status_params(call_sid(), CALLER, business.phone_number, "no-answer")
    body = urlencode(params).encode() + b"&Body=caf\xe9"
    token = get_settings().twilio_auth_token.get_secret_value()
    signature = hmac_signature(token, signed_bytes(PUBLIC + DIAL_STATUS, form_pairs(body)))
    await assert_rejected(
        await post("voice_dial_status", raw_request(DIAL_STATUS, body, signature))
    )


def hmac_signature(token: str, data: bytes) -> str:
    return base64.b64encode(hmac.new(token.encode(), data, hashlib.sha1).digest()).decode()


form_text = st.text(st.characters(codec="utf-8"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.sampled_from(["A", "B", "Body", "é", "Z"]) | form_text, form_text),
        max_size=8,
    ),
    query=st.sampled_from(["", "code=abc", "a=1&b=%20x"]),
)
def test_the_byte_level_check_agrees_with_the_sdk_on_any_form(pairs, query):
    """Our HMAC over the raw bytes equals the SDK's `compute_signature` over the decoded form,
    repeated names included (UTF-8 sorts bytes as code points sort)."""
    url = PUBLIC + DIAL_STATUS + (f"?{query}" if query else "")
    body = urlencode(pairs).encode()
    expected = RequestValidator("token").compute_signature(url, MultiDict(pairs))
    assert hmac_signature("token", signed_bytes(url, form_pairs(body))) == expected
