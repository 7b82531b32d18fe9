"""The missed-call path end to end in process: webhook -> queue -> handler -> text + events."""

from __future__ import annotations

from shared_code import contracts
from tests.helpers import (
    call_sid,
    create_business,
    dial_status_params,
    drain_calls_queue,
    post,
    queued,
    twilio_request,
)

CALLER = "+13125550123"


async def test_no_answer_texts_the_caller_back_once_and_opens_a_conversation(stack):
    business, _ = await create_business()
    sid = call_sid()
    request = twilio_request(
        "/api/voice/dial-status",
        dial_status_params(sid, CALLER, business.phone_number, "no-answer", DialCallDuration="0"),
    )
    response = await post("voice_dial_status", request)
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert b"<Say>" in response.get_body() and b"<Hangup" in response.get_body()

    assert await drain_calls_queue() == 1
    texts = stack.twilio.to(CALLER)
    assert len(texts) == 1
    assert texts[0]["From"] == business.phone_number
    assert "Acme Plumbing" in texts[0]["Body"] and "STOP" in texts[0]["Body"]
    # Twilio is told where to report delivery, with its connection overrides (retry on 5xx).
    callback, _, overrides = texts[0]["StatusCallback"].partition("#")
    assert callback == "https://nevermiss.example.com/api/sms/status"
    assert "rc=3" in overrides and "5xx" in overrides

    from shared_code.platform.db import get_pool

    pool = await get_pool()
    call = await pool.fetchrow("SELECT * FROM calls WHERE call_sid = $1", sid)
    assert (
        call["text_back_status"] == "sent" and call["missed"] and call["miss_reason"] == "no-answer"
    )
    conversation = await pool.fetchrow(
        "SELECT * FROM conversations WHERE id = $1", call["conversation_id"]
    )
    assert conversation["status"] == "open" and conversation["customer_phone"] == CALLER
    assert sorted(e["type"] for e in stack.topic.received) == sorted(
        [contracts.MessageSent.type, contracts.UsageRecorded.type, contracts.CallMissed.type]
    )
    usage = stack.topic.of_type(contracts.UsageRecorded.type)[0]["data"]
    assert usage["kind"] == "sms" and usage["segments"] == 1
    missed = stack.topic.of_type(contracts.CallMissed.type)[0]
    assert missed["source"] == "/nevermiss/missed_call"
    assert missed["data"]["call_sid"] == sid and missed["data"]["text_back_status"] == "sent"
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    assert await queued() == []
