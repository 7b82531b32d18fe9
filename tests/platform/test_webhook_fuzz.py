"""No input earns a 5xx: a hypothesis fuzz of every HTTP route the app registers.

Twilio routes get arbitrary bytes and arbitrary forms (Twilio's parameter names with plausible
and arbitrary values), unsigned or signed over exactly what is sent, so the handlers behind the
signature check are fuzzed too. The /api/v1 routes get arbitrary bodies, ids and query
parameters, with no key, a wrong key, an owner key and the admin key. The routes are read from
the function app, so a new route is fuzzed without touching this file. Everything runs against
the suite's real servers; nothing is down, so a 5xx (the webhooks' deliberate 503 included) is a
bug. Examples are bounded to keep the whole module to a few seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from functools import cache
from urllib.parse import quote, urlencode

import azure.functions as func
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings
from shared_code.platform.twilio_webhooks import form_pairs, signed_bytes
from tests.helpers import app_function, create_business

BUSINESS = "+15005550006"
TWILIO_EXAMPLES, API_EXAMPLES = 80, 25  # per route


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))


@cache
def http_routes() -> dict[str, tuple[str, str]]:
    """Every HTTP function of the app: name -> (route, method)."""
    import function_app
    from devhost.catalog import get_functions_once

    routes = {}
    for fn in get_functions_once(function_app.app):
        for binding in fn.get_bindings():
            if binding.type == "httpTrigger":
                method = next(iter(binding.methods or ["GET"]))
                routes[fn.get_function_name()] = (
                    binding.route,
                    str(getattr(method, "value", method)),
                )
    return routes


def twilio_routes() -> list[str]:
    return sorted(
        n for n, (route, _) in http_routes().items() if route.startswith(("voice/", "sms/"))
    )


def api_routes() -> list[str]:
    return sorted(n for n, (route, _) in http_routes().items() if route.startswith("v1/"))


# --- Twilio routes ----------------------------------------------------------------------------

TWILIO_NAMES = [
    "AccountSid", "CallSid", "MessageSid", "SmsSid", "From", "To", "Body", "NumMedia",
    "NumSegments", "MediaUrl0", "MediaContentType0", "MediaUrl1", "DialCallStatus",
    "DialCallDuration", "DialCallSid", "CallStatus", "CallDuration", "AnsweredBy",
    "MessageStatus", "SmsStatus", "ErrorCode", "OptOutType", "MessagingServiceSid",
    "ParentCallSid", "Digits", "DialBridged", "MachineDetectionDuration", "RecordingSid",
    "RecordingUrl", "RecordingStatus", "RecordingDuration", "TranscriptionSid",
    "TranscriptionText", "TranscriptionStatus",
]  # fmt: skip
VALUES = st.sampled_from(
    [
        "CA" + "a" * 32, "SM" + "b" * 32, "MM" + "c" * 32, BUSINESS, "+13125550123", "no-answer",
        "busy", "completed", "failed", "delivered", "undelivered", "30006", "21610", "30034",
        "STOP", "HELP", "machine_start", "0", "10", "-1", "abc", "1e3", "9" * 5000,
        "https://api.twilio.com/m/1", "ftp://x", "", " ", "\x00", "SM\x00", "é", "😀",
    ]
) | st.text(max_size=40) | st.text(min_size=1590, max_size=1700)  # fmt: skip


def _valid_webhook(call: uuid.UUID, text: uuid.UUID) -> dict[str, str]:
    """What any of the Twilio routes would accept: a fresh CallSid and MessageSid each time."""
    return {
        "AccountSid": "AC" + "0" * 32, "CallSid": "CA" + call.hex, "MessageSid": "SM" + text.hex,
        "From": "+13125550123", "To": BUSINESS, "Body": "hello", "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/m/1", "MediaContentType0": "image/jpeg",
        "DialCallStatus": "no-answer", "DialCallDuration": "0", "CallStatus": "completed",
        "CallDuration": "3", "MessageStatus": "undelivered", "ErrorCode": "30006",
        "ParentCallSid": "CA" + text.hex, "Digits": "1", "DialBridged": "false",
        "RecordingSid": "RE" + call.hex, "RecordingStatus": "completed", "RecordingDuration": "9",
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "TranscriptionStatus": "completed", "TranscriptionText": "call me",
    }  # fmt: skip


# One webhook with a few fields replaced, added or left out: the handlers' paths, not just
# the door's.
FORM = st.builds(
    lambda call, text, changed, dropped: {
        name: value
        for name, value in {**_valid_webhook(call, text), **changed}.items()
        if name not in dropped
    },
    st.uuids(),
    st.uuids(),
    st.dictionaries(st.sampled_from(TWILIO_NAMES), VALUES, max_size=4)
    | st.dictionaries(st.text(max_size=12), VALUES, max_size=2),
    st.sets(st.sampled_from(TWILIO_NAMES), max_size=3),
)
BODY = st.one_of(FORM.map(lambda form: urlencode(form).encode()), st.binary(max_size=400))


def signature_for(path: str, query: str, body: bytes) -> str:
    """A valid X-Twilio-Signature over exactly these bytes (as if Twilio had sent them)."""
    url = get_settings().public_base_url + path + (f"?{query}" if query else "")
    token = get_settings().twilio_auth_token.get_secret_value().encode()
    digest = hmac.new(token, signed_bytes(url, form_pairs(body)), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@pytest.mark.parametrize("name", twilio_routes())
@fuzz(TWILIO_EXAMPLES)
@given(
    body=BODY,
    signed=st.sampled_from([True, True, True, False]),
    query=st.sampled_from(
        ["", "code=abc", "x=%ff", "parent=CA" + "d" * 32, "parent=%ff&business=1"]
    ),
)
async def test_no_twilio_route_answers_any_input_with_a_5xx(stack, name, body, signed, query):
    route, method = http_routes()[name]
    path = f"/api/{route}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signed:
        headers["X-Twilio-Signature"] = signature_for(path, query, body)
    url = "http://10.0.0.4:80" + path + (f"?{query}" if query else "")
    response = await app_function(name)(func.HttpRequest(method, url, headers=headers, body=body))
    event(f"{name} {response.status_code}")
    assert response.status_code < 500, (name, body, response.get_body())
    assert response.mimetype == "application/xml"


# --- /api/v1 routes ---------------------------------------------------------------------------

_owner_keys: dict[uuid.UUID, str] = {}


async def owner() -> tuple[uuid.UUID, str]:
    """The fuzzed business and its owner key (created once per test; tables are wiped between)."""
    business_id = await (await get_pool()).fetchval(
        "SELECT id FROM businesses WHERE phone_number = $1", BUSINESS
    )
    if business_id is None or business_id not in _owner_keys:
        business, key = await create_business(phone_number=BUSINESS)
        business_id, _owner_keys[business.id] = business.id, key
    return business_id, _owner_keys[business_id]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
API_FIELDS = [
    "name", "phone_number", "owner_phone", "time_zone", "weekly_hours", "templates", "body",
    "amount_micro", "ring_timeout_seconds", "blocked_numbers", "faq", "messaging_service_sid",
    "reason", "kind", "text", "idempotency_key",
]  # fmt: skip
API_BODY = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.sampled_from(API_FIELDS), JSON, max_size=5).map(
        lambda d: json.dumps(d).encode()
    ),
)
QUERY = st.dictionaries(
    st.sampled_from(["from", "to", "since", "until", "limit", "cursor", "status", "format", "day"])
    | st.text(max_size=8),
    st.sampled_from(["2026-01-01", "2026-13-40", "-1", "0", "100000", "csv", "json", "open"])
    | st.text(max_size=20),
    max_size=4,
)
ID = st.sampled_from(["business", "random-uuid", "not-a-uuid", ""]) | st.text(max_size=40)
AUTH = st.sampled_from(["none", "garbage", "owner", "owner", "admin", "admin"])


@pytest.mark.parametrize("name", api_routes())
@fuzz(API_EXAMPLES)
@given(body=API_BODY, query=QUERY, given_id=ID, auth=AUTH)
async def test_no_api_route_answers_any_input_with_a_5xx(stack, name, body, query, given_id, auth):
    business_id, owner_key = await owner()
    route, method = http_routes()[name]
    ident = {"business": str(business_id), "random-uuid": str(uuid.uuid4())}.get(given_id, given_id)
    params = {p: ident for p in re.findall(r"\{(\w+)\}", route)}  # every path parameter
    path = route.format(**{p: quote(v, safe="") for p, v in params.items()})
    headers = {
        "none": {},
        "garbage": {"Authorization": "Bearer nope"},
        "owner": {"Authorization": f"Bearer {owner_key}"},
        "admin": {"Authorization": f"Bearer {stack.admin_key}"},
    }[auth]
    headers["Content-Type"] = "application/json"
    request = func.HttpRequest(
        method, f"http://localhost/api/{path}", headers=headers,
        params=query, route_params=params, body=body,
    )  # fmt: skip
    response = await app_function(name)(request)
    event(f"{name} {response.status_code}")
    assert response.status_code < 500, (name, auth, params, query, body, response.get_body())
