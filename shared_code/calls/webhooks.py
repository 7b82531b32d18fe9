"""Twilio voice webhooks: verified at the door, deduped, handed off, answered with TwiML in
milliseconds, and within 2 s whatever is down.

Nothing here calls Twilio, OpenAI or Event Grid: Twilio gives a webhook 15 s and a slow answer
means retries and duplicate texts. The `calls` queue processor does the real work. Each handler
is a `@twilio_webhook`: it only ever sees a form whose signature checked out.

Under faults: the report goes to the queue, or to the inbox when the queue is down, or the
webhook answers 503 and Twilio retries (the `<Dial action>` carries connection overrides). The
greeting never needs PostgreSQL: the business cache serves the last known business, and with
nothing known the caller hears a greeting that names no business. Fields Twilio would never send
(a negative duration, an overlong status) are cleaned with a log line; a webhook that names no
valid CallSid is answered and nothing is queued (its task would only be poison).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError
from twilio.twiml.voice_response import Dial, VoiceResponse

from shared_code.businesses import templates
from shared_code.businesses.hours import is_open
from shared_code.businesses.store import Business, BusinessLookupUnavailable, business_by_number
from shared_code.calls.classification import MISSED_STATUSES
from shared_code.contracts import CallReport
from shared_code.platform import queues
from shared_code.platform.phones import try_e164
from shared_code.platform.twilio_webhooks import (
    EMPTY_RESPONSE,
    SERVICE_UNAVAILABLE,
    TwilioForm,
    TwimlResult,
    callback_url,
    hand_off,
    twilio_webhook,
)

log = logging.getLogger(__name__)

DIAL_STATUS_PATH = "/api/voice/dial-status"
FINAL_CALL_STATUSES = MISSED_STATUSES | {"completed"}
LOOKUP_SECONDS = 0.5  # the business lookup on the webhook path; then the last known is served
GENERIC_GREETING = "Sorry, we can't take your call right now. We'll text you in a moment."
_MAX_NUMBER, _MAX_STATUS = 64, 32  # CallReport's limits
Source = Literal["dial-status", "status", "no-owner", "after-hours"]


def _duration(form: TwilioForm, name: str | None) -> int | None:
    value = (form.get(name) or "") if name else ""
    if not value:
        return None
    if not value.isdecimal():
        log.warning("ignored %s=%r: not a count of seconds", name, value[:20])
        return None
    return int(value[:9])  # ~31 years: more digits are not a call


def _short(form: TwilioForm, name: str, limit: int) -> str | None:
    value = form.get(name)
    if value is not None and len(value) > limit:
        log.warning("cut %s of %d characters to %d", name, len(value), limit)
        return value[:limit]
    return value


def _call_report(
    form: TwilioForm,
    source: Source,
    status: str | None,
    duration_param: str | None = None,
    to_number: str | None = None,
) -> CallReport | None:
    """The report to queue, or None (logged) when Twilio's fields don't make one: the caller
    still gets the TwiML, and the queue never holds a task its processor would refuse."""
    caller = form.get("From", "")
    if len(caller) > _MAX_NUMBER:
        log.warning("dropped From of %d characters: not a phone number", len(caller))
        caller = ""
    try:
        return CallReport(
            call_sid=form.get("CallSid", ""),
            from_number=caller,
            to_number=to_number or form.get("To", ""),
            source=source,
            dial_status=status[:_MAX_STATUS] if status else status,
            duration_seconds=_duration(form, duration_param),
            answered_by=_short(form, "AnsweredBy", _MAX_STATUS),
        )
    except ValidationError as err:
        fields = ", ".join(str(e["loc"][0]) for e in err.errors(include_input=False))
        log.warning("call report not queued: invalid %s", fields)
        return None


async def _hand_off(report: CallReport | None, stage: str) -> bool:
    """Queue the report once (False: nothing could keep it; answer 503)."""
    if report is None:
        return True
    key = f"wh:voice:{stage}:{report.call_sid}"
    return await hand_off(queues.CALLS_QUEUE, key, report.to_json())


async def _business(to_number: str | None) -> Business | None:
    """The business called, or None; raises BusinessLookupUnavailable when the database is down
    and this process has never seen the number."""
    if to_number is None:
        return None
    return await business_by_number(to_number, timeout_seconds=LOOKUP_SECONDS)


def _say_and_hang_up(text: str) -> TwimlResult:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return TwimlResult(200, str(response.to_xml()))


def _missed_greeting(business: Business | None) -> TwimlResult:
    if business is None:
        return _say_and_hang_up(GENERIC_GREETING)
    return _say_and_hang_up(
        templates.render("missed_call_greeting", business.templates, business_name=business.name)
    )


@twilio_webhook
async def incoming(form: TwilioForm) -> TwimlResult:
    """A call arrives: dial the owner in hours; otherwise say sorry and queue the miss."""
    try:
        business = await _business(try_e164(form.get("To")))
    except BusinessLookupUnavailable:
        # No owner phone can be known: greet, and queue the miss as one with no owner to dial.
        log.warning("database down and number unknown here: generic greeting")
        if not await _hand_off(_call_report(form, "no-owner", "no-owner"), "incoming"):
            return SERVICE_UNAVAILABLE
        return _missed_greeting(None)
    if business is None:
        return _say_and_hang_up("This number is not in service.")
    caller = try_e164(form.get("From"))
    if caller and business.is_blocked(caller):
        response = VoiceResponse()
        response.reject()
        return TwimlResult(200, str(response.to_xml()))
    reason: Source | None = None
    if not business.owner_phone:
        reason = "no-owner"
    elif not is_open(business.weekly_hours, business.time_zone, datetime.now(UTC)):
        reason = "after-hours"
    if reason is not None:
        report = _call_report(form, reason, reason, to_number=business.phone_number)
        if not await _hand_off(report, "incoming"):
            return SERVICE_UNAVAILABLE
        return _missed_greeting(business)
    dial = Dial(
        timeout=business.ring_timeout_seconds,
        answer_on_bridge=True,
        action=callback_url(DIAL_STATUS_PATH),
        method="POST",
    )
    dial.number(business.owner_phone)
    response = VoiceResponse()
    response.append(dial)
    return TwimlResult(200, str(response.to_xml()))


@twilio_webhook
async def dial_status(form: TwilioForm) -> TwimlResult:
    """The `<Dial action>`: queue the outcome; a miss gets the apology, anything else hangs up."""
    status = form.get("DialCallStatus")
    report = _call_report(form, "dial-status", status, "DialCallDuration")
    if not await _hand_off(report, "dial-status"):
        return SERVICE_UNAVAILABLE
    if status in MISSED_STATUSES:
        try:
            business = await _business(try_e164(form.get("To")))
        except BusinessLookupUnavailable:
            log.warning("database down and number unknown here: generic greeting")
            return _missed_greeting(None)
        if business is not None:
            return _missed_greeting(business)
    response = VoiceResponse()
    response.hangup()
    return TwimlResult(200, str(response.to_xml()))


@twilio_webhook
async def call_status(form: TwilioForm) -> TwimlResult:
    """Status callback for numbers that ring without forwarding: queue final statuses only."""
    status = form.get("CallStatus", "")
    if status in FINAL_CALL_STATUSES:
        report = _call_report(form, "status", status, "CallDuration")
        if not await _hand_off(report, "status"):
            return SERVICE_UNAVAILABLE
    return EMPTY_RESPONSE
