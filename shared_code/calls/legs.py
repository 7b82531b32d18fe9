"""The dialled legs of a call (`call_legs`): who accepted, what answering-machine detection said.

One row per leg CallSid, written by the webhooks on the owner's (or a team phone's) leg before or
while the caller's call is bridged, and read by /voice/dial-status and the missed-call handler to
tell a person from the owner's carrier voicemail (calls.classification). Writes are upserts, so
Twilio's retries and a late write finishing after its retry are harmless. All SQL on the table
lives here.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class LegFacts:
    accepted: bool  # a person pressed 1 on this leg
    answered_by: str | None  # the AMD verdict, when one arrived


async def record_acceptance(
    conn: asyncpg.Connection, leg_sid: str, parent_call_sid: str, phone: str | None
) -> None:
    """A person pressed 1 on `leg_sid` (the first acceptance's time stands)."""
    await conn.execute(
        "INSERT INTO call_legs (leg_sid, parent_call_sid, phone, accepted_at)"
        " VALUES ($1, $2, $3, now())"
        " ON CONFLICT (leg_sid) DO UPDATE SET"
        " accepted_at = coalesce(call_legs.accepted_at, EXCLUDED.accepted_at),"
        " phone = coalesce(call_legs.phone, EXCLUDED.phone)",
        leg_sid, parent_call_sid, phone,
    )  # fmt: skip


async def record_answered_by(
    conn: asyncpg.Connection, leg_sid: str, parent_call_sid: str, answered_by: str
) -> None:
    """Answering-machine detection's verdict on `leg_sid` (Twilio sends one per leg)."""
    await conn.execute(
        "INSERT INTO call_legs (leg_sid, parent_call_sid, answered_by) VALUES ($1, $2, $3)"
        " ON CONFLICT (leg_sid) DO UPDATE SET answered_by = EXCLUDED.answered_by",
        leg_sid, parent_call_sid, answered_by,
    )  # fmt: skip


async def leg_facts(conn: asyncpg.Connection, leg_sid: str) -> LegFacts | None:
    """What was recorded about `leg_sid`, or None (nothing: no key pressed, no AMD verdict)."""
    row = await conn.fetchrow(
        "SELECT accepted_at IS NOT NULL AS accepted, answered_by FROM call_legs WHERE leg_sid = $1",
        leg_sid,
    )
    return LegFacts(row["accepted"], row["answered_by"]) if row is not None else None
