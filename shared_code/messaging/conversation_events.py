"""Events about a conversation (received, escalated, lead qualified), recorded with the change
that causes them, in the caller's unit of work."""

from __future__ import annotations

import asyncpg

from shared_code.assistant import intake
from shared_code.businesses.store import Business
from shared_code.contracts import ConversationEscalated, LeadQualified, MessageReceived
from shared_code.messaging import conversations
from shared_code.platform.work import Work


async def escalate(
    w: Work,
    business: Business,
    conversation: asyncpg.Record,
    reason: str,
    last_text: str,
    message_sid: str | None = None,
) -> None:
    """Mark the conversation escalated (the first reason stays) and tell the owner."""
    await conversations.mark_escalated(w.conn, conversation["id"], reason)
    w.record(
        ConversationEscalated(
            business_id=business.id, conversation_id=conversation["id"],
            conversation_ref=conversation["ref"], customer=conversation["customer_phone"],
            reason=reason, last_text=last_text[:300], message_sid=message_sid,
        )
    )  # fmt: skip


async def qualify(
    w: Work,
    business: Business,
    conversation: asyncpg.Record,
    lead: dict[str, str],
    message_sid: str | None = None,
) -> None:
    await conversations.mark_qualified(w.conn, conversation["id"])
    w.record(
        LeadQualified(
            business_id=business.id, conversation_id=conversation["id"],
            conversation_ref=conversation["ref"], customer=conversation["customer_phone"],
            lead=lead, summary=intake.summary(lead), message_sid=message_sid,
        )
    )  # fmt: skip


def received(
    w: Work, business: Business, conversation: asyncpg.Record, sid: str, message_id: int
) -> None:
    w.record(
        MessageReceived(
            business_id=business.id, conversation_id=conversation["id"], message_sid=sid,
            message_id=message_id, from_number=conversation["customer_phone"],
        )
    )  # fmt: skip
