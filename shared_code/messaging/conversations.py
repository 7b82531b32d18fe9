"""Conversations: open one, find one, hand it to the owner and back, and the reply lease.

Modes: `assistant` (the assistant answers), `owner` (taken over: customer texts are relayed to the
owner; the assistant is paused until release or OWNER_IDLE_MINUTES without owner activity).
Status `closed` ends it; the next text or missed call opens a new one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared_code.platform.settings import get_settings


async def open_conversation(
    conn: asyncpg.Connection,
    business_id: uuid.UUID,
    phone: str,
    origin_call_sid: str | None = None,
) -> asyncpg.Record:
    """The open conversation with `phone`, created if there is none (race-safe upsert).
    `origin_call_sid`: the call a new one starts from (a voicemail's): that call's text-back
    then goes into it (`open_for_missed_call`) instead of finding it in the way."""
    row = await conn.fetchrow(
        "SELECT * FROM conversations WHERE business_id = $1 AND customer_phone = $2"
        " AND status = 'open'",
        business_id, phone,
    )  # fmt: skip
    if row is not None:
        return row
    row = await conn.fetchrow(
        "INSERT INTO conversations (business_id, customer_phone, origin_call_sid)"
        " VALUES ($1, $2, $3)"
        " ON CONFLICT (business_id, customer_phone) WHERE status = 'open' DO NOTHING RETURNING *",
        business_id, phone, origin_call_sid,
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


@dataclass(frozen=True)
class ReplyClaim:
    """What one attempt at the reply lease found.

    `newest_customer_id` is the conversation's newest customer text; `conversation` is the row as
    claimed, None when the lease was not taken (another worker holds it, or the task is
    superseded: no lease is taken for a task a newer text's task will do).
    """

    token: uuid.UUID
    newest_customer_id: int | None
    conversation: asyncpg.Record | None

    def superseded(self, after_id: int) -> bool:
        return self.newest_customer_id is not None and self.newest_customer_id > after_id


async def claim_reply_lease(
    conn: asyncpg.Connection, conversation_id: uuid.UUID, after_id: int
) -> ReplyClaim:
    """Take the right to compose this conversation's next reply (one worker at a time), unless a
    customer text newer than `after_id` arrived meanwhile.

    The newest-text check and the claim share one statement (one round trip on every reply);
    the lease is given back by `release_reply_lease`, or by the reply's own transaction
    (`LEASE_RELEASED_SQL`) when that commits.

    The claim commits asynchronously (`synchronous_commit` off for this one statement's
    transaction): it is visible to every other worker at once, but does not wait for its WAL to
    reach disk, which is most of what a one-row write costs (milliseconds when the disk is
    busy). Only a database crash can lose it, and a lost lease is harmless: the crash also breaks
    the claiming worker's connection, so its task fails and the queue retries it; the reply's own
    transaction, which does commit synchronously, flushes the claim with it. Hence: never call
    this inside a transaction (the setting would then cover all of it).
    """
    assert not conn.is_in_transaction(), "claim the reply lease outside any transaction"
    token = uuid.uuid4()
    row = await conn.fetchrow(
        "WITH newest AS (SELECT max(id) AS id FROM messages"
        "  WHERE conversation_id = $1 AND author = 'customer'),"
        " claimed AS (UPDATE conversations SET reply_lease_token = $2,"
        "  reply_lease_until = now() + make_interval(secs => $3)"
        "  WHERE id = $1 AND (reply_lease_until IS NULL OR reply_lease_until < now())"
        "  AND NOT EXISTS (SELECT 1 FROM newest WHERE newest.id > $4) RETURNING *)"
        " SELECT newest.id AS newest_customer_id, claimed.* FROM newest"
        " CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
        " LEFT JOIN claimed ON true",
        conversation_id, token, get_settings().reply_lease_seconds, after_id,
    )  # fmt: skip
    assert row is not None  # `newest` is an aggregate: always exactly one row
    claimed = row if row["id"] is not None else None
    return ReplyClaim(token, row["newest_customer_id"], claimed)


# The SET clause that gives the lease back inside the reply's own transaction: it is free the
# moment the reply commits, with no separate write (and commit) after it.
LEASE_RELEASED_SQL = "reply_lease_token = NULL, reply_lease_until = NULL"


async def release_reply_lease(
    conn: asyncpg.Connection, conversation_id: uuid.UUID, token: uuid.UUID
) -> None:
    await conn.execute(
        f"UPDATE conversations SET {LEASE_RELEASED_SQL} WHERE id = $1 AND reply_lease_token = $2",
        conversation_id, token,
    )  # fmt: skip


async def mark_customer_texts_answered(
    conn: asyncpg.Connection, conversation_id: uuid.UUID
) -> None:
    """Everything the customer sent so far counts as answered (the owner saw it or answered
    it): a later release never makes the assistant answer those texts again."""
    await conn.execute(
        "UPDATE conversations SET replied_through_id = greatest(replied_through_id,"
        " coalesce((SELECT max(id) FROM messages WHERE conversation_id = $1"
        "           AND author = 'customer'), 0)) WHERE id = $1",
        conversation_id,
    )


async def advance_reply(
    conn: asyncpg.Connection,
    conversation_id: uuid.UUID,
    token: uuid.UUID,
    through_id: int,
    lead: dict[str, str],
) -> asyncpg.Record | None:
    """Record a reply through `through_id` and give the lease back, in one statement; None
    when the lease was lost (expired and claimed by another worker) or the texts were answered.
    The row stays locked until the reply's transaction commits, so no other worker can claim it
    before the reply is recorded."""
    return await conn.fetchrow(
        "UPDATE conversations SET replied_through_id = $3, lead = $4,"
        f" last_activity_at = now(), {LEASE_RELEASED_SQL}"
        " WHERE id = $1 AND reply_lease_token = $2 AND replied_through_id < $3 RETURNING *",
        conversation_id, token, through_id, lead,
    )  # fmt: skip


async def pause_automation(
    conn: asyncpg.Connection, conversation_id: uuid.UUID, reason: str
) -> None:
    """Stop the assistant answering (another auto-responder, the loop guard) until released."""
    await conn.execute(
        "UPDATE conversations SET auto_paused_reason = $2 WHERE id = $1", conversation_id, reason
    )


async def mark_escalated(conn: asyncpg.Connection, conversation_id: uuid.UUID, reason: str) -> None:
    """The first escalation and its reason stay."""
    await conn.execute(
        "UPDATE conversations SET escalated_at = coalesce(escalated_at, now()),"
        " escalation_reason = coalesce(escalation_reason, $2) WHERE id = $1",
        conversation_id, reason,
    )  # fmt: skip


async def mark_qualified(conn: asyncpg.Connection, conversation_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE conversations SET lead_qualified_at = now() WHERE id = $1", conversation_id
    )


async def by_ref(
    conn: asyncpg.Connection, business_id: uuid.UUID, ref: int
) -> asyncpg.Record | None:
    """The business's conversation numbered `ref` (the "#12" owners address)."""
    return await conn.fetchrow(
        "SELECT * FROM conversations WHERE business_id = $1 AND ref = $2", business_id, ref
    )


async def recently_active_open(
    conn: asyncpg.Connection, business_id: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM conversations WHERE business_id = $1 AND status = 'open'"
        " ORDER BY last_activity_at DESC LIMIT $2",
        business_id, limit,
    )  # fmt: skip


async def find_open(
    conn: asyncpg.Connection,
    business_id: uuid.UUID,
    phone: str,
    not_from_call: str | None = None,
) -> asyncpg.Record | None:
    """The id and ref of the open conversation with `phone`, if there is one; `not_from_call`:
    one that call started (its voicemail's) does not count."""
    return await conn.fetchrow(
        "SELECT id, ref FROM conversations WHERE business_id = $1 AND customer_phone = $2"
        " AND status = 'open' AND ($3::text IS NULL OR origin_call_sid IS DISTINCT FROM $3)",
        business_id, phone, not_from_call,
    )  # fmt: skip


async def open_for_missed_call(
    conn: asyncpg.Connection, business_id: uuid.UUID, phone: str, call_sid: str
) -> uuid.UUID | None:
    """Open the conversation a missed call's text-back starts, or adopt the open one this same
    call started (its voicemail was processed first: the text-back goes into that thread);
    None when another conversation is open (one open conversation per caller is a partial
    unique index). Two statements: the second sees a row a concurrent insert committed."""
    conversation_id: uuid.UUID | None = await conn.fetchval(
        "INSERT INTO conversations (business_id, customer_phone, origin_call_sid)"
        " VALUES ($1, $2, $3)"
        " ON CONFLICT (business_id, customer_phone) WHERE status = 'open' DO NOTHING RETURNING id",
        business_id, phone, call_sid,
    )  # fmt: skip
    if conversation_id is None:
        conversation_id = await conn.fetchval(
            "SELECT id FROM conversations WHERE business_id = $1 AND customer_phone = $2"
            " AND status = 'open' AND origin_call_sid = $3",
            business_id, phone, call_sid,
        )  # fmt: skip
    return conversation_id
