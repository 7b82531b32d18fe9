"""What we know about a phone number per business: opted out, landline, undeliverable, last
text-back.

All SQL on `contacts` lives here, and so does the one rule both the text-back and the sender
ask before texting someone: `block_reason`.

`lock_contact` upserts and row-locks the contact, so every decision about texting one person
for one business serialises on that row for the rest of the transaction.
"""

from __future__ import annotations

import uuid

import asyncpg

from shared_code.businesses.store import Business


async def lock_contact(
    conn: asyncpg.Connection, business_id: uuid.UUID, phone: str, *, texted_us: bool = False
) -> asyncpg.Record:
    """Upsert and row-lock the contact; returns it. `texted_us`: the number just texted the
    business, so it is a working handset that wants an answer and an earlier undeliverable
    verdict (a number being ported, a block since lifted) no longer stands (same statement).
    Opt-outs and landlines are not touched."""
    row = await conn.fetchrow(
        "INSERT INTO contacts (business_id, phone) VALUES ($1, $2)"
        " ON CONFLICT (business_id, phone) DO UPDATE SET phone = EXCLUDED.phone,"
        " undeliverable_at = CASE WHEN $3 THEN NULL ELSE contacts.undeliverable_at END,"
        " undeliverable_code = CASE WHEN $3 THEN NULL ELSE contacts.undeliverable_code END"
        " RETURNING *",
        business_id, phone, texted_us,
    )  # fmt: skip
    assert row is not None
    return row


async def block_reason(
    conn: asyncpg.Connection, business: Business, phone: str, *, lock: bool = False
) -> str | None:
    """Why this business must never text `phone`, or None: "own_number" (the business's or the
    owner's), "blocked" (by the owner), "opted_out", "landline", "undeliverable" (Twilio said
    the number can't take our texts: blocked by the recipient, unknown handset, invalid).

    With `lock`, the contact is upserted and row-locked first (`lock_contact`), so the caller's
    decision about this person holds until its transaction ends; the numbers ruled out before
    that get no contact row.
    """
    if phone in (business.phone_number, business.owner_phone):
        return "own_number"
    if business.is_blocked(phone):
        return "blocked"
    if lock:
        row = await lock_contact(conn, business.id, phone)
    else:
        row = await conn.fetchrow(
            "SELECT opted_out_at, is_landline, undeliverable_at FROM contacts"
            " WHERE business_id = $1 AND phone = $2",
            business.id, phone,
        )  # fmt: skip
    if row is None:
        return None
    if row["opted_out_at"] is not None:
        return "opted_out"
    if row["is_landline"]:
        return "landline"
    if row["undeliverable_at"] is not None:
        return "undeliverable"
    return None


async def text_back_cooldown_over(
    conn: asyncpg.Connection,
    business_id: uuid.UUID,
    phone: str,
    cooldown_seconds: float,
    *,
    no_contact: bool = False,
) -> bool:
    """No text-back went to `phone` within the cooldown (`no_contact` when there is no contact
    row: the handler upserts it first; the greeting's unlocked read finds none for a new
    caller, whose cooldown is over)."""
    over = await conn.fetchval(
        "SELECT last_text_back_at IS NULL"
        "    OR last_text_back_at <= now() - make_interval(secs => $3)"
        " FROM contacts WHERE business_id = $1 AND phone = $2",
        business_id, phone, cooldown_seconds,
    )  # fmt: skip
    return no_contact if over is None else bool(over)


async def claim_text_back(
    conn: asyncpg.Connection, business_id: uuid.UUID, phone: str, cooldown_seconds: float
) -> bool:
    """Start a new cooldown for `phone` if the last one is over; False when it is not (a
    concurrent text-back claimed it first)."""
    claimed = await conn.fetchval(
        "UPDATE contacts SET last_text_back_at = now() WHERE business_id = $1 AND phone = $2"
        " AND (last_text_back_at IS NULL"
        "      OR last_text_back_at <= now() - make_interval(secs => $3)) RETURNING 1",
        business_id, phone, cooldown_seconds,
    )  # fmt: skip
    return bool(claimed)


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


async def mark_landline(conn: asyncpg.Connection, business_id: uuid.UUID, phone: str) -> None:
    """Twilio said `phone` cannot receive texts (30006): never text it again."""
    await conn.execute(
        "UPDATE contacts SET is_landline = true WHERE business_id = $1 AND phone = $2",
        business_id, phone,
    )  # fmt: skip


async def mark_undeliverable(
    conn: asyncpg.Connection, business_id: uuid.UUID, phone: str, code: int | None = None
) -> None:
    """Twilio said `phone` can't take our texts (30004 blocked by the recipient, 30005 unknown
    handset, 21211 invalid): nothing is texted to it again until it texts us itself. The
    first verdict's time is kept; `code` says which one."""
    await conn.execute(
        "INSERT INTO contacts (business_id, phone, undeliverable_at, undeliverable_code)"
        " VALUES ($1, $2, now(), $3) ON CONFLICT (business_id, phone) DO UPDATE SET"
        " undeliverable_at = coalesce(contacts.undeliverable_at, now()),"
        " undeliverable_code = coalesce(EXCLUDED.undeliverable_code, contacts.undeliverable_code)",
        business_id, phone, code,
    )  # fmt: skip
