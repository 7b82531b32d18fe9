"""Twilio voice webhooks: verify, dedupe, enqueue, answer TwiML, all in milliseconds.

Nothing here calls Twilio, OpenAI or Event Grid: Twilio gives a webhook 15 s and a slow answer
means retries and duplicate texts. The `calls` queue processor does the real work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from twilio.twiml.voice_response import Dial, VoiceResponse

from shared_code.businesses import templates
from shared_code.businesses.hours import is_open
from shared_code.businesses.store import business_by_number
from shared_code.calls.classification import MISSED_STATUSES
from shared_code.calls.handler import CallReport
from shared_code.platform import cache, queues
from shared_code.platform.phones import try_e164
from shared_code.platform.settings import get_settings
from shared_code.platform.twilio_client import parse_form, public_url, signature_is_valid

log = logging.getLogger(__name__)

DIAL_STATUS_PATH = "/api/voice/dial-status"
FINAL_CALL_STATUSES = MISSED_STATUSES | {"completed"}


@dataclass(frozen=True)
class TwimlResult:
    status_code: int
    body: str
    content_type: str = "application/xml"


WebhookHandler = Callable[[str, str, bytes, str | None], Awaitable[TwimlResult]]

FORBIDDEN = TwimlResult(403, "<?xml version='1.0' encoding='UTF-8'?><Response />")


def _verified(
    path: str, raw_query: str, body: bytes, signature: str | None
) -> dict[str, str] | None:
    params = parse_form(body)
    if not signature_is_valid(path, raw_query, params, signature):
        log.warning("rejected %s: bad or missing Twilio signature", path)
        return None
    return params


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


async def _enqueue_once(report: CallReport, stage: str) -> None:
    """Queue the report unless Redis saw this webhook already (the database dedupes anyway)."""
    key = f"wh:voice:{stage}:{report.call_sid}"
    if await cache.first_seen(key, get_settings().webhook_dedupe_seconds):
        await queues.enqueue(queues.CALLS_QUEUE, report.to_payload())


def _missed_greeting(business_name: str, overrides: dict[str, str]) -> str:
    response = VoiceResponse()
    response.say(templates.render("missed_call_greeting", overrides, business_name=business_name))
    response.hangup()
    return str(response.to_xml())


async def incoming(path: str, raw_query: str, body: bytes, signature: str | None) -> TwimlResult:
    """A call arrives: dial the owner in hours; otherwise say sorry and queue the miss."""
    params = _verified(path, raw_query, body, signature)
    if params is None:
        return FORBIDDEN
    to_number = try_e164(params.get("To"))
    business = await business_by_number(to_number) if to_number else None
    response = VoiceResponse()
    if business is None:
        response.say("This number is not in service.")
        response.hangup()
        return TwimlResult(200, str(response.to_xml()))
    caller = try_e164(params.get("From"))
    if caller and business.is_blocked(caller):
        response.reject()
        return TwimlResult(200, str(response.to_xml()))
    reason = None
    if not business.owner_phone:
        reason = "no-owner"
    elif not is_open(business.weekly_hours, business.time_zone, datetime.now(UTC)):
        reason = "after-hours"
    if reason is not None:
        report = CallReport(
            call_sid=params.get("CallSid", ""),
            from_number=params.get("From", ""),
            to_number=business.phone_number,
            source=reason,
            dial_status=reason,
        )
        await _enqueue_once(report, "incoming")
        return TwimlResult(200, _missed_greeting(business.name, business.templates))
    dial = Dial(
        timeout=business.ring_timeout_seconds,
        answer_on_bridge=True,
        action=public_url(DIAL_STATUS_PATH),
        method="POST",
    )
    dial.number(business.owner_phone)
    response.append(dial)
    return TwimlResult(200, str(response.to_xml()))


async def dial_status(path: str, raw_query: str, body: bytes, signature: str | None) -> TwimlResult:
    """The `<Dial action>`: queue the outcome; a miss gets the apology, anything else hangs up."""
    params = _verified(path, raw_query, body, signature)
    if params is None:
        return FORBIDDEN
    report = CallReport(
        call_sid=params.get("CallSid", ""),
        from_number=params.get("From", ""),
        to_number=params.get("To", ""),
        source="dial-status",
        dial_status=params.get("DialCallStatus"),
        duration_seconds=_int_or_none(params.get("DialCallDuration")),
        answered_by=params.get("AnsweredBy"),
    )
    await _enqueue_once(report, "dial-status")
    if report.dial_status in MISSED_STATUSES:
        to_number = try_e164(report.to_number)
        business = await business_by_number(to_number) if to_number else None
        if business is not None:
            return TwimlResult(200, _missed_greeting(business.name, business.templates))
    response = VoiceResponse()
    response.hangup()
    return TwimlResult(200, str(response.to_xml()))


async def call_status(path: str, raw_query: str, body: bytes, signature: str | None) -> TwimlResult:
    """Status callback for numbers that ring without forwarding: queue final statuses only."""
    params = _verified(path, raw_query, body, signature)
    if params is None:
        return FORBIDDEN
    status = params.get("CallStatus", "")
    if status in FINAL_CALL_STATUSES:
        report = CallReport(
            call_sid=params.get("CallSid", ""),
            from_number=params.get("From", ""),
            to_number=params.get("To", ""),
            source="status",
            dial_status=status,
            duration_seconds=_int_or_none(params.get("CallDuration")),
            answered_by=params.get("AnsweredBy"),
        )
        await _enqueue_once(report, "status")
    return TwimlResult(200, "<?xml version='1.0' encoding='UTF-8'?><Response />")
