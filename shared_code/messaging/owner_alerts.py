"""Owner alerts by SMS, one per event however often Event Grid delivers it.

The `notifications_sent` row is inserted in the same transaction as the text's intent: a
concurrent duplicate waits on the unique key and then sees the conflict. The text is sent after
commit (messaging.delivery), so a refused or failed send never loses the alert's record: a
transient failure is retried by the outbox timer's sweep. Alerts say how to answer the customer
by text ("#12 ..."): the owner's copy only. Missed calls, leads, escalations and voicemails
also go to the team phones marked for alerts (`Business.alert_phones`), one text per phone.

A voicemail alert says who called, when (in the business's zone), how long, the transcript
trimmed so the whole text fits two SMS segments, and a signed listen link (platform.signed_links).
A transcript that arrives later (a retried transcription) reaches the same phones in a short
follow-up (`send_transcript_followup`), once.
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
    VoicemailReceived,
    parse_event,
)
from shared_code.messaging import outbound
from shared_code.platform import gsm_text, signed_links
from shared_code.platform.settings import get_settings
from shared_code.platform.sms_segments import count_segments
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


def missed_call_text(business: Business, event: CallMissed, hint: str = "") -> str:
    note = _TEXT_BACK_NOTES.get(event.text_back_status, "")
    body = templates.render(
        "owner_missed_call_alert",
        business.templates,
        business_name=business.name,
        caller=event.caller or "unknown",
        time=_local_clock(event.received_at, business.time_zone),
        text_back_note=note.format(hold=_local_clock(event.hold_until, business.time_zone)),
    )
    return body + hint


def lead_text(business: Business, event: LeadQualified, hint: str = "") -> str:
    return f"New lead from {event.customer}: {event.summary}" + hint


def escalation_text(business: Business, event: ConversationEscalated, hint: str = "") -> str:
    return (
        f"URGENT: {event.customer} needs you now ({event.reason or 'asked for you'})."
        f' Last text: "{event.last_text[:120]}"' + hint
    )


ALERT_SEGMENTS = 2  # a voicemail alert, transcript included, fits two SMS segments
NO_LINK = "open the NeverMiss inbox or API"


def clock_duration(seconds: int) -> str:
    """0:14, 1:05: how long a voicemail is, as a phone shows it."""
    return f"{seconds // 60}:{seconds % 60:02d}"


def fit_segments(render: Callable[[str], str], transcript: str) -> str:
    """`render(quoted transcript)` with the transcript cut (GSM-7, at a word) until the whole
    text fits ALERT_SEGMENTS; the transcript is dropped when even a few words don't fit."""
    words = gsm_text.to_gsm(transcript)
    if not words:
        return render("No transcript.")
    room = 153 * ALERT_SEGMENTS - len(render("")) - 2
    while room >= 12:
        text = render(f'"{gsm_text.cut(words, room)}"')
        if count_segments(text).segments <= ALERT_SEGMENTS:
            return text
        room -= max(4, (len(text) - 153 * ALERT_SEGMENTS) // 2)
    return render("Transcript too long for a text: see the inbox.")


def voicemail_text(business: Business, event: VoicemailReceived, hint: str = "") -> str:
    def render(transcript: str) -> str:
        body = templates.render(
            "owner_voicemail_alert",
            business.templates,
            business_name=business.name,
            caller=event.caller or "unknown",
            time=_local_clock(event.received_at, business.time_zone),
            duration=clock_duration(event.duration_seconds),
            transcript=transcript,
            link=signed_links.listen_link(event.recording_sid) or NO_LINK,
        )
        return body + hint

    if event.transcript:
        return fit_segments(render, event.transcript)
    if event.transcription_status == "pending":
        return render("Transcript to follow.")
    return render("No transcript.")


def transcript_followup_text(
    business: Business, event: VoicemailReceived, transcript: str, hint: str = ""
) -> str:
    def render(quoted: str) -> str:
        caller = event.caller or "unknown"
        length = clock_duration(event.duration_seconds)
        return f"NeverMiss: voicemail from {caller} ({length}) said: {quoted}{hint}"

    return fit_segments(render, transcript)


def credits_text(business: Business, event: CreditsLow, hint: str = "") -> str:
    balance = event.balance_micro / 1_000_000
    if event.reason == "exhausted":
        return (
            "NeverMiss: your credits ran out, so the assistant is using the scripted intake."
            " Texts still go out. Top up to turn the AI back on."
        )
    threshold = event.threshold_micro / 1_000_000
    return f"NeverMiss: your credit balance is ${balance:.2f}, below ${threshold:.2f}. Top up soon."


def streak_text(business: Business, event: StreakRewardGranted, hint: str = "") -> str:
    amount = event.amount_micro / 1_000_000
    return (
        f"NeverMiss: {event.streak}-day streak! You earned ${amount:.2f} in credits."
        " Keep answering your leads every day."
    )


# Event type -> (the alert's kind, its text given the reply hint). One alert per (event id, kind).
ALERTS: dict[type[Event], tuple[str, Callable[[Business, Any, str], str]]] = {
    CallMissed: ("missed_call", missed_call_text),
    LeadQualified: ("lead", lead_text),
    ConversationEscalated: ("escalation", escalation_text),
    CreditsLow: ("credits", credits_text),
    StreakRewardGranted: ("streak", streak_text),
    VoicemailReceived: ("voicemail", voicemail_text),
}
ALERT_TYPES = frozenset(model.type for model in ALERTS)
# Notes that can wait for morning: held through quiet hours in the business's zone.
DEFERRABLE = frozenset({"streak"})
# Alerts about a customer, which the team phones marked for alerts get too (account matters,
# credits and streaks, are the owner's).
TEAM_KINDS = frozenset({"missed_call", "lead", "escalation", "voicemail", "voicemail_transcript"})


def recipients(business: Business, kind: str) -> list[str]:
    if kind in TEAM_KINDS:
        return business.alert_phones
    return [business.owner_phone] if business.owner_phone else []


async def alert_owner(event_id: uuid.UUID, event: Event) -> str:
    """Text the owner about an event; returns "sent", "duplicate" or why it was skipped."""
    if type(event) not in ALERTS:
        return "not-an-alert"
    kind, compose = ALERTS[type(event)]
    business = await get_business(event.business_id)
    if business is None:
        log.warning("%s alert %s for unknown business: skipped", kind, event_id)
        return "unknown-business"
    if not recipients(business, kind):
        return "no-owner-phone"
    if isinstance(event, StreakRewardGranted) and not event.kind.startswith("milestone"):
        return "not-noteworthy"  # daily rewards show in the account; milestones get a text
    async with work(SOURCE) as w:
        if kind in DEFERRABLE and _hold_for_morning(w, business, event_id, event):
            return "held"
        if not await _claim(w, event_id, kind, business.id):
            return "duplicate"
        hint = reply_hint(getattr(event, "conversation_ref", None))
        await _send_to_phones(
            w,
            business,
            event_id,
            kind,
            lambda owner: compose(business, event, hint if owner else ""),
        )
    return "sent"


async def _send_to_phones(
    w: Work,
    business: Business,
    event_id: uuid.UUID,
    kind: str,
    compose: Callable[[bool], str],
) -> None:
    """One text per phone the alert goes to; `compose(is_owner)`: only the owner's copy says
    how to answer by text (a team phone's "#12 ..." would reach nobody)."""
    for phone in recipients(business, kind):
        owner = phone == business.owner_phone
        try:
            await outbound.send_after_commit(
                w, business, to=phone, body=compose(owner), author="system",
                kind="owner_alert", fact=alert_fact(event_id, kind, None if owner else phone),
                conversation_id=None, automated=False,
            )  # fmt: skip
        except outbound.SendBlocked as blocked:
            if owner:
                raise
            log.warning("%s alert to a team phone refused: %s", kind, blocked.reason)


async def send_transcript_followup(
    w: Work, business: Business, event: VoicemailReceived, transcript: str
) -> bool:
    """The short note with a transcript that arrived after the voicemail's alert, in the
    caller's unit of work; once per voicemail (False when it was sent already)."""
    kind = "voicemail_transcript"
    if not business.alert_phones or not await _claim(w, event.id, kind, business.id):
        return False
    hint = reply_hint(event.conversation_ref)
    await _send_to_phones(
        w, business, event.id, kind,
        lambda owner: transcript_followup_text(business, event, transcript, hint if owner else ""),
    )  # fmt: skip
    return True


def alert_fact(event_id: uuid.UUID, kind: str, phone: str | None = None) -> str:
    """The one text an alert is: its intent's key (status callbacks find the alert by it).
    The owner's copy is `alert:<id>:<kind>`; a team phone's adds `:<phone>`."""
    return f"alert:{event_id}:{kind}" + (f":{phone}" if phone else "")


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
