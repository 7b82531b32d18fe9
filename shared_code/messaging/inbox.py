"""Reading conversations and their messages: what the owner API and the local transcript show.

Read-only: every write to these tables goes through `conversations`, `outbound` and the
responder. The queries live here, beside the package that owns the tables, so the API and the
local host never hold the app's SQL and a column change is made in one package.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared_code.platform.db import get_pool

# "all" lists both; the order every listing uses is the most recently active first.
STATUSES = ("open", "closed", "all")

_MESSAGES_IN_ORDER = " ORDER BY coalesce(received_at, created_at), id"


@dataclass(frozen=True)
class Thread:
    """A conversation row and its messages in the order they happened."""

    conversation: asyncpg.Record
    messages: list[asyncpg.Record]


async def list_conversations(
    business_id: uuid.UUID, status: str, limit: int
) -> list[asyncpg.Record]:
    """The business's conversations with `status` (one of STATUSES), newest activity first."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    pool = await get_pool()
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT * FROM conversations WHERE business_id = $1 AND ($2 = 'all' OR status = $2)"
        " ORDER BY last_activity_at DESC LIMIT $3",
        business_id, status, limit,
    )  # fmt: skip
    return rows


async def conversation(
    conn: asyncpg.Connection, conversation_id: uuid.UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    """One conversation on the caller's connection; `lock` holds its row for the caller's
    transaction (an owner action reads, decides and writes it without a race)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM conversations WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        conversation_id,
    )
    return row


async def read_thread(conversation_id: uuid.UUID) -> Thread | None:
    """The conversation with its messages; None if there is no such conversation."""
    pool = await get_pool()
    async with pool.acquire() as conn:
        row = await conversation(conn, conversation_id)
        if row is None:
            return None
        messages = await conn.fetch(
            "SELECT * FROM messages WHERE conversation_id = $1" + _MESSAGES_IN_ORDER, row["id"]
        )
    return Thread(row, list(messages))


async def transcript(phone: str, limit: int = 1) -> list[dict[str, Any]]:
    """The latest `limit` conversations with `phone` across businesses (newest first), each with
    its business's name and number and its messages in the order they happened."""
    pool = await get_pool()
    conversations = await pool.fetch(
        "SELECT c.id, c.ref, c.status, c.mode, c.opened_at, c.closed_at, c.lead,"
        " c.lead_qualified_at, c.escalated_at, c.escalation_reason,"
        " b.name AS business_name, b.phone_number AS business_number"
        " FROM conversations c JOIN businesses b ON b.id = c.business_id"
        " WHERE c.customer_phone = $1 ORDER BY c.opened_at DESC, c.id LIMIT $2",
        phone,
        limit,
    )
    messages = await pool.fetch(
        "SELECT id, conversation_id, direction, author, body, status, automated,"
        " coalesce(received_at, created_at) AS at FROM messages"
        " WHERE conversation_id = ANY($1::uuid[])" + _MESSAGES_IN_ORDER,
        [row["id"] for row in conversations],
    )
    by_conversation: dict[Any, list[dict[str, Any]]] = {row["id"]: [] for row in conversations}
    for row in messages:
        message = dict(row)
        by_conversation[message.pop("conversation_id")].append(message)
    return [{**dict(row), "messages": by_conversation[row["id"]]} for row in conversations]
