"""Webhooks of a caller's voicemail: the `<Record>` action, its recording and its transcript.

A missed caller hears the greeting and may leave a message (calls.twiml.voicemail). When the
recording is ready Twilio posts its `recordingStatusCallback`; the report goes on the
`recordings` queue, whose processor (functions/voicemail.py) archives, transcribes and alerts,
idempotent per RecordingSid. Only `RecordingStatus=completed` is queued: "absent" (nothing was
said) and "failed" have no audio to fetch. When the operator chose Twilio's transcription, its
`transcribeCallback` is queued on `recordings` too.

Like every webhook here: verified at the door, deduped per RecordingSid (Twilio retries, and
redelivers), handed off to the queue or the inbox, answered at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError

from shared_code.calls import twiml
from shared_code.contracts import RecordingReport, TranscriptionReport
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

MAX_RECORDING_SECONDS = 86_400  # RecordingReport's limit; Twilio records at most 4 h
MAX_TRANSCRIPT = 5000
TRANSCRIPTION_STATUSES: dict[str, Literal["completed", "failed"]] = {
    "completed": "completed",
    "failed": "failed",
}


def _invalid(err: ValidationError) -> str:
    return ", ".join(str(e["loc"][0]) for e in err.errors(include_input=False))


def _seconds(value: str | None) -> int:
    value = (value or "").strip()
    return min(int(value[:9]), MAX_RECORDING_SECONDS) if value.isdecimal() else 0


@twilio_webhook
async def voicemail_done(form: TwilioForm) -> TwimlResult:
    """The `<Record action>`: the message is taken (or the caller hung up: Twilio ignores the
    answer then)."""
    return TwimlResult(200, twiml.goodbye())


@twilio_webhook
async def recording(form: TwilioForm) -> TwimlResult:
    """A voicemail's recording is ready: queue it for the processor, once per RecordingSid."""
    status = (form.get("RecordingStatus") or "").strip().lower()
    if status != "completed":
        log.info("recording %s is %r: nothing to fetch", form.get("RecordingSid", "")[:64], status)
        return EMPTY_RESPONSE
    try:
        report = RecordingReport(
            recording_sid=form.get("RecordingSid", ""),
            call_sid=form.get("CallSid", ""),
            recording_url=form.get("RecordingUrl", ""),
            duration_seconds=_seconds(form.get("RecordingDuration")),
            received_at=datetime.now(UTC),
        )
    except ValidationError as err:
        log.warning("recording not queued: invalid %s", _invalid(err))
        return EMPTY_RESPONSE
    return await _queued("recording", report)


async def _queued(stage: str, report: RecordingReport | TranscriptionReport) -> TwimlResult:
    """Queue on `recordings` once per RecordingSid and stage (503: nothing could keep it)."""
    key = f"wh:voice:{stage}:{report.recording_sid}"
    if not await hand_off(queues.RECORDINGS_QUEUE, key, report.to_json()):
        return SERVICE_UNAVAILABLE
    return EMPTY_RESPONSE


@twilio_webhook
async def transcription(form: TwilioForm) -> TwimlResult:
    """Twilio's transcript of a voicemail (TRANSCRIPTION=twilio): queue it, once per recording."""
    given = (form.get("TranscriptionStatus") or "").strip().lower()
    status = TRANSCRIPTION_STATUSES.get(given)
    if status is None:
        log.info("transcription status %r: not queued", given[:32])
        return EMPTY_RESPONSE
    try:
        report = TranscriptionReport(
            recording_sid=form.get("RecordingSid", ""),
            call_sid=form.get("CallSid", ""),
            status=status,
            text=(form.get("TranscriptionText") or "")[:MAX_TRANSCRIPT],
        )
    except ValidationError as err:
        log.warning("transcription not queued: invalid %s", _invalid(err))
        return EMPTY_RESPONSE
    return await _queued("transcription", report)
