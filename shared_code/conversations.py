"""Conversations: open one, find one, hand it to the owner and back, and the reply lease.

Modes: `assistant` (the assistant answers), `owner` (taken over: customer texts are relayed to the
owner; the assistant is paused until release or OWNER_IDLE_MINUTES without owner activity).
Status `closed` ends it; the next text or missed call opens a new one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared_code.settings import get_settings


async def open_conversation(
    conn: asyncpg.Connection, business_id: uuid.UUID, phone: str
) -> asyncpg.Record:
    """The open conversation with `phone`, created if there is none (race-safe upsert)."""
    row = await conn.fetchrow(
        "SELECT * FROM conversations WHERE business_id = $1 AND customer_phone = $2"
        " AND status = 'open'",
        business_id, phone,
    )  # fmt: skip
    if row is not None:
        return row
    row = await conn.fetchrow(
        "INSERT INTO conversations (business_id, customer_phone) VALUES ($1, $2)"
        " ON CONFLICT (business_id, customer_phone) WHERE status = 'open' DO NOTHING RETURNING *",
        business_id, phone,
    )  # fmt: skip
    if row is None:  # another worker opened it between our SELECT and INSERT
        row = await conn.fetchrow(
            "SELECT * FROM conversations WHERE business_id = $1 AND customer_phone = $2"
            " AND status = 'open'",
            business_id, phone,
        )  # fmt: skip
    assert row is not None
    return row


def owner_is_active(conversation: asyncpg.Record | dict[str, Any], now: datetime) -> bool:
    """Taken over and the owner was active within the idle timeout."""
    if conversation["mode"] != "owner":
        return False
    active_at = conversation["owner_active_at"]
    idle = get_settings().owner_idle_minutes * 60
    return active_at is not None and (now - active_at).total_seconds() < idle


async def take_over(conn: asyncpg.Connection, conversation_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE conversations SET mode = 'owner', owner_active_at = now(),"
        " last_activity_at = now() WHERE id = $1 AND status = 'open' RETURNING *",
        conversation_id,
    )


async def release(conn: asyncpg.Connection, conversation_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE conversations SET mode = 'assistant', owner_active_at = NULL,"
        " auto_paused_reason = NULL WHERE id = $1 AND status = 'open' RETURNING *",
        conversation_id,
    )


async def close(conn: asyncpg.Connection, conversation_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE conversations SET status = 'closed', closed_at = now() WHERE id = $1"
        " AND status = 'open'",
        conversation_id,
    )


async def claim_reply_lease(
    conn: asyncpg.Connection, conversation_id: uuid.UUID
) -> tuple[uuid.UUID, asyncpg.Record] | None:
    """Take the right to compose this conversation's next reply (one worker at a time)."""
    token = uuid.uuid4()
    row = await conn.fetchrow(
        "UPDATE conversations SET reply_lease_token = $2,"
        " reply_lease_until = now() + make_interval(secs => $3)"
        " WHERE id = $1 AND (reply_lease_until IS NULL OR reply_lease_until < now())"
        " RETURNING *",
        conversation_id, token, get_settings().reply_lease_seconds,
    )  # fmt: skip
    return (token, row) if row is not None else None


async def release_reply_lease(
    conn: asyncpg.Connection, conversation_id: uuid.UUID, token: uuid.UUID
) -> None:
    await conn.execute(
        "UPDATE conversations SET reply_lease_token = NULL, reply_lease_until = NULL"
        " WHERE id = $1 AND reply_lease_token = $2",
        conversation_id, token,
    )  # fmt: skip


async def history(
    conn: asyncpg.Connection, conversation_id: uuid.UUID, limit: int = 30
) -> list[dict[str, str]]:
    rows = await conn.fetch(
        "SELECT author, body FROM (SELECT id, author, body, coalesce(received_at, created_at)"
        " AS at FROM messages WHERE conversation_id = $1 ORDER BY at DESC, id DESC LIMIT $2)"
        " recent ORDER BY at, id",
        conversation_id, limit,
    )  # fmt: skip
    return [{"role": r["author"], "text": r["body"]} for r in rows]
