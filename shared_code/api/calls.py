"""The calls resource: the business's calls, newest first, each with what became of it.

Read-only. One row per CallSid from `calls` (migrations 001, 009, 011): who called, whether it
was missed and why (`miss_reason`: `no-answer`, `busy`, `failed`, `canceled`, `after-hours`,
`no-owner`, `not_accepted` (picked up but nobody pressed 1: usually the owner's voicemail),
`machine` (answering-machine detection), `too-short`; `answered` for an answered call), the
text-back's status, the answer check in force, and the conversation the call belongs to; with
its voicemail, if the caller left one (`voicemails`, migration 011).

The conversation is the one the text-back opened (`calls.conversation_id`), else the one the
voicemail was added to, else the caller's conversation that was open when the call came in (a
text-back suppressed because one was already open).

Same tenant rule as every list (api.auth.business_for): an owner key or session lists its own
business's calls, the admin names one with `?business_id=`. Paging is by cursor: `before` is
the `next_before` of the previous page (or any ISO 8601 time with an offset), so a page never
repeats or skips a call even when two share a timestamp. The SQL is here, not in the `calls`
package, which this one may not import (they are siblings, see pyproject's import-linter).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from shared_code.api.auth import ApiError, Json, Principal, business_for
from shared_code.messaging import voicemails
from shared_code.platform.db import get_pool

MAX_LIMIT = 200
_CURSOR_SEP = "~"
# A voicemail is recorded after its call is; its row may still be stamped a little earlier
# (Twilio's recording start time against the moment the call's report was stored).
_VOICEMAIL_SLACK = timedelta(hours=1)

_PAGE = """
SELECT call_sid, from_number, to_number, received_at, missed, miss_reason, text_back_status,
       hold_until, answer_check, accepted, greeting, duration_seconds, conversation_id
FROM calls
WHERE business_id = $1
  AND ($3::timestamptz IS NULL OR (received_at, call_sid) < ($3, $4::text))
  AND ($5::boolean IS NULL OR missed = $5)
ORDER BY received_at DESC, call_sid DESC
LIMIT $2
"""

_VOICEMAILS = """
SELECT * FROM voicemails
WHERE business_id = $1 AND call_sid = ANY($2::text[]) AND received_at >= $3
ORDER BY received_at
"""

# The callers' conversations that were open at some time in [$3, $4]: one pass for the page.
_OPEN_THEN = """
SELECT id, customer_phone, opened_at, closed_at FROM conversations
WHERE business_id = $1 AND customer_phone = ANY($2::text[]) AND opened_at <= $4
  AND (closed_at IS NULL OR closed_at >= $3)
ORDER BY opened_at DESC
"""

_REFS = "SELECT id, ref FROM conversations WHERE business_id = $1 AND id = ANY($2::uuid[])"


def _limit(params: dict[str, str]) -> int:
    raw = params.get("limit", "50")
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(422, "validation_failed", f"limit must be 1-{MAX_LIMIT}")
    return int(raw)


def _before(params: dict[str, str]) -> tuple[datetime | None, str]:
    """The cursor: (time, CallSid) to list strictly after in newest-first order; a bare time
    (no CallSid) lists the calls received before it."""
    raw = params.get("before")
    if not raw:
        return None, ""
    at, _, call_sid = raw.partition(_CURSOR_SEP)
    try:
        value = datetime.fromisoformat(at)
    except ValueError:
        raise ApiError(
            422, "validation_failed", "before must be a next_before cursor or an ISO 8601 time"
        ) from None
    if value.tzinfo is None:
        raise ApiError(422, "validation_failed", "before needs a UTC offset")
    if not call_sid:
        call_sid = ""  # sorts before every CallSid: only earlier times follow
    return value, call_sid


def _missed(params: dict[str, str]) -> bool | None:
    raw = params.get("missed")
    if raw is None or raw == "":
        return None
    if raw in ("true", "false"):
        return raw == "true"
    raise ApiError(422, "validation_failed", "missed must be true or false")


def cursor(row: asyncpg.Record) -> str:
    at: datetime = row["received_at"]
    stamp = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return f"{stamp}{_CURSOR_SEP}{row['call_sid']}"


def _call_json(
    row: asyncpg.Record,
    conversation_id: uuid.UUID | None,
    refs: dict[uuid.UUID, int],
    voicemail: asyncpg.Record | None,
) -> Json:
    return {
        "id": row["call_sid"],
        "from": row["from_number"],
        "to": row["to_number"],
        "received_at": row["received_at"],
        "missed": row["missed"],
        "miss_reason": row["miss_reason"],
        "text_back_status": row["text_back_status"],
        # set while a text-back waits out quiet hours (status "held")
        "text_back_at": row["hold_until"],
        "answer_check": row["answer_check"],
        "accepted": row["accepted"],
        "greeting": row["greeting"],
        "duration_seconds": row["duration_seconds"],
        "conversation_id": str(conversation_id) if conversation_id else None,
        "conversation_ref": refs.get(conversation_id) if conversation_id else None,
        "voicemail": voicemails.as_json(voicemail) if voicemail is not None else None,
    }


async def _conversations(
    conn: asyncpg.Pool,
    business_id: uuid.UUID,
    rows: list[asyncpg.Record],
    by_call: dict[str, asyncpg.Record],
) -> dict[str, uuid.UUID]:
    """Each call's conversation: the text-back's, else the voicemail's, else the caller's that
    was open when the call came in."""
    found: dict[str, uuid.UUID] = {}
    for row in rows:
        voicemail = by_call.get(row["call_sid"])
        conversation_id = row["conversation_id"] or (voicemail and voicemail["conversation_id"])
        if conversation_id:
            found[row["call_sid"]] = conversation_id
    rest = [row for row in rows if row["call_sid"] not in found]
    if rest:
        phones = list({row["from_number"] for row in rest})
        first = min(row["received_at"] for row in rest)
        last = max(row["received_at"] for row in rest)
        candidates = await conn.fetch(_OPEN_THEN, business_id, phones, first, last)
        for row in rest:
            at = row["received_at"]
            for c in candidates:  # newest opened first
                if (
                    c["customer_phone"] == row["from_number"]
                    and c["opened_at"] <= at
                    and (c["closed_at"] is None or c["closed_at"] >= at)
                ):
                    found[row["call_sid"]] = c["id"]
                    break
    return found


async def list_calls(principal: Principal, params: dict[str, str]) -> tuple[int, Json]:
    business_id = business_for(principal, params)
    limit, (before, before_sid), missed = _limit(params), _before(params), _missed(params)
    pool = await get_pool()
    rows = await pool.fetch(_PAGE, business_id, limit, before, before_sid, missed)
    by_call: dict[str, asyncpg.Record] = {}
    conversation_of: dict[str, uuid.UUID] = {}
    refs: dict[uuid.UUID, int] = {}
    if rows:
        oldest = min(r["received_at"] for r in rows) - _VOICEMAIL_SLACK
        sids = [r["call_sid"] for r in rows]
        for vm in await pool.fetch(_VOICEMAILS, business_id, sids, oldest):
            by_call[vm["call_sid"]] = vm  # the newest, if a call somehow left two
        conversation_of = await _conversations(pool, business_id, rows, by_call)
        ids = list(set(conversation_of.values()))
        if ids:
            refs = {r["id"]: r["ref"] for r in await pool.fetch(_REFS, business_id, ids)}
    items: list[dict[str, Any]] = [
        _call_json(row, conversation_of.get(row["call_sid"]), refs, by_call.get(row["call_sid"]))
        for row in rows
    ]
    return 200, {
        "calls": items,
        "next_before": cursor(rows[-1]) if len(rows) == limit else None,
    }
