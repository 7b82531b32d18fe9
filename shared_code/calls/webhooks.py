"""Twilio voice webhooks on the caller's call: verified at the door, deduped, handed off,
answered with TwiML in milliseconds, and within 2 s whatever is down.

Nothing here calls Twilio, OpenAI or Event Grid: Twilio gives a webhook 15 s and a slow answer
means retries and duplicate texts. The `calls` queue processor does the real work. Each handler
is a `@twilio_webhook`: it only ever sees a form whose signature checked out.

- /voice/incoming rings the business's phones in hours (calls.twiml.dial: the owner's and the
  team's at once, each with the business's human check); after hours or with nobody to ring, the
  caller hears the honest greeting and may leave a voicemail, and the miss is queued.
- /voice/dial-status (the `<Dial action>`) classifies how the ringing ended
  (calls.classification) from what Twilio sends and what the leg's human check recorded
  (`call_legs`: Twilio never sends `AnsweredBy` here), queues the report, and answers a miss
  with the greeting and voicemail, anything else with a hang-up.
- /voice/status: the status callback of numbers that ring without forwarding.
The legs' own webhooks are in calls.screening, the voicemail's in calls.recording_webhooks.

Under faults: the database work of a webhook (the business lookup, the leg's facts, the
caller's facts for the greeting) shares `DATABASE_SECONDS`; past it the business cache serves
the last known business, the acceptance is read from `DialBridged`, and the greeting promises no
text. The report goes to the queue, or to the inbox when the queue is down, or the webhook
answers 503 and Twilio retries (the URLs carry connection overrides). Fields Twilio would never
send (a negative duration, an overlong status, a malformed leg sid) are cleaned with a log line;
a webhook that names no valid CallSid is answered and nothing is queued (its task would only be
poison).
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError

from shared_code.businesses.hours import is_open
from shared_code.businesses.store import Business, BusinessLookupUnavailable, business_by_number
from shared_code.calls import twiml, webhook_reads
from shared_code.calls.classification import CONNECTED_STATUSES, MISSED_STATUSES, classify
from shared_code.calls.greetings import NO_TEXT, greeting_text
from shared_code.contracts import AnswerCheck, CallReport, Greeting
from shared_code.platform import queues
from shared_code.platform.phones import try_e164
from shared_code.platform.settings import get_settings
from shared_code.platform.twilio_webhooks import (
    EMPTY_RESPONSE,
    SERVICE_UNAVAILABLE,
    TwilioForm,
    TwimlResult,
    hand_off,
    twilio_webhook,
)

log = logging.getLogger(__name__)

FINAL_CALL_STATUSES = MISSED_STATUSES | {"completed"}
LOOKUP_SECONDS = 0.5  # the business lookup on the webhook path; then the last known is served
# All of one webhook's database work (lookup and reads); the queue put gets the rest of 2 s.
DATABASE_SECONDS = 1.0
_MAX_NUMBER, _MAX_STATUS = 64, 32  # CallReport's limits
CALL_SID = re.compile(r"^CA[0-9A-Za-z]{1,62}$")
Source = Literal["dial-status", "status", "no-owner", "after-hours", "amd"]


def valid_call_sid(value: str | None) -> str | None:
    """`value` if it is a CallSid, else None (a parameter Twilio would never send)."""
    return value if value and CALL_SID.match(value) else None


def _duration(form: TwilioForm, name: str | None) -> int | None:
    value = (form.get(name) or "") if name else ""
    if not value:
        return None
    if not value.isdecimal():
        log.warning("ignored %s=%r: not a count of seconds", name, value[:20])
        return None
    return int(value[:9])  # ~31 years: more digits are not a call


def call_report(
    form: TwilioForm,
    source: Source,
    status: str | None,
    duration_param: str | None = None,
    *,
    to_number: str | None = None,
    answer_check: AnswerCheck | None = None,
    accepted: bool | None = None,
    leg_sid: str | None = None,
    answered_by: str | None = None,
    greeting: Greeting | None = None,
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
            to_number=to_number if to_number is not None else form.get("To", ""),
            source=source,
            dial_status=status[:_MAX_STATUS] if status else status,
            duration_seconds=_duration(form, duration_param),
            answered_by=answered_by[:_MAX_STATUS] if answered_by else None,
            answer_check=answer_check,
            accepted=accepted,
            leg_sid=leg_sid,
            greeting=greeting,
        )
    except ValidationError as err:
        fields = ", ".join(str(e["loc"][0]) for e in err.errors(include_input=False))
        log.warning("call report not queued: invalid %s", fields)
        return None


async def hand_off_report(report: CallReport | None, stage: str, key: str | None = None) -> bool:
    """Queue the report once per stage and call (False: nothing could keep it; answer 503)."""
    if report is None:
        return True
    dedupe_key = f"wh:voice:{stage}:{key or report.call_sid}"
    return await hand_off(queues.CALLS_QUEUE, dedupe_key, report.to_json())


async def lookup_business(to_number: str | None) -> Business | None:
    """The business called, or None; raises BusinessLookupUnavailable when the database is down
    and this process has never seen the number."""
    if to_number is None:
        return None
    return await business_by_number(to_number, timeout_seconds=LOOKUP_SECONDS)


def _seconds_left(started: float) -> float:
    return DATABASE_SECONDS - (time.monotonic() - started)


def _answer(xml: str) -> TwimlResult:
    return TwimlResult(200, xml)


ANSWER_CHECKS: dict[str, AnswerCheck] = {"press_key": "press_key", "amd": "amd", "none": "none"}


@twilio_webhook
async def incoming(form: TwilioForm) -> TwimlResult:
    """A call arrives: ring the business's phones in hours; otherwise greet, take a voicemail
    and queue the miss."""
    started = time.monotonic()
    try:
        business = await lookup_business(try_e164(form.get("To")))
    except BusinessLookupUnavailable:
        # No phone to ring can be known: greet, and queue the miss as one with nobody to ring.
        log.warning("database down and number unknown here: generic greeting")
        report = call_report(form, "no-owner", "no-owner", greeting=NO_TEXT)
        if not await hand_off_report(report, "incoming"):
            return SERVICE_UNAVAILABLE
        return _answer(twiml.voicemail(greeting_text(None, NO_TEXT, after_hours=False)))
    if business is None:
        return _answer(twiml.say_and_hang_up("This number is not in service."))
    caller = try_e164(form.get("From"))
    if caller and business.is_blocked(caller):
        return _answer(twiml.reject())
    now = datetime.now(UTC)
    phones = business.dial_phones
    reason: Source | None = None
    if not phones:
        reason = "no-owner"
    elif not is_open(business.weekly_hours, business.time_zone, now):
        reason = "after-hours"
    if reason is None:
        parent = valid_call_sid(form.get("CallSid"))
        return _answer(
            twiml.dial(
                phones,
                parent_call_sid=parent or "",
                business_number=business.phone_number,
                answer_check=business.answer_check,
                ring_seconds=business.ring_timeout_seconds,
            )
        )
    greeting = await webhook_reads.greeting(business, caller, now, _seconds_left(started))
    report = call_report(form, reason, reason, to_number=business.phone_number, greeting=greeting)
    if not await hand_off_report(report, "incoming"):
        return SERVICE_UNAVAILABLE
    text = greeting_text(business, greeting, after_hours=reason == "after-hours")
    return _answer(twiml.voicemail(text))


@twilio_webhook
async def dial_status(form: TwilioForm) -> TwimlResult:
    """The `<Dial action>`: classify and queue the outcome; a miss hears the greeting and may
    leave a voicemail, anything else hangs up."""
    started = time.monotonic()
    status = form.get("DialCallStatus")
    known = True
    try:
        business = await lookup_business(try_e164(form.get("To")))
    except BusinessLookupUnavailable:
        log.warning("database down and number unknown here: no human check known")
        business, known = None, False
    check = ANSWER_CHECKS.get(business.answer_check) if business is not None else None
    leg_sid = valid_call_sid(form.get("DialCallSid"))
    connected = (status or "").strip().lower() in CONNECTED_STATUSES
    # A screened leg is bridged only after its key: DialBridged=true is an acceptance too (and
    # the acceptance needs no reading then).
    bridged = (form.get("DialBridged") or "").strip().lower() == "true"
    leg = None
    if connected and (check == "amd" or (check == "press_key" and not bridged)):
        leg = await webhook_reads.leg_facts(leg_sid, _seconds_left(started))
    accepted = None
    if check == "press_key":
        accepted = bridged or (leg is not None and leg.accepted)
    answered_by = leg.answered_by if leg is not None else None
    duration = _duration(form, "DialCallDuration")
    verdict = classify(
        status, duration, answer_check=check, accepted=accepted, answered_by=answered_by,
        min_answered_seconds=get_settings().min_answered_seconds,
    )  # fmt: skip
    greeting: Greeting | None = None
    if verdict.missed:
        greeting = NO_TEXT
        if business is not None:
            caller = try_e164(form.get("From"))
            now = datetime.now(UTC)
            greeting = await webhook_reads.greeting(business, caller, now, _seconds_left(started))
    report = call_report(
        form, "dial-status", status, "DialCallDuration",
        answer_check=check, accepted=accepted, leg_sid=leg_sid, answered_by=answered_by,
        greeting=greeting,
    )  # fmt: skip
    if not await hand_off_report(report, "dial-status"):
        return SERVICE_UNAVAILABLE
    if greeting is not None and (business is not None or not known):
        return _answer(twiml.voicemail(greeting_text(business, greeting, after_hours=False)))
    return _answer(twiml.hang_up())  # answered, or a number no business has (any more)


@twilio_webhook
async def call_status(form: TwilioForm) -> TwimlResult:
    """Status callback for numbers that ring without forwarding: queue final statuses only."""
    status = form.get("CallStatus", "")
    if status in FINAL_CALL_STATUSES:
        report = call_report(form, "status", status, "CallDuration")
        if not await hand_off_report(report, "status"):
            return SERVICE_UNAVAILABLE
    return EMPTY_RESPONSE
