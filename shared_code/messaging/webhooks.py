"""Twilio messaging webhooks: inbound texts are verified, deduped and queued; status callbacks
record delivery with one guarded UPDATE each.

Inbound answers an empty `<Response/>` at once (the reply comes from the `messages` processor,
never inline). Status callbacks arrive out of order, so a status only ever moves forward.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from shared_code.calls.webhooks import FORBIDDEN, TwimlResult
from shared_code.platform import cache, queues
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings
from shared_code.platform.twilio_client import parse_form, signature_is_valid

log = logging.getLogger(__name__)

EMPTY = TwimlResult(200, "<?xml version='1.0' encoding='UTF-8'?><Response />")
LANDLINE, OPTED_OUT = 30006, 21610
# Later statuses win; terminal ones share the top rank.
STATUS_RANK = {
    "accepted": 1, "scheduled": 1, "queued": 1, "sending": 2, "sent": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "read": 5, "canceled": 4,
}  # fmt: skip


async def incoming(path: str, raw_query: str, body: bytes, signature: str | None) -> TwimlResult:
    params = parse_form(body)
    if not signature_is_valid(path, raw_query, params, signature):
        log.warning("rejected %s: bad or missing Twilio signature", path)
        return FORBIDDEN
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if not sid:
        return EMPTY
    media = []
    for n in range(min(int(params.get("NumMedia") or 0), 10)):
        url = params.get(f"MediaUrl{n}")
        if url:
            media.append({"url": url, "content_type": params.get(f"MediaContentType{n}", "")})
    if await cache.first_seen(f"wh:sms:{sid}", get_settings().webhook_dedupe_seconds):
        await queues.enqueue(
            queues.MESSAGES_QUEUE,
            {
                "kind": "inbound",
                "message_sid": sid,
                "from": params.get("From", ""),
                "to": params.get("To", ""),
                "body": params.get("Body", ""),
                "media": media,
                "received_at": datetime.now(UTC).isoformat(),
            },
        )
    return EMPTY


async def status(path: str, raw_query: str, body: bytes, signature: str | None) -> TwimlResult:
    params = parse_form(body)
    if not signature_is_valid(path, raw_query, params, signature):
        log.warning("rejected %s: bad or missing Twilio signature", path)
        return FORBIDDEN
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    state = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    try:
        error_code = int(params["ErrorCode"]) if params.get("ErrorCode") else None
    except ValueError:
        error_code = None
    if sid and state:
        await record_status(sid, state, error_code)
    return EMPTY


async def record_status(sid: str, state: str, error_code: int | None) -> None:
    rank = STATUS_RANK.get(state, 0)
    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE messages SET status = $2, error_code = coalesce($3, error_code),"
            " status_at = now() WHERE message_sid = $1"
            " AND coalesce((SELECT r FROM jsonb_each_text($4::jsonb) AS s(k, r)"
            "               WHERE k = messages.status)::int, 0) <= $5",
            sid, state, error_code, STATUS_RANK, rank,
        )  # fmt: skip
        await conn.execute(
            "UPDATE notifications_sent SET status = $2 WHERE message_sid = $1", sid, state
        )
        if error_code in (LANDLINE, OPTED_OUT):
            column = "is_landline = true" if error_code == LANDLINE else (
                "opted_out_at = coalesce(opted_out_at, now())"
            )  # fmt: skip
            await conn.execute(
                f"UPDATE contacts ct SET {column} FROM messages m"
                " JOIN conversations c ON c.id = m.conversation_id"
                " WHERE m.message_sid = $1 AND ct.business_id = c.business_id"
                " AND ct.phone = c.customer_phone",
                sid,
            )
