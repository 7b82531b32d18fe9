"""Status callbacks: each ErrorCode Twilio reports for a text we sent, and what it changes.

One table, as REFERENCE.md lists the codes: a verdict about the number is remembered on the
contact (and then nothing texts it), a sender-configuration refusal pauses the business's
automated texts until the operator resumes them, and the rest are only recorded on the message.
"""

from __future__ import annotations

import json
import logging
import secrets

import azure.functions as func
import pytest

from shared_code import contracts
from shared_code.calls.handler import handle_call_report
from shared_code.contracts import CallReport
from shared_code.messaging.delivery_status import record_status
from shared_code.platform.db import get_pool
from tests.helpers import (
    call_sid,
    create_business,
    deliver_events,
    drain_messages_queue,
    post,
    text_in,
    twilio_request,
)

CUSTOMER = "+13125550123"

# ErrorCode -> what it leaves behind besides the code on the message.
EFFECTS = {
    21610: {"opted_out"},
    30006: {"landline"},
    30004: {"undeliverable"},  # blocked by the recipient
    30005: {"undeliverable"},  # unknown handset
    30034: {"paused"},  # unregistered 10DLC
    30032: {"paused"},  # toll-free not verified
    30007: set(),  # carrier filtered
    30036: set(),  # validity period expired
    30003: set(),  # unreachable (transient)
    30022: set(),  # 10DLC throughput (transient)
}


async def _say(business, body: str) -> None:
    await text_in(CUSTOMER, business.phone_number, body)
    await drain_messages_queue()


async def _effects(business) -> set[str]:
    pool = await get_pool()
    contact = await pool.fetchrow(
        "SELECT opted_out_at, is_landline, undeliverable_at FROM contacts"
        " WHERE business_id = $1 AND phone = $2",
        business.id, CUSTOMER,
    )  # fmt: skip
    paused = await pool.fetchval(
        "SELECT sending_paused_reason FROM businesses WHERE id = $1", business.id
    )
    found = {"paused"} if paused else set()
    if contact["opted_out_at"] is not None:
        found.add("opted_out")
    if contact["is_landline"]:
        found.add("landline")
    if contact["undeliverable_at"] is not None:
        found.add("undeliverable")
    return found


def _missed_call(business) -> CallReport:
    return CallReport(
        call_sid=call_sid(), from_number=CUSTOMER, to_number=business.phone_number,
        source="dial-status", dial_status="no-answer",
    )  # fmt: skip


@pytest.mark.parametrize("code", sorted(EFFECTS))
async def test_each_error_code_leaves_what_it_means_and_nothing_else(stack, caplog, code):
    business, _ = await create_business()
    await _say(business, "my sink is leaking")
    [reply] = stack.twilio.to(CUSTOMER)
    caplog.set_level(logging.INFO, logger="shared_code.messaging.delivery_status")
    await record_status(reply["sid"], "undelivered", code)
    assert await _effects(business) == EFFECTS[code]
    pool = await get_pool()
    message = await pool.fetchrow(
        "SELECT status, error_code FROM messages WHERE message_sid = $1", reply["sid"]
    )
    assert dict(message) == {"status": "undelivered", "error_code": code}
    [line] = [
        r for r in caplog.records
        if r.name == "shared_code.messaging.delivery_status" and str(code) in r.getMessage()
    ]  # fmt: skip
    if EFFECTS[code] == {"paused"}:
        assert line.levelno == logging.ERROR and str(business.id) in line.getMessage()
    else:
        assert line.levelno in (logging.INFO, logging.WARNING)


@pytest.mark.parametrize("code", [30004, 30005])
async def test_an_undeliverable_number_gets_no_text_back_until_it_texts_us(stack, code):
    business, _ = await create_business()
    await _say(business, "my sink is leaking")
    [reply] = stack.twilio.to(CUSTOMER)
    await record_status(reply["sid"], "undelivered", code)
    pool = await get_pool()
    await pool.execute("UPDATE conversations SET status = 'closed', closed_at = now()")

    outcome = await handle_call_report(_missed_call(business))
    assert outcome.status == "suppressed_undeliverable"
    assert len(stack.twilio.to(CUSTOMER)) == 1
    [missed] = stack.topic.of_type(contracts.CallMissed.type)
    await deliver_events("notifications", [missed])
    [alert] = stack.twilio.to(business.owner_phone)
    assert "can't receive our texts" in alert["Body"]

    # A text from the number shows a working handset that wants an answer: it gets one.
    await _say(business, "did you get my message?")
    assert len(stack.twilio.to(CUSTOMER)) == 2
    assert await _effects(business) == set()


def _patch(business_id, key: str, body: dict) -> func.HttpRequest:
    return func.HttpRequest(
        "PATCH", f"http://10.0.0.4:80/api/v1/businesses/{business_id}",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        route_params={"business_id": str(business_id)}, body=json.dumps(body).encode(),
    )  # fmt: skip


async def test_unregistered_sender_pauses_automated_texts_until_the_operator_resumes(stack, caplog):
    """Through the signed webhook: Twilio's 30034 pauses the business, the operator is told at
    ERROR, GET shows why, the assistant stays silent, and PATCH resume_sending lifts it."""
    business, key = await create_business()
    await _say(business, "my sink is leaking")
    [reply] = stack.twilio.to(CUSTOMER)
    params = {
        "AccountSid": stack.twilio.account_sid, "MessageSid": reply["sid"],
        "MessageStatus": "failed", "ErrorCode": "30034", "To": CUSTOMER,
        "From": business.phone_number,
    }  # fmt: skip
    caplog.set_level(logging.INFO)
    response = await post("sms_status", twilio_request("/api/sms/status", params))
    assert response.status_code == 200
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert str(business.id) in error.getMessage() and "30034" in error.getMessage()
    response = await post("patch_business", _patch(business.id, key, {}))
    shown = json.loads(response.get_body())["business"]
    assert "30034" in shown["sending_paused_reason"]

    await _say(business, "hello? anyone?")
    assert len(stack.twilio.to(CUSTOMER)) == 1  # paused: no automated reply
    # A second refusal keeps the first reason and is not a second ERROR.
    await record_status(reply["sid"], "failed", 30032)
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1

    # The operator resumes (an owner key may not: 403, still paused).
    response = await post("patch_business", _patch(business.id, key, {"resume_sending": True}))
    assert response.status_code == 403
    response = await post(
        "patch_business", _patch(business.id, stack.admin_key, {"resume_sending": True})
    )
    assert response.status_code == 200
    assert json.loads(response.get_body())["business"]["sending_paused_reason"] is None
    await _say(business, "my name is Dana")
    assert len(stack.twilio.to(CUSTOMER)) == 2


async def test_a_refused_owner_alert_pauses_its_business(stack):
    """The sender is found from the text's intent: an owner alert has no conversation."""
    business, _ = await create_business()
    assert (await handle_call_report(_missed_call(business))).status == "sent"
    await deliver_events("notifications", stack.topic.of_type(contracts.CallMissed.type))
    [alert] = stack.twilio.to(business.owner_phone)
    await record_status(alert["sid"], "undelivered", 30034)
    assert await _effects(business) == {"paused"}


async def _everything() -> dict[str, list[dict]]:
    pool = await get_pool()
    tables = ("messages", "contacts", "businesses", "notifications_sent", "outbound_texts")
    return {
        t: [dict(r) for r in await pool.fetch(f"SELECT * FROM {t} ORDER BY 1, 2")] for t in tables
    }


async def test_a_status_for_a_text_we_never_sent_changes_nothing(stack):
    business, _ = await create_business()
    await _say(business, "my sink is leaking")
    before = await _everything()
    for code in [None, *sorted(EFFECTS)]:
        await record_status("SM" + secrets.token_hex(16), "undelivered", code)
    assert await _everything() == before


@pytest.mark.parametrize("garbled", ["15005550006", "-30003", "3e4", "30 006"])
async def test_a_garbled_error_code_is_recorded_as_none_not_answered_503(stack, garbled):
    """Twilio's codes are five digits; a value the int column would refuse (found by the fuzz
    test) must not turn the callback into a 503 that Twilio retries forever."""
    business, _ = await create_business()
    await _say(business, "my sink is leaking")
    [reply] = stack.twilio.to(CUSTOMER)
    params = {
        "AccountSid": stack.twilio.account_sid, "MessageSid": reply["sid"],
        "MessageStatus": "undelivered", "ErrorCode": garbled, "To": CUSTOMER,
        "From": business.phone_number,
    }  # fmt: skip
    response = await post("sms_status", twilio_request("/api/sms/status", params))
    assert response.status_code == 200
    pool = await get_pool()
    message = await pool.fetchrow(
        "SELECT status, error_code FROM messages WHERE message_sid = $1", reply["sid"]
    )
    assert dict(message) == {"status": "undelivered", "error_code": None}
