"""Sending after commit against a Twilio that answers as Twilio does: refusals by code, rate
limits, 5xx, timeouts after it accepted, and the Messaging Service path.

Each test drives a real flow (a missed call, a customer text) through the handlers, with the
local Twilio server refusing or delaying chosen recipients, and checks what a user would see:
the owner still alerted, the contact marked, the business paused, one text and never two.
"""

from __future__ import annotations

import asyncio

from shared_code import contracts
from shared_code.businesses.store import get_business
from shared_code.calls.handler import handle_call_report
from shared_code.contracts import CallReport
from shared_code.messaging.delivery import send_unsent, stale_after_seconds
from shared_code.platform import twilio_client
from shared_code.platform.db import get_pool
from tests.helpers import call_sid, create_business, deliver_events

CALLER = "+13125550123"


async def _missed_call(business, caller: str = CALLER) -> str:
    report = CallReport(
        call_sid=call_sid(), from_number=caller, to_number=business.phone_number,
        source="dial-status", dial_status="no-answer",
    )  # fmt: skip
    return (await handle_call_report(report)).status


async def _contact(business, phone: str = CALLER):
    pool = await get_pool()
    return await pool.fetchrow(
        "SELECT * FROM contacts WHERE business_id = $1 AND phone = $2", business.id, phone
    )


async def _intents() -> list:
    pool = await get_pool()
    return await pool.fetch("SELECT * FROM outbound_texts ORDER BY id")


async def _alert_owner(stack, business) -> list:
    await deliver_events("notifications", stack.topic.of_type(contracts.CallMissed.type))
    return stack.twilio.to(business.owner_phone)


async def test_opted_out_at_the_carrier_still_alerts_the_owner_and_records_the_opt_out(stack):
    """21610 used to roll back the whole call (and its alert) into the poison queue."""
    business, _ = await create_business()
    stack.twilio.refuse[CALLER] = (400, 21610)
    assert await _missed_call(business) == "sent"  # decided; Twilio's answer comes after
    [intent] = await _intents()
    assert (intent["status"], intent["error_code"]) == ("failed", 21610)
    assert (await _contact(business))["opted_out_at"] is not None
    [missed] = stack.topic.of_type(contracts.CallMissed.type)
    assert missed["data"]["call_sid"]
    assert len(await _alert_owner(stack, business)) == 1
    # The next call from that number is not texted at all (the contact rule now knows).
    assert await _missed_call(business) == "suppressed_opted_out"
    assert [i["kind"] for i in await _intents() if i["to_number"] == CALLER] == ["text_back"]


async def test_not_a_mobile_number_is_marked_landline_and_never_retried(stack, configure):
    configure(SEND_RETRY_AFTER_SECONDS="0")
    business, _ = await create_business()
    stack.twilio.refuse[CALLER] = (400, 21614)
    await _missed_call(business)
    assert (await _contact(business))["is_landline"] is True
    assert await send_unsent() == 0  # a refusal is final: the sweep leaves it alone
    [intent] = await _intents()
    assert (intent["status"], intent["attempts"]) == ("failed", 1)


async def test_an_invalid_number_is_marked_undeliverable_and_not_texted_again(stack):
    business, _ = await create_business()
    stack.twilio.refuse[CALLER] = (400, 21211)
    await _missed_call(business)
    contact = await _contact(business)
    assert (contact["undeliverable_at"] is not None, contact["undeliverable_code"]) == (True, 21211)
    assert await _missed_call(business) == "suppressed_undeliverable"


async def test_unregistered_sender_pauses_automated_texts_and_keeps_owner_alerts(stack, caplog):
    business, _ = await create_business()
    stack.twilio.refuse[CALLER] = (400, 30034)
    await _missed_call(business)
    paused = await get_business(business.id)
    assert paused is not None and "30034" in (paused.sending_paused_reason or "")
    assert any("sender configuration" in r.getMessage() for r in caplog.records)
    # The owner is still told (an alert is not an automated customer text).
    assert len(await _alert_owner(stack, business)) == 1
    # Another caller gets no text-back attempt at all while paused: nothing is sent blindly.
    other = "+13125550177"
    assert await _missed_call(business, other) == "suppressed_sending_paused"
    assert stack.twilio.to(other) == []


async def test_rate_limited_send_is_retried_within_the_delivery(stack):
    business, _ = await create_business()
    stack.twilio.fail_next, stack.twilio.fail_status, stack.twilio.fail_code = 2, 429, 20429
    try:
        await _missed_call(business)
    finally:
        stack.twilio.fail_status, stack.twilio.fail_code = 500, 20500
    assert len(stack.twilio.to(CALLER)) == 1
    [intent] = await _intents()
    assert (intent["status"], intent["attempts"]) == ("sent", 1)


async def test_a_5xx_from_a_request_twilio_acted_on_is_looked_up_not_resent(stack):
    """A 5xx does not say the text was not sent: the retry looks first, finds it, sends none."""
    business, _ = await create_business()
    stack.twilio.fail_after_accept[CALLER] = (500, 20500, 1)
    await _missed_call(business)
    assert len(stack.twilio.to(CALLER)) == 1
    [intent] = await _intents()
    assert (intent["status"], intent["message_sid"]) == ("sent", stack.twilio.to(CALLER)[0]["sid"])
    assert stack.twilio.list_requests == 1


async def test_a_retry_rechecks_the_rules_before_sending(stack, configure):
    """The customer opted out between the failed send and the sweep: the sweep sends nothing."""
    configure(SEND_RETRY_AFTER_SECONDS="0", TWILIO_TIMEOUT_SECONDS="0.2")
    business, _ = await create_business()
    stack.twilio.fail_next = 3
    await _missed_call(business)
    pool = await get_pool()
    await pool.execute("UPDATE contacts SET opted_out_at = now() WHERE phone = $1", CALLER)
    await asyncio.sleep(stale_after_seconds())
    assert await send_unsent() == 0
    assert stack.twilio.to(CALLER) == []
    [intent] = await _intents()
    assert (intent["status"], intent["error"]) == ("failed", "blocked: opted_out")


async def test_a_timeout_after_twilio_accepted_is_looked_up_not_resent(stack, configure):
    """Twilio has the text but we never heard back: the sweep finds it at Twilio and marks it
    instead of sending a second one."""
    configure(TWILIO_TIMEOUT_SECONDS="0.5", SEND_RETRY_AFTER_SECONDS="0")
    await twilio_client.close_client()  # rebuilt with the short timeout
    business, _ = await create_business()
    stack.twilio.slow_after_accept[CALLER] = 1.5
    try:
        await _missed_call(business)
        [intent] = await _intents()
        assert intent["status"] == "sending"  # outcome unknown: not marked, not failed
        assert len(stack.twilio.to(CALLER)) == 1
        lookups = stack.twilio.list_requests
        assert await send_unsent() == 0  # a claim this young may still be alive: left alone
        await asyncio.sleep(stale_after_seconds())
        assert await send_unsent() == 1
        assert stack.twilio.list_requests == lookups + 1
    finally:
        await twilio_client.close_client()
    assert len(stack.twilio.to(CALLER)) == 1  # one text, never two
    [intent] = await _intents()
    assert (intent["status"], intent["message_sid"]) == ("sent", stack.twilio.to(CALLER)[0]["sid"])
    assert len(stack.topic.of_type(contracts.MessageSent.type)) == 1


async def test_a_timeout_before_twilio_accepted_is_resent_once(stack, configure):
    configure(TWILIO_TIMEOUT_SECONDS="0.5", SEND_RETRY_AFTER_SECONDS="0")
    await twilio_client.close_client()
    business, _ = await create_business()
    stack.twilio.delay_seconds = 1.5  # held before Twilio records anything
    stack.twilio.fail_next = 1  # ...and then refused: it never reached Twilio's queue
    try:
        await _missed_call(business)
    finally:
        stack.twilio.delay_seconds = 0
        await twilio_client.close_client()
    assert stack.twilio.to(CALLER) == []
    await asyncio.sleep(stale_after_seconds())
    lookups = stack.twilio.list_requests
    assert await send_unsent() == 1  # looked up (absent), then sent
    assert stack.twilio.list_requests == lookups + 1
    assert await send_unsent() == 0
    assert len(stack.twilio.to(CALLER)) == 1


async def test_messaging_service_sends_without_from_and_with_a_validity_period(stack):
    service = "MG" + "ab" * 16
    business, _ = await create_business()
    pool = await get_pool()
    await pool.execute(
        "UPDATE businesses SET messaging_service_sid = $2 WHERE id = $1", business.id, service
    )
    await _missed_call(await get_business(business.id))
    [sent] = stack.twilio.to(CALLER)
    assert sent["MessagingServiceSid"] == service
    assert "From" not in sent
    assert sent["ValidityPeriod"] == "3600"  # a stale text-back is worse than none
