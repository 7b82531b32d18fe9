"""A2P 10DLC through the API: the Messaging Service per business, the sending pause, and the
consent recorded for every text-back (shown with the conversation it opened)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any
from xml.etree import ElementTree

import azure.functions as func
import pytest

from shared_code.businesses import consents, store
from shared_code.calls.handler import handle_call_report
from shared_code.contracts import CallReport
from shared_code.platform.db import get_pool
from tests.helpers import (
    call_sid,
    create_business,
    dial_status_params,
    drain_calls_queue,
    drain_messages_queue,
    post,
    text_in,
    twilio_request,
)

CALLER = "+13125550123"
SERVICE = "MG" + "0123456789abcdef" * 2


def _api(
    name: str, key: str, *, business_id: Any = None, body: Any = None, conversation_id: Any = None
) -> func.HttpRequest:
    method = {"create_business": "POST", "patch_business": "PATCH"}.get(name, "GET")
    route = {"business_id": str(business_id)} if business_id else {}
    if conversation_id:
        route = {"conversation_id": str(conversation_id)}
    return func.HttpRequest(
        method, "http://10.0.0.4:80/api/v1/x",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        route_params=route, body=b"" if body is None else json.dumps(body).encode(),
    )  # fmt: skip


async def _call(name: str, request: func.HttpRequest) -> tuple[int, dict[str, Any]]:
    response = await post(name, request)
    return response.status_code, json.loads(response.get_body())


async def _create(key: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    body = {"name": "Acme", "phone_number": "+13125550100", "time_zone": "America/Chicago"}
    return await _call("create_business", _api("create_business", key, body={**body, **fields}))


async def _patch(key: str, business_id: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = _api("patch_business", key, business_id=business_id, body=body)
    return await _call("patch_business", request)


def _report(business: store.Business, **fields: Any) -> CallReport:
    """A missed call from CALLER as the calls queue carries it (fields override)."""
    values = {"call_sid": call_sid(), "from": CALLER, "to": business.phone_number,
              "source": "dial-status", "dial_status": "no-answer", **fields}  # fmt: skip
    return CallReport.model_validate(values)


async def _row(business_id: Any) -> dict[str, Any]:
    pool = await get_pool()
    return dict(await pool.fetchrow("SELECT * FROM businesses WHERE id = $1", business_id))


# --- the Messaging Service SID --------------------------------------------------------------


async def test_messaging_service_is_set_on_create_shown_patched_and_cleared(stack):
    status, created = await _create(stack.admin_key, messaging_service_sid=SERVICE)
    assert status == 201, created
    business, key = created["business"], created["owner_api_key"]
    assert business["messaging_service_sid"] == SERVICE
    assert business["sending_paused_reason"] is None
    _, read = await _call("read_business", _api("read_business", key, business_id=business["id"]))
    assert read["business"] == business

    other = "MG" + "f" * 32
    # The operator's: an owner key could otherwise send through another business's campaign.
    status, refused = await _patch(key, business["id"], {"messaging_service_sid": other})
    assert status == 403 and refused["error"]["code"] == "forbidden"
    assert (await _row(uuid.UUID(business["id"])))["messaging_service_sid"] == SERVICE
    status, patched = await _patch(
        stack.admin_key, business["id"], {"messaging_service_sid": other}
    )
    assert status == 200 and patched["business"]["messaging_service_sid"] == other
    assert (await _row(uuid.UUID(business["id"])))["messaging_service_sid"] == other

    status, cleared = await _patch(stack.admin_key, business["id"], {"messaging_service_sid": None})
    assert status == 200 and cleared["business"]["messaging_service_sid"] is None
    assert (await _row(uuid.UUID(business["id"])))["messaging_service_sid"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"messaging_service_sid": "MG123"},
        {"messaging_service_sid": "PN" + "0" * 32},  # a phone number's SID, not a service's
        {"messaging_service_sid": "MG" + "g" * 32},
        {"messaging_service_sid": "MG" + "0" * 33},
        {"messaging_service_sid": "mg" + "0" * 32},
        {"messaging_service_sid": 42},
        {"sending_paused_reason": None},  # read-only: cleared by resume_sending only
        {"resume_sending": "please"},
    ],
)
async def test_invalid_a2p_patch_is_422_and_changes_nothing(stack, body):
    business, key = await create_business()
    before = await _row(business.id)
    status, payload = await _patch(key, business.id, body)
    assert status == 422 and payload["error"]["code"] == "validation_failed"
    assert await _row(business.id) == before


async def test_resume_sending_is_not_a_create_field(stack):
    status, _ = await _create(stack.admin_key, resume_sending=True)
    assert status == 422


async def test_texts_go_through_the_service_once_it_is_set(stack):
    business, _ = await create_business()
    await _patch(stack.admin_key, business.id, {"messaging_service_sid": SERVICE})
    assert (await handle_call_report(_report(business))).status == "sent"
    [text_back] = stack.twilio.to(CALLER)
    assert text_back["MessagingServiceSid"] == SERVICE


@pytest.mark.parametrize("who", ["owner", "admin"])
async def test_only_the_operator_resumes_a_paused_business(stack, who):
    business, key = await create_business()
    pool = await get_pool()
    async with pool.acquire() as conn:
        assert await store.pause_sending(conn, business.id, "Twilio error 30034: unregistered")
    _, read = await _call("read_business", _api("read_business", key, business_id=business.id))
    assert read["business"]["sending_paused_reason"] == "Twilio error 30034: unregistered"

    caller_key = key if who == "owner" else stack.admin_key
    status, patched = await _patch(caller_key, business.id, {"resume_sending": True})
    row = await _row(business.id)
    if who == "owner":  # Twilio refused the sender: the operator fixes the registration
        assert status == 403 and row["sending_paused_reason"] == "Twilio error 30034: unregistered"
        return
    assert status == 200 and patched["business"]["sending_paused_reason"] is None
    assert row["sending_paused_at"] is None and row["sending_paused_reason"] is None


async def test_another_owner_cannot_resume_a_business(stack):
    business, _ = await create_business()
    _, other_key = await create_business(phone_number="+13125550177")
    pool = await get_pool()
    async with pool.acquire() as conn:
        await store.pause_sending(conn, business.id, "Twilio error 30034")
    status, _ = await _patch(other_key, business.id, {"resume_sending": True})
    assert status == 404
    assert (await _row(business.id))["sending_paused_reason"] == "Twilio error 30034"


# --- consent per text-back ------------------------------------------------------------------


async def _missed_call_through_webhook(business, sid: str) -> str:
    """The signed dial-status of a missed call; returns the greeting the caller heard."""
    params = dial_status_params(sid, CALLER, business.phone_number, "no-answer")
    response = await post("voice_dial_status", twilio_request("/api/voice/dial-status", params))
    assert response.status_code == 200
    say = ElementTree.fromstring(response.get_body()).find("Say")
    assert say is not None and say.text
    await drain_calls_queue()
    return say.text


async def _consents() -> list[dict[str, Any]]:
    pool = await get_pool()
    rows = await pool.fetch("SELECT * FROM text_back_consents ORDER BY recorded_at")
    return [dict(r) for r in rows]


async def test_each_text_back_has_one_consent_naming_the_greeting_heard(stack):
    business, key = await create_business()
    sid = call_sid()
    greeting = await _missed_call_through_webhook(business, sid)
    assert len(stack.twilio.to(CALLER)) == 1
    [consent] = await _consents()
    pool = await get_pool()
    call = await pool.fetchrow("SELECT received_at, conversation_id FROM calls")
    assert consent["call_sid"] == sid and consent["business_id"] == business.id
    assert consent["caller"] == CALLER and consent["consented_at"] == call["received_at"]
    assert consent["greeting_version"] == hashlib.sha256(greeting.encode()).hexdigest()[:12]

    # Redelivered (Twilio's retry, the queue's at-least-once): still the one record.
    await handle_call_report(_report(business, call_sid=sid))
    async with pool.acquire() as conn:  # a second write for the call: the first record stands
        await consents.record_text_back(conn, business, sid, "+13125550999", heard_greeting=False)
    assert await _consents() == [consent]

    status, thread = await _call(
        "read_conversation", _api("read_conversation", key, conversation_id=call["conversation_id"])
    )
    assert status == 200
    assert thread["text_back_consent"] == {
        "call_sid": sid, "caller": CALLER, "consented_at": str(consent["consented_at"]),
        "greeting_version": consent["greeting_version"],
    }  # fmt: skip


async def test_a_new_greeting_is_a_new_version(stack):
    business, key = await create_business()
    await _missed_call_through_webhook(business, call_sid())
    greeting = "{business_name} is out on a job. We'll text you."
    await _patch(key, business.id, {"templates": {"missed_call_greeting": greeting}})
    pool = await get_pool()
    await pool.execute("UPDATE conversations SET status = 'closed', closed_at = now()")
    await pool.execute("UPDATE contacts SET last_text_back_at = NULL")
    greeting = await _missed_call_through_webhook(business, call_sid())
    assert greeting == "Acme Plumbing is out on a job. We'll text you."
    first, second = await _consents()
    assert second["greeting_version"] == hashlib.sha256(greeting.encode()).hexdigest()[:12]
    assert first["greeting_version"] != second["greeting_version"]


async def test_no_text_back_no_consent_and_no_greeting_no_version(stack):
    business, _ = await create_business()
    await text_in(CALLER, business.phone_number, "STOP")
    await drain_messages_queue()
    assert (await handle_call_report(_report(business))).status == "suppressed_opted_out"
    assert await _consents() == []

    # A number that rings without forwarding reports by status callback: no greeting of ours.
    other = "+13125550144"
    unforwarded = _report(business, source="status", **{"from": other})
    assert (await handle_call_report(unforwarded)).status == "sent"
    [consent] = await _consents()
    assert consent["caller"] == other and consent["greeting_version"] is None


async def test_a_conversation_the_customer_started_has_no_text_back_consent(stack):
    business, key = await create_business()
    await text_in(CALLER, business.phone_number, "do you fix water heaters?")
    await drain_messages_queue()
    pool = await get_pool()
    conversation_id = await pool.fetchval("SELECT id FROM conversations")
    status, thread = await _call(
        "read_conversation", _api("read_conversation", key, conversation_id=conversation_id)
    )
    assert status == 200 and thread["text_back_consent"] is None
