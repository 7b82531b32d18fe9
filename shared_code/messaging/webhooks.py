"""Twilio messaging webhooks: inbound texts are verified, deduped and handed off; status
callbacks record delivery.

Inbound answers an empty `<Response/>` at once (the reply comes from the `messages` processor,
never inline), and within 2 s whatever is down: the text goes to the queue, or to the inbox when
the queue is down, or the webhook answers 503 and Twilio retries. Fields Twilio would never send
are cleaned with a log line (a non-numeric `NumMedia`, an overlong media URL or body); a webhook
with no valid MessageSid is answered and nothing is queued. Status callbacks arrive out of order,
so a status only ever moves forward; a landline (30006) or opted-out (21610) verdict is
remembered on the contact. Both handlers are `@twilio_webhook`s: they only ever see a form whose
signature checked out.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from pydantic import ValidationError

from shared_code.contracts import InboundMedia, InboundText
from shared_code.platform import queues
from shared_code.platform.twilio_webhooks import (
    EMPTY_RESPONSE,
    SERVICE_UNAVAILABLE,
    TwilioForm,
    TwimlResult,
    hand_off,
    twilio_webhook,
)

log = logging.getLogger(__name__)

STATUS_DEADLINE_SECONDS = 1.5  # a status callback's database work, then 503

MAX_MEDIA = 10  # Twilio's own limit per message
MAX_BODY = 1600  # Twilio's own limit, and InboundText's
MAX_MEDIA_URL = 2048
MAX_CONTENT_TYPE = 255
MAX_OPT_OUT_TYPE = 16


def _message_sid(form: TwilioForm) -> str:
    return form.get("MessageSid") or form.get("SmsSid") or ""


def _media_count(form: TwilioForm) -> int:
    value = form.get("NumMedia") or "0"
    if not value.isdecimal():
        log.warning("ignored NumMedia=%r: not a count", value[:20])
        return 0
    count = int(value[:3])
    if count > MAX_MEDIA:
        log.warning("NumMedia=%d: reading the first %d", count, MAX_MEDIA)
    return min(count, MAX_MEDIA)


def _media(form: TwilioForm) -> tuple[InboundMedia, ...]:
    """The message's media URLs; one Twilio would never send (not http(s), overlong) is
    dropped with a log line rather than making the text unqueueable."""
    media = []
    for n in range(_media_count(form)):
        url = form.get(f"MediaUrl{n}") or ""
        if not url:
            continue
        if len(url) > MAX_MEDIA_URL or not url.startswith(("https://", "http://")):
            log.warning("dropped MediaUrl%d (%d characters): not a media URL", n, len(url))
            continue
        content_type = form.get(f"MediaContentType{n}", "")[:MAX_CONTENT_TYPE]
        media.append(InboundMedia(url=url, content_type=content_type))
    return tuple(media)


def _body(form: TwilioForm) -> str:
    body = form.get("Body", "")
    if len(body) > MAX_BODY:
        log.warning("cut Body of %d characters to %d", len(body), MAX_BODY)
    return body[:MAX_BODY]


def _opt_out_type(form: TwilioForm) -> str | None:
    """Advanced Opt-Out's verdict (STOP, START, HELP), present only with a Messaging Service."""
    value = (form.get("OptOutType") or "").strip()
    if len(value) > MAX_OPT_OUT_TYPE:
        log.warning("ignored OptOutType of %d characters", len(value))
        return None
    return value or None


def _inbound_text(form: TwilioForm, sid: str) -> InboundText | None:
    """The task to queue, or None (logged) when Twilio's fields don't make one."""
    try:
        return InboundText(
            message_sid=sid,
            from_number=form.get("From", ""),
            to_number=form.get("To", ""),
            body=_body(form),
            media=_media(form),
            received_at=datetime.now(UTC),
            opt_out_type=_opt_out_type(form),
        )
    except ValidationError as err:
        fields = ", ".join(str(e["loc"][0]) for e in err.errors(include_input=False))
        log.warning("inbound text not queued: invalid %s", fields)
        return None


@twilio_webhook
async def incoming(form: TwilioForm) -> TwimlResult:
    sid = _message_sid(form)
    if not sid:
        log.warning("inbound text not queued: no MessageSid")
        return EMPTY_RESPONSE
    text = _inbound_text(form, sid)
    if text is None:
        return EMPTY_RESPONSE
    if not await hand_off(queues.MESSAGES_QUEUE, f"wh:sms:{sid}", text.to_json()):
        return SERVICE_UNAVAILABLE
    return EMPTY_RESPONSE


def _error_code(value: str | None) -> int | None:
    """Twilio's error codes are five digits; anything else (a fuzzed or garbled field) is no
    code at all rather than a value the int column refuses (the webhook would answer 503)."""
    text = (value or "").strip()
    if not text.isdecimal() or len(text) > 6:
        return None
    return int(text)


@twilio_webhook
async def status(form: TwilioForm) -> TwimlResult:
    sid = _message_sid(form)
    state = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    error_code = _error_code(form.get("ErrorCode"))
    if sid and state:
        # Imported on first use: it brings the sending side (alerts, Twilio's REST client),
        # which the inbound webhooks' cold start must not pay for (bench/cold_start).
        from shared_code.messaging.delivery_status import record_status

        # Within Twilio's patience even when the database hangs: past the deadline Twilio gets
        # a 503 and retries (the callback URL carries its retry overrides). The write is not
        # cancelled but left to finish or fail on its own: cancelling a query on a hung server
        # waits for the server to take the cancel request (measured: the full 30 s
        # command_timeout), and the write is idempotent when Twilio's retry repeats it.
        write = asyncio.ensure_future(record_status(sid, state, error_code))
        done, _ = await asyncio.wait({write}, timeout=STATUS_DEADLINE_SECONDS)
        if not done:
            _late_writes.add(write)  # held until it ends (the loop keeps only a weak reference)
            write.add_done_callback(_log_late_failure)
            log.warning("status of %s not recorded within %ss: 503", sid, STATUS_DEADLINE_SECONDS)
            return SERVICE_UNAVAILABLE
        write.result()  # its own error, if any, is the door's to answer (503)
    return EMPTY_RESPONSE


_late_writes: set[asyncio.Future[None]] = set()


def _log_late_failure(write: asyncio.Future[None]) -> None:
    _late_writes.discard(write)
    if not write.cancelled() and write.exception() is not None:
        log.warning("a late status write failed: %s", type(write.exception()).__name__)
