"""Owner alerts by SMS, one per event however often Event Grid delivers it.

The `notifications_sent` row is inserted in the same transaction as the text's intent: a
concurrent duplicate waits on the unique key and then sees the conflict. The text is sent after
commit (messaging.delivery), so a refused or failed send never loses the alert's record: a
transient failure is retried by the outbox timer's sweep. Alerts say how to answer the customer
by text ("#12 ...").
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared_code.businesses import templates
from shared_code.businesses.hours import quiet_until
from shared_code.businesses.store import Business, get_business
from shared_code.contracts import (
    CallMissed,
    ConversationEscalated,
    CreditsLow,
    Event,
    HeldOwnerAlert,
    LeadQualified,
    StreakRewardGranted,
    parse_event,
)
from shared_code.messaging import outbound
from shared_code.platform.settings import get_settings
from shared_code.platform.work import Work, work

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/notifications"

_TEXT_BACK_NOTES = {
    "sent": "We texted them back.",
    "held": "Quiet hours: we'll text them at {hold}.",
    "suppressed_cooldown": "We texted them recently, so not again.",
    "suppressed_open_conversation": "They already have an open conversation with us.",
    "suppressed_opted_out": "They opted out of texts.",
    "suppressed_landline": "Their number is a landline, so no text.",
    "suppressed_undeliverable": "Their number can't receive our texts, so no text.",
    "suppressed_invalid_number": "No caller ID, so no text.",
}


def _local_clock(value: datetime | None, time_zone: str) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(time_zone)).strftime("%-I:%M %p")


def reply_hint(ref: Any) -> str:
    return f" Reply #{ref} <message> to text them." if ref else ""


def missed_call_text(business: Business, event: CallMissed) -> str:
    note = _TEXT_BACK_NOTES.get(event.text_back_status, "")
    body = templates.render(
        "owner_missed_call_alert",
        business.templates,
        business_name=business.name,
        caller=event.caller or "unknown",
        time=_local_clock(event.received_at, business.time_zone),
        text_back_note=note.format(hold=_local_clock(event.hold_until, business.time_zone)),
    )
    return body + reply_hint(event.conversation_ref)


def lead_text(business: Business, event: LeadQualified) -> str:
    return f"New lead from {event.customer}: {event.summary}" + reply_hint(event.conversation_ref)


def escalation_text(business: Business, event: ConversationEscalated) -> str:
    return (
        f"URGENT: {event.customer} needs you now ({event.reason or 'asked for you'})."
        f' Last text: "{event.last_text[:120]}"' + reply_hint(event.conversation_ref)
    )


def credits_text(business: Business, event: CreditsLow) -> str:
    balance = event.balance_micro / 1_000_000
    if event.reason == "exhausted":
        return (
            "NeverMiss: your credits ran out, so the assistant is using the scripted intake."
            " Texts still go out. Top up to turn the AI back on."
        )
    threshold = event.threshold_micro / 1_000_000
    return f"NeverMiss: your credit balance is ${balance:.2f}, below ${threshold:.2f}. Top up soon."


def streak_text(business: Business, event: StreakRewardGranted) -> str:
    amount = event.amount_micro / 1_000_000
    return (
        f"NeverMiss: {event.streak}-day streak! You earned ${amount:.2f} in credits."
        " Keep answering your leads every day."
    )


# Event type -> (the alert's kind, its text). One alert per (event id, kind).
ALERTS: dict[type[Event], tuple[str, Callable[[Business, Any], str]]] = {
    CallMissed: ("missed_call", missed_call_text),
    LeadQualified: ("lead", lead_text),
    ConversationEscalated: ("escalation", escalation_text),
    CreditsLow: ("credits", credits_text),
    StreakRewardGranted: ("streak", streak_text),
}
ALERT_TYPES = frozenset(model.type for model in ALERTS)
# Notes that can wait for morning: held through quiet hours in the business's zone.
DEFERRABLE = frozenset({"streak"})


async def alert_owner(event_id: uuid.UUID, event: Event) -> str:
    """Text the owner about an event; returns "sent", "duplicate" or why it was skipped."""
    if type(event) not in ALERTS:
        return "not-an-alert"
    kind, compose = ALERTS[type(event)]
    business = await get_business(event.business_id)
    if business is None:
        log.warning("%s alert %s for unknown business: skipped", kind, event_id)
        return "unknown-business"
    if not business.owner_phone:
        return "no-owner-phone"
    if isinstance(event, StreakRewardGranted) and not event.kind.startswith("milestone"):
        return "not-noteworthy"  # daily rewards show in the account; milestones get a text
    async with work(SOURCE) as w:
        if kind in DEFERRABLE and _hold_for_morning(w, business, event_id, event):
            return "held"
        if not await _claim(w, event_id, kind, business.id):
            return "duplicate"
        await outbound.send_after_commit(
            w, business, to=business.owner_phone, body=compose(business, event),
            author="system", kind="owner_alert", fact=alert_fact(event_id, kind),
            conversation_id=None, automated=False,
        )  # fmt: skip
    return "sent"


def alert_fact(event_id: uuid.UUID, kind: str) -> str:
    """The one text an alert is: its intent's key (status callbacks find the alert by it)."""
    return f"alert:{event_id}:{kind}"


async def send_held_alert(task: HeldOwnerAlert) -> str:
    """The `messages` queue's held alert, due now that quiet hours are over."""
    return await alert_owner(task.event_id, parse_event(task.event_type, task.data))


def _hold_for_morning(w: Work, business: Business, event_id: uuid.UUID, event: Event) -> bool:
    """In quiet hours, queue the alert to come back when they end; True when held."""
    settings = get_settings()
    now = datetime.now(UTC)
    hold = quiet_until(
        business.time_zone, now, settings.quiet_hours_start, settings.quiet_hours_end
    )
    if hold is None:
        return False
    task = HeldOwnerAlert(event_id=event_id, event_type=event.type, data=event.to_json())
    w.after_commit(task, delay_seconds=int((hold - now).total_seconds()) + 1)
    return True


async def _claim(w: Work, event_id: uuid.UUID, kind: str, business_id: uuid.UUID) -> bool:
    """One alert per event and kind: the row is inserted in the same transaction as the send,
    so a concurrent duplicate waits on the key and then sees the conflict."""
    fresh = await w.conn.fetchval(
        "INSERT INTO notifications_sent (event_id, kind, business_id)"
        " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
        event_id, kind, business_id,
    )  # fmt: skip
    return bool(fresh)


async def record_alert_status(w: Work, sid: str, state: str) -> None:
    """The delivery status of the owner note sent as `sid` (status callbacks)."""
    await w.conn.execute(
        "UPDATE notifications_sent n SET status = $2, message_sid = $1 FROM outbound_texts o"
        " WHERE o.message_sid = $1 AND o.kind = 'owner_alert'"
        # the alert's key (`alert_fact`), read back: both lookups use a unique index
        " AND n.event_id = split_part(o.fact_key, ':', 2)::uuid"
        " AND n.kind = split_part(o.fact_key, ':', 3)",
        sid, state,
    )  # fmt: skip
