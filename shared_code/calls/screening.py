"""Webhooks on a dialled leg (the owner's or a team phone's): the human check.

The caller's call rings every phone of the business at once (calls.twiml.dial). Twilio reports a
leg picked up by the owner's carrier voicemail, or sent there by a Decline, as `completed` with a
duration like a real answer, so each leg proves a person took it:

- press_key: /voice/screen answers the leg with "Call for {business}. Press 1 to take it." and
  one `<Gather>`ed digit; /voice/screen-result records the acceptance of that leg under its parent
  (the caller's CallSid) in `call_legs` and answers an empty `<Response/>`, which ends the whisper
  and bridges the leg. No key: the leg hangs up, is never bridged, and dial-status sees a leg that
  completed without an acceptance (a miss, `not_accepted`).
- amd: Twilio runs answering-machine detection on the leg and posts the verdict to /voice/amd.
  It is recorded on the leg for dial-status to read; a machine verdict is then (only once it is
  recorded) queued as a `CallReport(source="amd")` for the parent, because it may arrive after
  the Dial ended and the call was recorded as answered (the handler then revises it to a miss,
  `machine`).

The parent CallSid rides in the query string of the URLs the app handed Twilio (signed with the
URL); Twilio's `ParentCallSid` stands in when it is missing. Writes get a deadline
(platform.deadline): a key pressed while PostgreSQL is down still bridges the call (`DialBridged`
then tells dial-status that a person accepted); an AMD verdict that could not be recorded is
answered 503 for Twilio to retry, with nothing queued.
"""

from __future__ import annotations

import logging

from shared_code.businesses.store import BusinessLookupUnavailable
from shared_code.calls import legs, twiml
from shared_code.calls.classification import is_machine
from shared_code.calls.webhooks import hand_off_report, lookup_business, valid_call_sid
from shared_code.contracts import CallReport
from shared_code.platform.db import get_pool
from shared_code.platform.deadline import DATABASE_ERRORS, within
from shared_code.platform.phones import try_e164
from shared_code.platform.twilio_webhooks import (
    EMPTY_RESPONSE,
    SERVICE_UNAVAILABLE,
    TwilioForm,
    TwimlResult,
    twilio_webhook,
)

log = logging.getLogger(__name__)

WRITE_SECONDS = 1.0  # a leg's write, then the webhook answers without it
_MAX_ANSWERED_BY = 32


def _parent(form: TwilioForm) -> str | None:
    return valid_call_sid(form.get("parent")) or valid_call_sid(form.get("ParentCallSid"))


async def _business_name(form: TwilioForm) -> str | None:
    """The business the caller called, named in the whisper (None: the whisper names none)."""
    digits = form.get("business") or ""
    number = try_e164(f"+{digits}") if digits.isdecimal() else None
    try:
        business = await lookup_business(number)
    except BusinessLookupUnavailable:
        return None
    return business.name if business is not None else None


@twilio_webhook
async def screen(form: TwilioForm) -> TwimlResult:
    """A leg picked up: ask for the key before it is bridged."""
    return TwimlResult(200, twiml.screen(await _business_name(form), _parent(form)))


async def _write_acceptance(leg_sid: str, parent: str, phone: str | None) -> None:
    pool = await get_pool()
    async with pool.acquire() as conn:
        await legs.record_acceptance(conn, leg_sid, parent, phone)


@twilio_webhook
async def screen_result(form: TwilioForm) -> TwimlResult:
    """The whisper's key: "1" records the acceptance and bridges; anything else hangs up."""
    if (form.get("Digits") or "").strip() != "1":
        return TwimlResult(200, twiml.hang_up())
    leg_sid, parent = valid_call_sid(form.get("CallSid")), _parent(form)
    if leg_sid is None or parent is None:
        log.warning("acceptance not recorded: no leg or parent CallSid; bridging anyway")
        return EMPTY_RESPONSE
    phone = try_e164(form.get("To"))
    try:
        await within(WRITE_SECONDS, _write_acceptance(leg_sid, parent, phone), "acceptance")
    except Exception as exc:  # whatever failed, the person who pressed 1 gets the caller
        log.warning(
            "acceptance of leg %s not recorded (%s): bridged anyway, DialBridged tells the rest",
            leg_sid, type(exc).__name__,
        )  # fmt: skip
    return EMPTY_RESPONSE


async def _write_verdict(leg_sid: str, parent: str, answered_by: str) -> None:
    pool = await get_pool()
    async with pool.acquire() as conn:
        await legs.record_answered_by(conn, leg_sid, parent, answered_by)


@twilio_webhook
async def amd(form: TwilioForm) -> TwimlResult:
    """Answering-machine detection's verdict on a leg: recorded, and a machine queued against
    the parent call (it may have been recorded as answered already)."""
    leg_sid, parent = valid_call_sid(form.get("CallSid")), _parent(form)
    answered_by = (form.get("AnsweredBy") or "").strip()[:_MAX_ANSWERED_BY]
    if leg_sid is None or parent is None or not answered_by:
        log.warning("AMD callback ignored: no leg, parent or verdict")
        return EMPTY_RESPONSE
    try:
        await within(WRITE_SECONDS, _write_verdict(leg_sid, parent, answered_by), "AMD verdict")
    except DATABASE_ERRORS as exc:
        # Nothing queued either: Twilio's retry records the verdict and then hands it off, so
        # the report never reaches the handler ahead of the verdict it carries.
        log.warning("AMD verdict on leg %s not recorded (%s)", leg_sid, type(exc).__name__)
        return SERVICE_UNAVAILABLE
    if is_machine(answered_by):
        # The call's numbers are on its row (the handler reads them): Twilio sends none here.
        report = CallReport(
            call_sid=parent, to_number="", source="amd", answered_by=answered_by,
            answer_check="amd", leg_sid=leg_sid,
        )  # fmt: skip
        if not await hand_off_report(report, "amd", key=leg_sid):
            return SERVICE_UNAVAILABLE
    return EMPTY_RESPONSE
