"""What we know about a phone number per business: opted out, landline, last text-back.

`lock_contact` upserts and row-locks the contact, so every decision about texting one person
for one business serialises on that row for the rest of the transaction.
"""

from __future__ import annotations

import uuid

import asyncpg


async def lock_contact(
    conn: asyncpg.Connection, business_id: uuid.UUID, phone: str
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO contacts (business_id, phone) VALUES ($1, $2)"
        " ON CONFLICT (business_id, phone) DO UPDATE SET phone = EXCLUDED.phone RETURNING *",
        business_id, phone,
    )  # fmt: skip
    assert row is not None
    return row


async def opt_out(conn: asyncpg.Connection, business_id: uuid.UUID, phone: str) -> None:
    await conn.execute(
        "UPDATE contacts SET opted_out_at = coalesce(opted_out_at, now())"
        " WHERE business_id = $1 AND phone = $2",
        business_id, phone,
    )  # fmt: skip


async def opt_in(conn: asyncpg.Connection, business_id: uuid.UUID, phone: str) -> None:
    await conn.execute(
        "UPDATE contacts SET opted_out_at = NULL WHERE business_id = $1 AND phone = $2",
        business_id, phone,
    )  # fmt: skip
