"""STOP and friends: an opted-out number is never texted again by anything, until it opts in."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared_code.calls.handler import handle_call_report
from shared_code.contracts import CallReport
from shared_code.messaging.delivery_status import record_status
from shared_code.platform.db import get_pool
from tests.helpers import call_sid, create_business, drain_messages_queue, text_in

CUSTOMER = "+13125550123"
EXACT_OPT_OUTS = ["STOP", "stop", "StopAll", "UNSUBSCRIBE", "cancel", "END", "quit", " Stop. "]
NATURAL_OPT_OUTS = ["stop texting me", "Please remove me from your list", "don't text me again"]


async def _opted_out(business) -> bool:
    pool = await get_pool()
    return bool(
        await pool.fetchval(
            "SELECT opted_out_at IS NOT NULL FROM contacts WHERE business_id = $1 AND phone = $2",
            business.id, CUSTOMER,
        )
    )  # fmt: skip


async def _say(business, body: str) -> None:
    await text_in(CUSTOMER, business.phone_number, body)
    await drain_messages_queue()


@pytest.mark.parametrize("keyword", EXACT_OPT_OUTS)
async def test_exact_keyword_opts_out_without_our_own_confirmation(stack, keyword):
    business, _ = await create_business()
    await _say(business, "my sink is leaking")
    assert len(stack.twilio.to(CUSTOMER)) == 1
    await _say(business, keyword)
    assert await _opted_out(business)
    assert len(stack.twilio.to(CUSTOMER)) == 1  # Twilio confirms its own keywords
    await _say(business, "hello? anyone?")
    assert len(stack.twilio.to(CUSTOMER)) == 1
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM conversations WHERE status = 'open'") == 0


@pytest.mark.parametrize("phrase", NATURAL_OPT_OUTS)
async def test_natural_opt_out_gets_one_confirmation_then_silence(stack, phrase):
    business, _ = await create_business()
    await _say(business, phrase)
    assert await _opted_out(business)
    [confirmation] = stack.twilio.to(CUSTOMER)
    assert "unsubscribed" in confirmation["Body"] and "START" in confirmation["Body"]
    await _say(business, phrase)  # saying it again gets no second confirmation
    await _say(business, "are you there")
    assert len(stack.twilio.to(CUSTOMER)) == 1


async def test_sink_that_wont_stop_is_not_an_opt_out(stack):
    business, _ = await create_business()
    await _say(business, "my sink won't stop leaking")
    assert not await _opted_out(business)
    assert len(stack.twilio.to(CUSTOMER)) == 1


async def test_opted_out_caller_gets_no_text_back_and_start_opts_back_in(stack):
    business, _ = await create_business()
    await _say(business, "STOP")
    report = CallReport(
        call_sid=call_sid(), from_number=CUSTOMER, to_number=business.phone_number,
        source="dial-status", dial_status="no-answer",
    )  # fmt: skip
    assert (await handle_call_report(report)).status == "suppressed_opted_out"
    assert stack.twilio.to(CUSTOMER) == []
    await _say(business, "START")
    assert not await _opted_out(business)
    await _say(business, "I need a plumber")
    assert len(stack.twilio.to(CUSTOMER)) == 1


async def test_yes_mid_conversation_is_an_answer_not_an_opt_in(stack):
    business, _ = await create_business()
    await _say(business, "my pipe burst")
    await _say(business, "yes")
    assert len(stack.twilio.to(CUSTOMER)) == 2


async def _stored(body: str) -> int:
    pool = await get_pool()
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM messages WHERE author = 'customer' AND body = $1", body
        )
    )


@pytest.mark.parametrize("keyword", ["HELP", "help", "Info"])
async def test_exact_help_is_recorded_and_answered_by_twilio_alone(stack, keyword):
    """Twilio answers the bare HELP/INFO itself: a second answer from us was the bug."""
    business, _ = await create_business(name="Acme Plumbing")
    await _say(business, keyword)
    assert stack.twilio.to(CUSTOMER) == []
    assert await _stored(keyword) == 1  # the owner sees it in the conversation
    assert not await _opted_out(business)


async def test_help_in_words_is_an_ordinary_text_we_answer(stack):
    business, _ = await create_business()
    await _say(business, "help?")
    assert len(stack.twilio.to(CUSTOMER)) == 1


async def _say_with_verdict(business, body: str, opt_out_type: str) -> None:
    """A text to a number in a Messaging Service with Advanced Opt-Out: Twilio adds its verdict."""
    await text_in(CUSTOMER, business.phone_number, body, OptOutType=opt_out_type)
    await drain_messages_queue()


async def test_twilio_stop_verdict_on_a_keyword_we_dont_know_opts_out_silently(stack):
    business, _ = await create_business()
    await _say(business, "my sink is leaking")
    assert len(stack.twilio.to(CUSTOMER)) == 1
    await _say_with_verdict(business, "ARRET", "STOP")  # a French keyword added in the console
    assert await _opted_out(business)
    assert len(stack.twilio.to(CUSTOMER)) == 1  # Twilio confirmed it, not us
    report = CallReport(
        call_sid=call_sid(), from_number=CUSTOMER, to_number=business.phone_number,
        source="dial-status", dial_status="no-answer",
    )  # fmt: skip
    assert (await handle_call_report(report)).status == "suppressed_opted_out"


async def test_twilio_start_and_help_verdicts_are_recorded_not_answered(stack):
    business, _ = await create_business()
    await _say(business, "my sink is leaking")
    assert len(stack.twilio.to(CUSTOMER)) == 1
    await _say_with_verdict(business, "yes", "START")  # Twilio sent its confirmation already
    await _say_with_verdict(business, "AIDE", "HELP")
    assert len(stack.twilio.to(CUSTOMER)) == 1
    assert await _stored("yes") == 1 and await _stored("AIDE") == 1
    await _say_with_verdict(business, "COMMENCER", "START")
    assert not await _opted_out(business)


async def test_twilio_start_verdict_opts_back_in_without_our_confirmation(stack):
    business, _ = await create_business()
    await _say(business, "STOP")
    await _say_with_verdict(business, "COMMENCER", "START")
    assert not await _opted_out(business)
    assert stack.twilio.to(CUSTOMER) == []
    await _say(business, "I need a plumber")
    assert len(stack.twilio.to(CUSTOMER)) == 1


async def test_carrier_opt_out_error_21610_marks_the_number(stack):
    business, _ = await create_business()
    await _say(business, "need a quote")
    [reply] = stack.twilio.to(CUSTOMER)
    await record_status(reply["sid"], "failed", 21610)
    assert await _opted_out(business)
    await _say(business, "hello")
    assert len(stack.twilio.to(CUSTOMER)) == 1


STEPS = st.lists(
    st.sampled_from(
        ["STOP", "stop texting me", "START", "hi there", "my sink is leaking", "Dana", "yes",
         "HELP", "<missed call>", "<owner texts>", "UNSTOP", "quit"]
    ),
    min_size=1,
    max_size=8,
)  # fmt: skip


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=STEPS)
async def test_property_no_text_reaches_an_opted_out_number(stack, steps):
    """Whatever happens, every text to the customer was sent while they were opted in
    (except the single confirmation of a natural-language opt-out)."""
    from tests.conftest import TABLES

    pool = await get_pool()
    await pool.execute(f"TRUNCATE {TABLES} CASCADE")
    stack.twilio.reset()
    business, _ = await create_business()
    for step in steps:
        before = await _opted_out(business)
        sent_before = len(stack.twilio.to(CUSTOMER))
        if step == "<missed call>":
            report = CallReport(
                call_sid=call_sid(), from_number=CUSTOMER, to_number=business.phone_number,
                source="dial-status", dial_status="busy",
            )  # fmt: skip
            await handle_call_report(report)
        elif step == "<owner texts>":
            await text_in(business.owner_phone, business.phone_number, "On my way")
            await drain_messages_queue()
        else:
            await _say(business, step)
        new = stack.twilio.to(CUSTOMER)[sent_before:]
        if before:
            allowed_opt_in = step in ("START", "UNSTOP")
            assert all(allowed_opt_in for _ in new), (steps, step, new)
        elif await _opted_out(business):
            assert all("unsubscribed" in m["Body"] for m in new), (steps, step, new)
