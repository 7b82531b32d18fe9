"""Signed webhooks carrying what Twilio would never send: answered (never a 5xx), cleaned or
refused with a clear log line, and nothing queued that its processor would refuse (poison).

Each input here once gave a 500 or a poisoned queue message: `NumMedia=abc`, a NUL in
`MessageSid`, a dial-status with no CallSid, a field that makes the queue message exceed 64 KiB.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import pytest

from shared_code.platform import queues
from shared_code.platform.twilio_webhooks import hand_off
from tests.helpers import (
    call_sid,
    dial_status_params,
    message_sid,
    post,
    queued,
    sms_params,
    twilio_request,
)

CALLER = "+13125550123"
BUSINESS = "+15005550006"


async def text_in(caplog: pytest.LogCaptureFixture, **params: str):
    """Signed inbound text with `params` over the usual ones; returns (response, queued)."""
    caplog.set_level(logging.INFO)
    request = twilio_request("/api/sms/incoming", {**sms_params(CALLER, BUSINESS, "hi"), **params})
    response = await post("sms_incoming", request)
    assert response.status_code == 200 and response.mimetype == "application/xml"
    return response, await queued(queues.MESSAGES_QUEUE)


async def dial_status(caplog: pytest.LogCaptureFixture, params: dict[str, str]):
    caplog.set_level(logging.INFO)
    response = await post("voice_dial_status", twilio_request("/api/voice/dial-status", params))
    assert response.status_code == 200 and response.mimetype == "application/xml"
    return ET.fromstring(response.get_body()), await queued()


async def test_non_numeric_media_count_is_ignored_with_a_log_line(stack, caplog):
    _, [task] = await text_in(caplog, NumMedia="abc", MediaUrl0="https://api.twilio.com/m/1")
    assert task["body"] == "hi" and task["media"] == []
    assert "ignored NumMedia='abc'" in caplog.text


async def test_nul_characters_are_removed_from_the_form_with_a_log_line(stack, caplog):
    sid = message_sid()
    _, [task] = await text_in(caplog, MessageSid=sid[:10] + "\x00" + sid[10:], Body="a\x00b")
    assert task["message_sid"] == sid and task["body"] == "ab"
    assert "removed NUL characters from webhook parameter 'MessageSid'" in caplog.text


async def test_an_overlong_media_url_is_dropped_and_the_text_still_queued(stack, caplog):
    huge = "https://api.twilio.com/" + "m" * 100_000
    _, [task] = await text_in(
        caplog, NumMedia="2", MediaUrl0=huge, MediaUrl1="https://api.twilio.com/m/2"
    )
    assert [m["url"] for m in task["media"]] == ["https://api.twilio.com/m/2"]
    assert "dropped MediaUrl0" in caplog.text


async def test_a_body_over_twilios_1600_characters_is_cut_with_a_log_line(stack, caplog):
    _, [task] = await text_in(caplog, Body="x" * 5000)
    assert task["body"] == "x" * 1600
    assert "cut Body of 5000 characters to 1600" in caplog.text


async def test_opt_out_type_is_passed_to_the_responder(stack, caplog):
    _, [stop] = await text_in(caplog, Body="STOP", OptOutType="STOP")
    assert stop["opt_out_type"] == "STOP"
    _, tasks = await text_in(caplog, Body="hello")
    assert tasks[-1]["opt_out_type"] is None


@pytest.mark.parametrize("params", [{"MessageSid": ""}, {"MessageSid": "not-a-sid"}])
async def test_a_text_without_a_valid_message_sid_is_answered_and_nothing_queued(
    stack, caplog, params
):
    _, tasks = await text_in(caplog, **params)
    assert tasks == []
    assert "inbound text not queued" in caplog.text


async def test_a_dial_status_without_call_sid_gets_the_greeting_and_queues_nothing(stack, caplog):
    from tests.helpers import create_business

    business, _ = await create_business()
    params = dial_status_params("", CALLER, business.phone_number, "no-answer")
    del params["CallSid"]
    root, tasks = await dial_status(caplog, params)
    assert business.name in (root.findtext("Say") or "")
    assert tasks == [] and await queued(f"{queues.CALLS_QUEUE}-poison") == []
    assert "call report not queued: invalid call_sid" in caplog.text


@pytest.mark.parametrize(
    ("duration", "queued_as"),
    [("-5", None), ("abc", None), ("1e3", None), ("9" * 5000, 999_999_999), ("42", 42)],
)
async def test_a_duration_that_is_not_a_count_is_dropped_with_a_log_line(
    stack, caplog, duration, queued_as
):
    sid = call_sid()
    params = dial_status_params(sid, CALLER, BUSINESS, "completed", DialCallDuration=duration)
    _, [task] = await dial_status(caplog, params)
    assert task["call_sid"] == sid and task["duration"] == queued_as
    if queued_as is None:
        assert "ignored DialCallDuration" in caplog.text


async def test_an_overlong_status_is_cut_and_an_overlong_caller_dropped(stack, caplog):
    sid = call_sid()
    params = dial_status_params(sid, "+1" * 100, BUSINESS, "no-answer" + "x" * 100)
    _, [task] = await dial_status(caplog, params)
    assert task["dial_status"] == ("no-answer" + "x" * 100)[:32] and task["from"] == ""
    assert "dropped From of 200 characters" in caplog.text


@pytest.mark.parametrize("function_name", ["sms_incoming", "voice_dial_status"])
async def test_a_body_over_256_kib_is_refused_unread(stack, function_name):
    params = sms_params(CALLER, BUSINESS, "x" * 300_000)
    route = "/api/sms/incoming" if function_name == "sms_incoming" else "/api/voice/dial-status"
    response = await post(function_name, twilio_request(route, params))
    assert response.status_code == 413 and response.mimetype == "application/xml"
    assert await queued(queues.MESSAGES_QUEUE) == [] and await queued() == []


async def test_a_task_over_the_queues_64_kib_is_refused_with_a_log_line(stack, caplog):
    """No put could ever succeed (the service refuses it), and the inbox would only keep
    retrying it: the webhook logs it and answers; nothing is queued or kept."""
    with pytest.raises(queues.MessageTooLarge):
        queues.message_text({"body": "x" * 50_000})
    assert queues.message_text({"body": "x" * 40_000})  # 53 kB as base64: fits
    caplog.set_level(logging.INFO)
    assert await hand_off(queues.MESSAGES_QUEUE, "wh:sms:big", {"body": "x" * 50_000})
    assert await queued(queues.MESSAGES_QUEUE) == []
    assert "refused wh:sms:big: queue message would be" in caplog.text
    assert "(limit 65536)" in caplog.text
