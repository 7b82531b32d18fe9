"""Every text the app sends, through one door: the rules, the record, the events.

`send_text` runs inside the caller's transaction. It refuses (SendBlocked) a text to a number
that opted out, is blocked, is a known landline, or is the business's own; automated texts also
pass the loop guard (at most MAX_AUTOMATED_PER_HOUR per conversation per hour) and the
per-number send pace. A sent text is recorded as a message and reported as `message.sent` and
`usage.recorded` (segments) through the outbox, in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared_code.businesses.store import Business
from shared_code.platform import cache, events
from shared_code.platform.settings import get_settings
from shared_code.platform.sms_segments import count_segments
from shared_code.platform.twilio_client import SentMessage, send_sms

log = logging.getLogger(__name__)

SMS_STATUS_PATH = "/api/sms/status"
MAX_BODY = 1600
# Texts to the owner's own phone: alerts and relayed customer texts. Customer rules don't apply.
OWNER_KINDS = frozenset({"owner_alert", "owner_relay", "owner_notice"})


class SendBlocked(Exception):
    """A rule forbids this text; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Sent:
    sid: str
    message_id: int | None
    segments: int
    event_ids: list[uuid.UUID]


async def contact_block_reason(
    conn: asyncpg.Connection, business: Business, phone: str
) -> str | None:
    """Why `phone` must not be texted by this business, or None."""
    if phone in (business.phone_number, business.owner_phone):
        return "own_number"
    if business.is_blocked(phone):
        return "blocked"
    row = await conn.fetchrow(
        "SELECT opted_out_at, is_landline FROM contacts WHERE business_id = $1 AND phone = $2",
        business.id,
        phone,
    )
    if row is not None and row["opted_out_at"] is not None:
        return "opted_out"
    if row is not None and row["is_landline"]:
        return "landline"
    return None


async def _loop_guard(conn: asyncpg.Connection, conversation_id: uuid.UUID) -> None:
    recent = await conn.fetchval(
        "SELECT count(*) FROM messages WHERE conversation_id = $1 AND automated"
        " AND created_at > now() - interval '1 hour'",
        conversation_id,
    )
    if recent >= get_settings().max_automated_per_hour:
        raise SendBlocked("loop_guard")


async def pace(from_number: str) -> None:
    """Hold a send until this number is under its per-second pace (Redis; fail-open)."""
    limit = get_settings().sms_rate_per_second
    for _ in range(50):
        second = int(time.time())
        used = await cache.incr_window(f"pace:{from_number}:{second}", 2)
        if used is None or used <= limit:
            return
        await asyncio.sleep(max(0.01, second + 1 - time.time()))


async def send_text(
    conn: asyncpg.Connection,
    business: Business,
    *,
    to: str,
    body: str,
    author: str,
    kind: str,
    conversation_id: uuid.UUID | None,
    automated: bool,
    source: str,
    allow_opted_out: bool = False,
) -> Sent:
    """Send one text under the rules and record it (caller's transaction); raises SendBlocked."""
    body = body.strip()[:MAX_BODY]
    if not body:
        raise SendBlocked("empty")
    if kind in OWNER_KINDS:
        if to != business.owner_phone:
            raise SendBlocked("not_owner")
    else:
        reason = await contact_block_reason(conn, business, to)
        if reason is not None and not (reason == "opted_out" and allow_opted_out):
            raise SendBlocked(reason)
    if automated and conversation_id is not None:
        await _loop_guard(conn, conversation_id)
    await pace(business.phone_number)
    sent = await send_sms(to, business.phone_number, body, SMS_STATUS_PATH)
    return await record_sent(
        conn, business, sent, to=to, body=body, author=author, kind=kind,
        conversation_id=conversation_id, automated=automated, source=source,
    )  # fmt: skip


async def record_sent(
    conn: asyncpg.Connection,
    business: Business,
    sent: SentMessage,
    *,
    to: str,
    body: str,
    author: str,
    kind: str,
    conversation_id: uuid.UUID | None,
    automated: bool,
    source: str,
) -> Sent:
    segments = count_segments(body)
    message_id = None
    if conversation_id is not None:
        # One statement stores the text and marks the conversation active.
        message_id = await conn.fetchval(
            "WITH touched AS (UPDATE conversations SET last_activity_at = now() WHERE id = $1)"
            " INSERT INTO messages (conversation_id, direction, author, body, message_sid, status,"
            " segments, encoding, automated) VALUES ($1, 'outbound', $2, $3, $4, $5, $6, $7, $8)"
            " RETURNING id",
            conversation_id, author, body, sent.sid, sent.status, segments.segments,
            segments.encoding, automated,
        )  # fmt: skip
    common: dict[str, Any] = {
        "business_id": str(business.id),
        "conversation_id": str(conversation_id) if conversation_id else None,
        "message_sid": sent.sid,
    }
    subject = f"businesses/{business.id}/messages/{sent.sid}"
    ids = await events.record_events(
        conn, source,
        [
            events.NewEvent(
                events.MESSAGE_SENT,
                {**common, "to": to, "from": business.phone_number, "kind": kind,
                 "author": author, "segments": segments.segments, "encoding": segments.encoding},
                fact=(sent.sid,), subject=subject,
            ),
            events.NewEvent(
                events.USAGE_RECORDED,
                {**common, "kind": "sms", "direction": "outbound", "segments": segments.segments,
                 "encoding": segments.encoding},
                fact=("sms", sent.sid), subject=subject,
            ),
        ],
    )  # fmt: skip
    return Sent(sid=sent.sid, message_id=message_id, segments=segments.segments, event_ids=ids)
