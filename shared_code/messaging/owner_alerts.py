"""Owner alerts by SMS, one per event however often Event Grid delivers it.

The `notifications_sent` row is inserted in the same transaction as the send: a concurrent
duplicate waits on the unique key and then sees the conflict; a failed send rolls the row back so
Event Grid's retry can try again. Alerts say how to answer the customer by text ("#12 ...").
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared_code.businesses import templates
from shared_code.businesses.hours import quiet_until
from shared_code.businesses.store import Business, get_business
from shared_code.messaging import outbound
from shared_code.platform import events, queues
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/notifications"

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


def reply_hint(ref: Any) -> str:
    return f" Reply #{ref} <message> to text them." if ref else ""


def missed_call_text(business: Business, data: dict[str, Any]) -> str:
    note = _TEXT_BACK_NOTES.get(data.get("text_back_status", ""), "")
    body = templates.render(
        "owner_missed_call_alert",
        business.templates,
        business_name=business.name,
        caller=data.get("caller", "unknown"),
        time=_local_clock(data.get("received_at"), business.time_zone),
        text_back_note=note.format(hold=_local_clock(data.get("hold_until"), business.time_zone)),
    )
    return body + reply_hint(data.get("conversation_ref"))


def lead_text(business: Business, data: dict[str, Any]) -> str:
    return f"New lead from {data.get('customer')}: {data.get('summary', '')}" + reply_hint(
        data.get("conversation_ref")
    )


def escalation_text(business: Business, data: dict[str, Any]) -> str:
    return (
        f"URGENT: {data.get('customer')} needs you now ({data.get('reason', 'asked for you')})."
        f' Last text: "{str(data.get("last_text", ""))[:120]}"'
        + reply_hint(data.get("conversation_ref"))
    )


def credits_text(business: Business, data: dict[str, Any]) -> str:
    balance = int(data.get("balance_micro", 0)) / 1_000_000
    if data.get("reason") == "exhausted":
        return (
            "NeverMiss: your credits ran out, so the assistant is using the scripted intake."
            " Texts still go out. Top up to turn the AI back on."
        )
    threshold = int(data.get("threshold_micro", 0)) / 1_000_000
    return f"NeverMiss: your credit balance is ${balance:.2f}, below ${threshold:.2f}. Top up soon."


def streak_text(business: Business, data: dict[str, Any]) -> str:
    amount = int(data.get("amount_micro", 0)) / 1_000_000
    return (
        f"NeverMiss: {data.get('streak')}-day streak! You earned ${amount:.2f} in credits."
        " Keep answering your leads every day."
    )


ALERTS = {
    events.CALL_MISSED: ("missed_call", missed_call_text),
    events.LEAD_QUALIFIED: ("lead", lead_text),
    events.CONVERSATION_ESCALATED: ("escalation", escalation_text),
    events.CREDITS_LOW: ("credits", credits_text),
    events.STREAK_REWARD_GRANTED: ("streak", streak_text),
}
# Notes that can wait for morning: held through quiet hours in the business's zone.
DEFERRABLE = frozenset({"streak"})


async def alert_owner(event_id: str, event_type: str, data: dict[str, Any]) -> str:
    """Text the owner about an event; returns "sent", "duplicate" or why it was skipped."""
    if event_type not in ALERTS:
        return "not-an-alert"
    kind, compose = ALERTS[event_type]
    business = await get_business(uuid.UUID(data["business_id"]))
    if business is None:
        log.warning("%s alert %s for unknown business: skipped", kind, event_id)
        return "unknown-business"
    if not business.owner_phone:
        return "no-owner-phone"
    if event_type == events.STREAK_REWARD_GRANTED and not str(data.get("kind", "")).startswith(
        "milestone"
    ):
        return "not-noteworthy"  # daily rewards show in the account; milestones get a text
    if kind in DEFERRABLE:
        settings = get_settings()
        hold = quiet_until(
            business.time_zone, datetime.now(UTC), settings.quiet_hours_start,
            settings.quiet_hours_end,
        )  # fmt: skip
        if hold is not None:
            await queues.enqueue(
                queues.MESSAGES_QUEUE,
                {"kind": "alert", "event_id": event_id, "event_type": event_type, "data": data},
                delay_seconds=int((hold - datetime.now(UTC)).total_seconds()) + 1,
            )
            return "held"
    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():
        fresh = await conn.fetchval(
            "INSERT INTO notifications_sent (event_id, kind, business_id)"
            " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
            uuid.UUID(event_id), kind, business.id,
        )  # fmt: skip
        if not fresh:
            return "duplicate"
        sent = await outbound.send_text(
            conn, business, to=business.owner_phone, body=compose(business, data),
            author="system", kind="owner_alert", conversation_id=None, automated=False,
            source=SOURCE,
        )  # fmt: skip
        await conn.execute(
            "UPDATE notifications_sent SET message_sid = $3 WHERE event_id = $1 AND kind = $2",
            uuid.UUID(event_id), kind, sent.sid,
        )  # fmt: skip
    await events.publish_now(sent.event_ids)
    return "sent"
