"""Consent per text-back: who called, when, and which greeting they heard before we texted.

A missed caller hears the business's greeting ("Sorry, Acme can't take your call right now.
We'll text you in a moment.") and then gets the text-back: the call is the caller reaching out,
the greeting is what they were told to expect. `record_text_back` writes that once per CallSid,
in the transaction that decides the text-back (the missed-call handler's unit of work), so a
text-back never exists without its record and a redelivered call never writes a second one.

The greeting is kept as a version, a short hash of the rendered text, not as the text: the same
greeting always gets the same version, and a business that rewrites its greeting gets a new one.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import asyncpg

from shared_code.businesses import templates
from shared_code.businesses.store import Business
from shared_code.platform.db import get_pool


def missed_call_greeting(business: Business) -> str:
    """The greeting a missed caller hears, as the voice webhooks render it."""
    return templates.render("missed_call_greeting", business.templates, business_name=business.name)


def greeting_version(greeting: str) -> str:
    """12 hex digits of the SHA-256 of the greeting text: stable across processes and releases
    (unlike `hash()`), short enough to show, and a different greeting is a different version."""
    return hashlib.sha256(greeting.encode()).hexdigest()[:12]


async def record_text_back(
    conn: asyncpg.Connection,
    business: Business,
    call_sid: str,
    caller: str,
    *,
    heard_greeting: bool,
    greeting: str | None = None,
) -> None:
    """The consent for the text-back to `caller` after call `call_sid` (its row in `calls` gives
    the time the call reached us). Idempotent: the first record of a call stands. `greeting`:
    the words the caller heard, when the voice webhook chose other than the missed-call greeting
    (quiet hours, after hours)."""
    heard = greeting or missed_call_greeting(business)
    version = greeting_version(heard) if heard_greeting else None
    await conn.execute(
        "INSERT INTO text_back_consents (call_sid, business_id, caller, consented_at,"
        " greeting_version)"
        " SELECT $1, $2, $3, coalesce((SELECT received_at FROM calls WHERE call_sid = $1), now()),"
        " $4 ON CONFLICT (call_sid) DO NOTHING",
        call_sid, business.id, caller, version,
    )  # fmt: skip


async def for_call(call_sid: str | None, business_id: uuid.UUID) -> dict[str, Any] | None:
    """The consent recorded for `call_sid` (a conversation's origin call), as the API shows it;
    None when the conversation did not start with a text-back."""
    if call_sid is None:
        return None
    pool = await get_pool()
    row = await pool.fetchrow(
        "SELECT call_sid, caller, consented_at, greeting_version FROM text_back_consents"
        " WHERE call_sid = $1 AND business_id = $2",
        call_sid, business_id,
    )  # fmt: skip
    return dict(row) if row is not None else None
