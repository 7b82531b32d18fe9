"""Owner alerts by SMS, one per event however often Event Grid delivers it.

The `notifications_sent` row is inserted in the same transaction as the send: a concurrent
duplicate waits on the unique key and then sees the conflict; a failed send rolls the row back so
Event Grid's retry can try again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared_code import templates
from shared_code.businesses import get_business
from shared_code.db import get_pool
from shared_code.twilio_gateway import send_sms

log = logging.getLogger(__name__)

_TEXT_BACK_NOTES = {
    "sent": "We texted them back.",
    "held": "Quiet hours: we'll text them at {hold}.",
    "suppressed_cooldown": "We texted them recently, so not again.",
    "suppressed_open_conversation": "They already have an open conversation with us.",
    "suppressed_opted_out": "They opted out of texts.",
    "suppressed_landline": "Their number is a landline, so no text.",
    "suppressed_invalid_number": "No caller ID, so no text.",
}


def _local_clock(value: str | None, time_zone: str) -> str:
    if not value:
        return ""
    local = datetime.fromisoformat(value).astimezone(ZoneInfo(time_zone))
    return local.strftime("%-I:%M %p")


async def alert_missed_call(event_id: str, data: dict[str, Any]) -> str:
    """Text the owner about a missed call; returns "sent", "duplicate" or why it was skipped."""
    business = await get_business(uuid.UUID(data["business_id"]))
    if business is None:
        log.warning("missed-call alert %s for unknown business: skipped", event_id)
        return "unknown-business"
    if not business.owner_phone:
        return "no-owner-phone"
    note = _TEXT_BACK_NOTES.get(data.get("text_back_status", ""), "")
    body = templates.render(
        "owner_missed_call_alert",
        business.templates,
        business_name=business.name,
        caller=data.get("caller", "unknown"),
        time=_local_clock(data.get("received_at"), business.time_zone),
        text_back_note=note.format(hold=_local_clock(data.get("hold_until"), business.time_zone)),
    )
    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():
        fresh = await conn.fetchval(
            "INSERT INTO notifications_sent (event_id, kind, business_id)"
            " VALUES ($1, 'missed_call', $2) ON CONFLICT DO NOTHING RETURNING 1",
            uuid.UUID(event_id),
            business.id,
        )
        if not fresh:
            return "duplicate"
        sent = await send_sms(business.owner_phone, business.phone_number, body, "/api/sms/status")
        await conn.execute(
            "UPDATE notifications_sent SET message_sid = $2"
            " WHERE event_id = $1 AND kind = 'missed_call'",
            uuid.UUID(event_id),
            sent.sid,
        )
    return "sent"
