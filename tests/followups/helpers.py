"""What the follow-up, outcome, funnel and webhook tests share: a missed call texted back (the
real webhook, queue and handler), the `message.sent` events fed to the follow-up scheduler, and
steps made due now."""

from __future__ import annotations

import uuid

from shared_code import contracts
from shared_code.businesses.store import Business
from shared_code.platform.db import get_pool
from tests.helpers import (
    call_sid,
    deliver_events,
    dial_status_params,
    drain_calls_queue,
    post,
    twilio_request,
)

CALLER = "+13125550123"


async def missed_call(business: Business, caller: str = CALLER) -> uuid.UUID:
    """A no-answer call, handled: the caller is texted back. Returns the conversation's id."""
    sid = call_sid()
    params = dial_status_params(sid, caller, business.phone_number, "no-answer")
    await post("voice_dial_status", twilio_request("/api/voice/dial-status", params))
    assert await drain_calls_queue() == 1
    pool = await get_pool()
    conversation_id = await pool.fetchval(
        "SELECT conversation_id FROM calls WHERE call_sid = $1", sid
    )
    assert conversation_id is not None, "the call was not texted back"
    return conversation_id


async def schedule_from_sent(stack) -> None:
    """Feed every `message.sent` published so far to the follow-up scheduler (twice: Event Grid
    delivers at least once), then forget them."""
    sent = stack.topic.of_type(contracts.MessageSent.type)
    await deliver_events("followup_scheduler", sent, times=2)
    stack.topic.reset()


async def make_due(conversation_id: uuid.UUID) -> None:
    pool = await get_pool()
    await pool.execute(
        "UPDATE followup_tasks SET due_at = now() - interval '1 second'"
        " WHERE conversation_id = $1 AND status = 'scheduled'",
        conversation_id,
    )


async def steps(conversation_id: uuid.UUID) -> list[dict]:
    pool = await get_pool()
    rows = await pool.fetch(
        "SELECT * FROM followup_tasks WHERE conversation_id = $1 ORDER BY step", conversation_id
    )
    return [dict(r) for r in rows]
