"""Events about a conversation (received, escalated, lead qualified), written with the change
that causes them, in the caller's transaction."""

from __future__ import annotations

import uuid

import asyncpg

from shared_code.assistant import intake
from shared_code.businesses.store import Business
from shared_code.platform import events

SOURCE = "/nevermiss/sms_responder"


async def escalate(
    conn: asyncpg.Connection,
    business: Business,
    conversation: asyncpg.Record,
    reason: str,
    last_text: str,
) -> uuid.UUID:
    await conn.execute(
        "UPDATE conversations SET escalated_at = coalesce(escalated_at, now()),"
        " escalation_reason = coalesce(escalation_reason, $2) WHERE id = $1",
        conversation["id"], reason,
    )  # fmt: skip
    return await events.record_event(
        conn, events.CONVERSATION_ESCALATED, SOURCE,
        {
            "business_id": str(business.id),
            "conversation_id": str(conversation["id"]),
            "conversation_ref": conversation["ref"],
            "customer": conversation["customer_phone"],
            "reason": reason,
            "last_text": last_text[:300],
        },
        fact=(str(conversation["id"]), reason),
        subject=f"businesses/{business.id}/conversations/{conversation['id']}",
    )  # fmt: skip


async def qualify(
    conn: asyncpg.Connection, business: Business, conversation: asyncpg.Record, lead: dict[str, str]
) -> uuid.UUID:
    await conn.execute(
        "UPDATE conversations SET lead_qualified_at = now() WHERE id = $1", conversation["id"]
    )
    return await events.record_event(
        conn, events.LEAD_QUALIFIED, SOURCE,
        {
            "business_id": str(business.id),
            "conversation_id": str(conversation["id"]),
            "conversation_ref": conversation["ref"],
            "customer": conversation["customer_phone"],
            "lead": lead,
            "summary": intake.summary(lead),
        },
        fact=(str(conversation["id"]),),
        subject=f"businesses/{business.id}/conversations/{conversation['id']}",
    )  # fmt: skip


async def received(
    conn: asyncpg.Connection,
    business: Business,
    conversation: asyncpg.Record,
    sid: str,
    message_id: int,
) -> uuid.UUID:
    return await events.record_event(
        conn, events.MESSAGE_RECEIVED, SOURCE,
        {
            "business_id": str(business.id),
            "conversation_id": str(conversation["id"]),
            "message_sid": sid,
            "message_id": message_id,
            "from": conversation["customer_phone"],
        },
        fact=(sid,), subject=f"businesses/{business.id}/conversations/{conversation['id']}",
    )  # fmt: skip
