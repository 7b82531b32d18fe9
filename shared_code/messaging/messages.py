"""SQL on `messages`: texts stored as they arrive or leave, and the reads the responder makes.

Storing a text also marks its conversation active, in the same statement (one round trip on
the hot path: measured by bench/round_trips).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg


async def record_receipt(
    conn: asyncpg.Connection, sid: str, business_id: uuid.UUID, sender: str, kind: str
) -> bool:
    """Claim an inbound MessageSid once (the first delivery wins; a redelivery is a duplicate).
    `kind` says whose text it was: "customer" or "owner"."""
    fresh = await conn.fetchval(
        "INSERT INTO inbound_receipts (message_sid, business_id, from_number, kind)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
        sid, business_id, sender, kind,
    )  # fmt: skip
    return bool(fresh)


async def store_inbound(
    conn: asyncpg.Connection,
    conversation_id: uuid.UUID,
    sid: str,
    body: str,
    media: list[dict[str, Any]],
    received_at: datetime | None,
) -> int:
    """Store the customer's text and mark the conversation active (one statement)."""
    message_id: int = await conn.fetchval(
        "WITH touched AS (UPDATE conversations SET last_activity_at = now() WHERE id = $1)"
        " INSERT INTO messages (conversation_id, direction, author, body, message_sid, media,"
        " received_at) VALUES ($1, 'inbound', 'customer', $2, $3, $4, $5) RETURNING id",
        conversation_id, body, sid, media, received_at or datetime.now(UTC),
    )  # fmt: skip
    return message_id


async def store_voicemail(
    conn: asyncpg.Connection, conversation_id: uuid.UUID, body: str, received_at: datetime
) -> int:
    """A caller's voicemail as the customer's message (kind 'voicemail'), so the conversation
    and the assistant's history show what they said; marks the conversation active."""
    message_id: int = await conn.fetchval(
        "WITH touched AS (UPDATE conversations SET last_activity_at = now() WHERE id = $1)"
        " INSERT INTO messages (conversation_id, direction, author, body, kind, received_at)"
        " VALUES ($1, 'inbound', 'customer', $2, 'voicemail', $3) RETURNING id",
        conversation_id, body, received_at,
    )  # fmt: skip
    return message_id


async def set_voicemail_body(conn: asyncpg.Connection, message_id: int, body: str) -> None:
    """A voicemail's message once its transcript arrived."""
    await conn.execute(
        "UPDATE messages SET body = $2 WHERE id = $1 AND kind = 'voicemail'", message_id, body
    )


async def automated_in_last_hour(conn: asyncpg.Connection, conversation_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM messages WHERE conversation_id = $1 AND automated"
        " AND created_at > now() - interval '1 hour'",
        conversation_id,
    )
    return count


async def unanswered_customer_texts(
    conn: asyncpg.Connection, conversation_id: uuid.UUID, replied_through_id: int
) -> list[asyncpg.Record]:
    """The customer's texts after the last one answered, in the order they were sent."""
    return await conn.fetch(
        "SELECT id, body FROM messages WHERE conversation_id = $1 AND author = 'customer'"
        " AND id > $2 ORDER BY coalesce(received_at, created_at), id",
        conversation_id, replied_through_id,
    )  # fmt: skip


async def newest_customer_text_after(
    conn: asyncpg.Connection, conversation_id: uuid.UUID, after_id: int
) -> int | None:
    newest: int | None = await conn.fetchval(
        "SELECT max(id) FROM messages WHERE conversation_id = $1 AND author = 'customer'"
        " AND id > $2",
        conversation_id, after_id,
    )  # fmt: skip
    return newest


async def history(
    conn: asyncpg.Connection, conversation_id: uuid.UUID, limit: int = 30
) -> list[dict[str, str]]:
    """The conversation's last `limit` texts, oldest first, as the assistant reads them."""
    rows = await conn.fetch(
        "SELECT author, body FROM (SELECT id, author, body, coalesce(received_at, created_at)"
        " AS at FROM messages WHERE conversation_id = $1 ORDER BY at DESC, id DESC LIMIT $2)"
        " recent ORDER BY at, id",
        conversation_id, limit,
    )  # fmt: skip
    return [{"role": r["author"], "text": r["body"]} for r in rows]


# Delivery statuses in the order they happen: later ones win, terminal ones share the top rank.
STATUS_RANK = {
    "accepted": 1, "scheduled": 1, "queued": 1, "sending": 2, "sent": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "read": 5, "canceled": 4,
}  # fmt: skip


async def record_delivery_status(
    conn: asyncpg.Connection, sid: str, state: str, error_code: int | None
) -> None:
    """Move a sent text's status forward (status callbacks arrive out of order)."""
    await conn.execute(
        "UPDATE messages SET status = $2, error_code = coalesce($3, error_code),"
        " status_at = now() WHERE message_sid = $1"
        " AND coalesce((SELECT r FROM jsonb_each_text($4::jsonb) AS s(k, r)"
        "               WHERE k = messages.status)::int, 0) <= $5",
        sid, state, error_code, STATUS_RANK, STATUS_RANK.get(state, 0),
    )  # fmt: skip


async def customer_of(conn: asyncpg.Connection, sid: str) -> tuple[uuid.UUID, str] | None:
    """The business and customer phone of the conversation the text `sid` belongs to."""
    row = await conn.fetchrow(
        "SELECT c.business_id, c.customer_phone FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id WHERE m.message_sid = $1",
        sid,
    )
    return (row["business_id"], row["customer_phone"]) if row is not None else None


async def sender_of(conn: asyncpg.Connection, sid: str) -> uuid.UUID | None:
    """The business that sent the text `sid`: any text we sent (a conversation's, an owner
    alert), from its intent, or from its conversation for texts sent before intents existed.
    None for a sid we never sent."""
    business_id: uuid.UUID | None = await conn.fetchval(
        "SELECT business_id FROM outbound_texts WHERE message_sid = $1"
        " UNION ALL SELECT c.business_id FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id WHERE m.message_sid = $1"
        " LIMIT 1",
        sid,
    )
    return business_id


async def unanswered_by_sid(conn: asyncpg.Connection, sid: str) -> tuple[uuid.UUID, int] | None:
    """(conversation, message id) of the customer text `sid` if its open conversation has not
    answered it yet (in assistant mode), else None."""
    row = await conn.fetchrow(
        "SELECT m.conversation_id, m.id FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id"
        " WHERE m.message_sid = $1 AND m.author = 'customer' AND c.status = 'open'"
        " AND c.mode = 'assistant' AND m.id > c.replied_through_id",
        sid,
    )
    return (row["conversation_id"], row["id"]) if row is not None else None


async def unanswered_with_assistant(
    conn: asyncpg.Connection, business_id: uuid.UUID, limit: int = 20
) -> list[tuple[uuid.UUID, int]]:
    """(conversation, newest customer text) of the business's open conversations the assistant
    answers and has not answered yet."""
    rows = await conn.fetch(
        "SELECT c.id, max(m.id) AS newest FROM conversations c"
        " JOIN messages m ON m.conversation_id = c.id AND m.author = 'customer'"
        "   AND m.id > c.replied_through_id"
        " WHERE c.business_id = $1 AND c.status = 'open' AND c.mode = 'assistant'"
        " GROUP BY c.id LIMIT $2",
        business_id, limit,
    )  # fmt: skip
    return [(row["id"], row["newest"]) for row in rows]
