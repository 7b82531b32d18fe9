"""Outcomes by API and by the owner's SMS: the conversation keeps the latest, every marking is
kept, pending follow-ups stop, `conversation.outcome_recorded` goes out, and a redelivered owner
text marks nothing twice."""

from __future__ import annotations

import asyncio
import json
import uuid

import azure.functions as func

from shared_code import contracts
from shared_code.platform.db import get_pool
from tests.api.helpers import assert_error
from tests.followups.helpers import CALLER, missed_call, schedule_from_sent, steps
from tests.helpers import create_business, drain_messages_queue, message_sid, post, text_in

OWNER = "+14155550100"


def outcome_request(key: str, conversation_id: object, body: object) -> func.HttpRequest:
    return func.HttpRequest(
        "POST",
        f"http://localhost/api/v1/conversations/{conversation_id}/outcome",
        headers={"Authorization": f"Bearer {key}"},
        route_params={"conversation_id": str(conversation_id)},
        body=json.dumps(body).encode(),
    )


async def call(req: func.HttpRequest) -> tuple[int, dict]:
    response = await post("record_outcome", req)
    return response.status_code, json.loads(response.get_body())


async def conversation(conversation_id: uuid.UUID) -> dict:
    pool = await get_pool()
    return dict(await pool.fetchrow("SELECT * FROM conversations WHERE id = $1", conversation_id))


async def test_outcome_by_api_marks_the_lead_stops_follow_ups_and_reports_it(stack):
    business, key = await create_business()
    conversation_id = await missed_call(business)
    await schedule_from_sent(stack)

    status, body = await call(outcome_request(key, conversation_id, {"outcome": "booked"}))
    assert status == 201, body
    status, body = await call(
        outcome_request(key, conversation_id, {"outcome": "won", "value_micro": 450_000_000})
    )
    assert status == 201 and [m["outcome"] for m in body["history"]] == ["booked", "won"]
    row = await conversation(conversation_id)
    assert row["outcome"] == "won" and row["outcome_value_micro"] == 450_000_000
    (step,) = await steps(conversation_id)
    assert step["status"] == "cancelled" and step["reason"] == "outcome_booked"
    events = stack.topic.of_type(contracts.OutcomeRecorded.type)
    assert [e["data"]["outcome"] for e in events] == ["booked", "won"]
    assert events[1]["data"]["value_micro"] == 450_000_000 and events[1]["data"]["source"] == "api"
    assert len({e["id"] for e in events}) == 2
    activity = stack.topic.of_type(contracts.ActivityRecorded.type)
    assert {e["data"]["kind"] for e in activity} == {"lead_marked"}


async def test_outcome_api_validates_and_hides_other_businesses(stack):
    business, key = await create_business()
    _other, other_key = await create_business(name="Bravo", phone_number="+13125550177")
    conversation_id = await missed_call(business)
    cases = [
        ({"outcome": "booked", "value_micro": 5}, 422, "validation_failed"),
        ({"outcome": "won", "value_micro": -1}, 422, "validation_failed"),
        ({"outcome": "lost", "reason": "x" * 301}, 422, "validation_failed"),
        ({"outcome": "maybe"}, 422, "validation_failed"),
    ]
    for body, expected, code in cases:
        status, payload = await call(outcome_request(key, conversation_id, body))
        assert_error(status, payload, expected, code)
    status, payload = await call(outcome_request(other_key, conversation_id, {"outcome": "spam"}))
    assert_error(status, payload, 404, "not_found")
    status, payload = await call(outcome_request(key, uuid.uuid4(), {"outcome": "spam"}))
    assert_error(status, payload, 404, "not_found")
    assert (await conversation(conversation_id))["outcome"] is None


async def test_outcome_by_owner_sms_and_its_redelivery(stack):
    business, _ = await create_business()
    conversation_id = await missed_call(business)
    ref = (await conversation(conversation_id))["ref"]
    stack.twilio.reset()

    sid = message_sid()
    await text_in(OWNER, business.phone_number, f"#{ref} won $450", MessageSid=sid)
    await drain_messages_queue()
    await text_in(OWNER, business.phone_number, f"#{ref} won $450", MessageSid=sid)  # again
    await drain_messages_queue()
    row = await conversation(conversation_id)
    assert row["outcome"] == "won" and row["outcome_value_micro"] == 450_000_000
    confirmations = [m["Body"] for m in stack.twilio.to(OWNER)]
    assert confirmations == [f"#{ref} marked won ($450.00)."]
    assert stack.twilio.to(CALLER) == []  # nothing went to the customer

    await text_in(OWNER, business.phone_number, f"#{ref} lost: chose another plumber")
    await text_in(OWNER, business.phone_number, f"#{ref} booked")
    await drain_messages_queue()
    pool = await get_pool()
    markings = await pool.fetch(
        "SELECT outcome, reason, source FROM conversation_outcomes ORDER BY id"
    )
    assert [(m["outcome"], m["reason"]) for m in markings] == [
        ("won", None), ("lost", "chose another plumber"), ("booked", None),
    ]  # fmt: skip
    assert {m["source"] for m in markings} == {"sms"}


async def test_an_owner_sms_for_an_unknown_ref_is_answered_and_marks_nothing(stack):
    business, _ = await create_business()
    await missed_call(business)
    stack.twilio.reset()
    await text_in(OWNER, business.phone_number, "#999 booked")
    await drain_messages_queue()
    assert [m["Body"] for m in stack.twilio.to(OWNER)] == ["No conversation #999."]
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM conversation_outcomes") == 0


async def test_an_outcome_while_a_timer_holds_the_step_does_not_wait_and_still_stops_it(stack):
    business, key = await create_business()
    conversation_id = await missed_call(business)
    await schedule_from_sent(stack)
    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():  # a timer deciding the step
        await conn.execute(
            "SELECT 1 FROM followup_tasks WHERE conversation_id = $1 FOR UPDATE", conversation_id
        )
        status, _ = await asyncio.wait_for(
            call(outcome_request(key, conversation_id, {"outcome": "won"})), timeout=10
        )
        assert status == 201
    await pool.execute("UPDATE followup_tasks SET due_at = now() - interval '1 second'")
    from shared_code.messaging import followups

    assert await followups.run_due() == {"cancelled:outcome_won": 1}
