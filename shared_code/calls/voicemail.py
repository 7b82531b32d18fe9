"""The recordings processor: a caller's voicemail in, archived, transcribed, in the
conversation, and in front of the owner; exactly once per RecordingSid.

Queue `recordings` carries two tasks. A `RecordingReport` (Twilio's recordingStatusCallback)
walks the voicemail's steps, each stamped on its `voicemails` row when done, so a redelivery
resumes where the last one stopped (the row also keeps the callback's RecordingUrl, so the
stalled sweep can rebuild the task from it):
1. archive: read the audio (calls.recordings: Twilio or the operator's S3) and upload it to the
   private Blob container as `{business_id}/{recording_sid}.wav`;
2. delete it at Twilio (we keep the only copy, for VOICEMAIL_RETENTION_DAYS), except while
   Twilio is to transcribe it (TRANSCRIPTION=twilio): Twilio can't transcribe a deleted
   recording (warning 13618), so it is deleted once its transcript came (or failed), or, when
   none comes within TWILIO_TRANSCRIPT_WAIT_SECONDS, by the stalled sweep's pass. Twilio
   transcribes only recordings of 2-120 s (warning 13617): a shorter one is deleted at once;
3. transcribe it with OpenAI when that is the transcriber (from the archived blob on a retry);
4. in one unit of work: the transcript's state, a `voicemail` message from the customer in the
   conversation (the call's, else the caller's open one, else a new one that records the call
   as its origin, so the call's text-back goes into it: no text is sent here), the
   `voicemail.received` event (the owner's alert, through notifications) and the usage event
   that prices the transcription.
Steps 1-3 are HTTP calls and run with no transaction open, under the row's lease (one delivery
works a recording at a time; a concurrent one finds it held, or done, and leaves).

A transcription that fails transiently (5xx, timeout) does not hold the owner up: they are
alerted at once without a transcript, the attempt is counted, and the task comes back after a
growing delay (put after commit) up to TRANSCRIPTION_MAX_ATTEMPTS. When a later attempt (or
Twilio's own transcription, a `TranscriptionReport`) brings the text, the message gets it and
the owner a short follow-up, once. Twilio's transcript is charged once, when both it and the
recording's length are known (whichever task comes second).

An outage does not lose the voicemail: when the audio can't be read, Blob storage or Twilio's
delete fails, the task is put back with a growing delay (TRANSIENT_FIRST_SECONDS doubling up to
TRANSIENT_MAX_DELAY_SECONDS) for up to TRANSIENT_WINDOW_SECONDS after the recording came, and
then left to the stalled sweep (calls.voicemail_retention, every few minutes), which queues it
again from its row. The task returns normally meanwhile: the host's few quick redeliveries
would poison it within seconds. A recording for a call we have no row for (its calls task not
done yet) comes back the same way for UNKNOWN_CALL_WINDOW_SECONDS, then is given up with an
error naming it: nothing archived, alerted or charged, the recording left at Twilio.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import asyncpg

from shared_code.businesses.store import Business, get_business
from shared_code.calls import recordings, transcription
from shared_code.calls import voicemail_delivery as delivery
from shared_code.contracts import (
    RecordingReport,
    TranscriptionReport,
)
from shared_code.messaging import voicemails
from shared_code.platform import blobs
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings
from shared_code.platform.work import work

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/voicemail"
RETRY_BASE_SECONDS = 60  # the first transcription retry; doubled each time, capped
RETRY_MAX_SECONDS = 3600
CONTENT_TYPE = "audio/wav"
# An outage (the audio, Blob storage, Twilio's delete): the task comes back after a delay that
# doubles from the first, for up to the window after the recording came; then the sweep.
TRANSIENT_FIRST_SECONDS = 5
TRANSIENT_MAX_DELAY_SECONDS = 900
TRANSIENT_WINDOW_SECONDS = 3600
UNKNOWN_CALL_WINDOW_SECONDS = 600  # a recording whose call is not recorded (yet)
# Twilio's transcription: recordings of 2-120 s (warning 13617), and how long to keep one at
# Twilio waiting for its transcript before deleting it anyway (the stalled sweep's pass).
TWILIO_TRANSCRIBES_SECONDS = (2, 120)
TWILIO_TRANSCRIPT_WAIT_SECONDS = 2 * RETRY_MAX_SECONDS


class UnknownCall(LookupError):
    """A recording for a CallSid we have no row for: it comes back for a while, then is
    given up (its calls task may simply be slower than the recording's)."""


def _transient_errors() -> tuple[type[BaseException], ...]:
    """What an outage of Twilio, S3 or Blob storage raises here (the task comes back)."""
    from azure.core.exceptions import AzureError
    from twilio.base.exceptions import TwilioException

    return (
        recordings.RecordingUnavailable,
        AzureError,
        TwilioException,
        aiohttp.ClientError,
        TimeoutError,
    )


@dataclass(frozen=True)
class CallFacts:
    call_sid: str
    business_id: uuid.UUID
    caller: str
    conversation_id: uuid.UUID | None


def blob_name(business_id: uuid.UUID, recording_sid: str) -> str:
    return f"{business_id}/{recording_sid}.wav"


def retry_delay(attempts: int) -> int:
    """Seconds before transcription attempt `attempts + 1`."""
    return int(min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS))


def lease_seconds() -> float:
    """Long enough for the slowest pass: a download, a Twilio delete, a transcription."""
    settings = get_settings()
    return (
        recordings.DOWNLOAD_SECONDS
        + 2 * settings.twilio_timeout_seconds
        + settings.transcription_timeout_seconds
        + 30
    )


async def handle_recording_task(task: RecordingReport | TranscriptionReport) -> str:
    """The `recordings` queue's task; returns what happened (logged, and read by tests)."""
    if isinstance(task, TranscriptionReport):
        outcome = await handle_twilio_transcript(task)
    else:
        outcome = await process_recording(task)
    log.info("recording %s: %s", task.recording_sid, outcome)
    return outcome


async def _call_facts(conn: asyncpg.Pool | asyncpg.Connection, call_sid: str) -> CallFacts:
    row = await conn.fetchrow(
        "SELECT call_sid, business_id, from_number, conversation_id FROM calls WHERE call_sid = $1",
        call_sid,
    )
    if row is None:
        raise UnknownCall(f"no call {call_sid}: the recording is retried, then poisoned")
    return CallFacts(
        row["call_sid"], row["business_id"], row["from_number"], row["conversation_id"]
    )


def twilio_transcribes(duration_seconds: int) -> bool:
    low, high = TWILIO_TRANSCRIBES_SECONDS
    return low <= duration_seconds <= high


def _age_seconds(received_at: datetime | None, now: datetime) -> float:
    return (now - received_at).total_seconds() if received_at is not None else 0.0


def _awaits_twilio_transcript(row: asyncpg.Record, now: datetime) -> bool:
    """Twilio is to transcribe this recording and may still: keep it at Twilio until then."""
    return (
        get_settings().transcriber == "twilio"
        and row["transcription_status"] == "pending"
        and row["twilio_deleted_at"] is None
        and twilio_transcribes(row["duration_seconds"])
        and _age_seconds(row["received_at"], now) < TWILIO_TRANSCRIPT_WAIT_SECONDS
    )


def transient_delay(age_seconds: float) -> int:
    """Seconds before an outage's next try: about the time since the recording came (so the
    tries double), at least TRANSIENT_FIRST_SECONDS, at most TRANSIENT_MAX_DELAY_SECONDS."""
    return int(min(max(TRANSIENT_FIRST_SECONDS, age_seconds), TRANSIENT_MAX_DELAY_SECONDS))


async def _come_back(report: RecordingReport, delay: int) -> None:
    """Put the task back on `recordings`, visible after `delay` (a failed put raises: the
    host redelivers this one instead)."""
    async with work(SOURCE, begin=False) as w:
        w.after_commit(report, delay_seconds=delay)


async def process_recording(report: RecordingReport) -> str:
    now = datetime.now(UTC)
    if report.received_at is None:  # the window below counts from when it came
        report = report.model_copy(update={"received_at": now})
    age = _age_seconds(report.received_at, now)
    pool = await get_pool()
    try:
        call = await _call_facts(pool, report.call_sid)
    except UnknownCall:
        if age < UNKNOWN_CALL_WINDOW_SECONDS:
            await _come_back(report, transient_delay(age))
            return "unknown-call-retry"
        log.error(
            "recording %s (%s) is for call %s, which was never recorded: given up, the "
            "recording is left at Twilio",
            report.recording_sid, report.recording_url, report.call_sid,
        )  # fmt: skip
        return "unknown-call"
    business = await get_business(call.business_id)
    if business is None:
        log.error("recording %s: call %s has no business", report.recording_sid, call.call_sid)
        return "unknown-call"
    sid = report.recording_sid
    await voicemails.create(
        pool, recording_sid=sid, call_sid=call.call_sid, business_id=business.id,
        caller=call.caller, duration_seconds=report.duration_seconds,
        received_at=report.received_at, recording_url=report.recording_url,
    )  # fmt: skip
    settings = get_settings()
    transcribing = settings.transcriber == "openai"
    row = await voicemails.claim(pool, sid, lease_seconds(), transcribing)
    if row is None:
        return "busy-or-done"
    try:
        waiting = _awaits_twilio_transcript(row, now)
        audio = await _archive_and_delete(report, row, business.id, delete=not waiting)
        result = None
        if transcribing and row["transcription_status"] == "pending":
            data = audio if audio is not None else await blobs.download(row["blob_name"])
            result = await transcription.transcribe(data, f"{sid}.wav")
        outcome = await _finish(business, call, report, result, waiting)
    except _transient_errors() as exc:
        return await _outage(report, age, exc)
    except BaseException:
        with contextlib.suppress(Exception):  # the next delivery must not wait for the lease
            await voicemails.release(pool, sid)
        raise
    if waiting:  # Twilio's transcript may have come during this pass, when nothing was archived
        found = await voicemails.find(pool, sid)
        if found is not None and found["transcription_status"] != "pending":
            await _delete_after_transcript(found)
    return outcome


async def _outage(report: RecordingReport, age: float, exc: BaseException) -> str:
    """Twilio, S3 or Blob storage failed: come back later, or leave it to the sweep."""
    pool = await get_pool()
    sid = report.recording_sid
    reason = f"{type(exc).__name__}: {exc}"
    if age < TRANSIENT_WINDOW_SECONDS:
        delay = transient_delay(age)
        # Held until the retry is due: an early duplicate delivery leaves it alone.
        await voicemails.release(pool, sid, delay / 2)
        await _come_back(report, delay)
        log.warning("recording %s: %s; again in %d s", sid, reason, delay)
        return "retry-later"
    await voicemails.rest(pool, sid)  # the sweep's quiet period starts now
    log.error("recording %s: %s; left to the stalled sweep", sid, reason)
    return "left-to-sweep"


async def _archive_and_delete(
    report: RecordingReport, row: asyncpg.Record, business_id: uuid.UUID, *, delete: bool
) -> bytes | None:
    """Steps 1 and 2, each stamped when done; the audio when it was read in this pass.
    `delete` False: Twilio is still to transcribe it (the transcript's task deletes it)."""
    pool = await get_pool()
    data = None
    if row["archived_at"] is None:
        audio = await recordings.fetch_audio(report)
        name = blob_name(business_id, report.recording_sid)
        await blobs.upload(name, audio.data, CONTENT_TYPE)
        await voicemails.stamp_archived(
            pool, report.recording_sid, name, CONTENT_TYPE, len(audio.data)
        )
        data = audio.data
    if delete and row["twilio_deleted_at"] is None:
        await recordings.delete_at_twilio(report)
        await voicemails.stamp_deleted_at_twilio(pool, report.recording_sid)
    return data


async def _finish(
    business: Business,
    call: CallFacts,
    report: RecordingReport,
    result: transcription.Transcript | None,
    awaiting_twilio: bool,
) -> str:
    """Step 4, one unit of work: the transcript's state, the message, the event, the charge."""
    settings = get_settings()
    sid = report.recording_sid
    async with work(SOURCE) as w:
        row = await voicemails.lock(w.conn, sid)
        assert row is not None
        status, transcript, hold = row["transcription_status"], row["transcript"], 0
        if status == "done" and row["alerted_at"] is None and result is None:
            # Twilio's transcript came before this task: it is charged now that the
            # recording's length is known (the transcript's task charges only after the alert).
            w.record(delivery.usage(business.id, row, "twilio", call.conversation_id))
        if result is not None and status == "pending":
            attempts = row["transcription_attempts"] + 1
            if result.ok:
                status, transcript = "done", result.text
                w.record(delivery.usage(business.id, row, result.model, call.conversation_id))
            elif result.retry and attempts < settings.transcription_max_attempts:
                hold = retry_delay(attempts)
                w.after_commit(report, delay_seconds=hold)
            else:
                status = "failed"
            log.info("recording %s: transcription attempt %d %s", sid, attempts, status)
            await voicemails.stamp_transcription(w.conn, sid, status, transcript, attempted=True)
        elif status == "pending" and settings.transcriber != "openai" and not awaiting_twilio:
            # No transcriber; or Twilio's, for a recording it won't transcribe (too short),
            # or whose transcript never came (this pass deleted it at Twilio).
            gave_up = settings.transcriber == "twilio" and twilio_transcribes(
                row["duration_seconds"]
            )
            status = "failed" if gave_up else "none"
            await voicemails.stamp_transcription(w.conn, sid, status, None, attempted=False)
        outcome = await delivery.deliver(w, business, row, status, transcript)
        # A retry is due after `hold`: an early duplicate delivery finds the lease still held.
        await voicemails.release(w.conn, sid, hold / 2)
    return outcome


async def handle_twilio_transcript(task: TranscriptionReport) -> str:
    """Twilio's own transcription (TRANSCRIPTION=twilio) fills the transcript the same way:
    into the alert if the owner was not alerted yet, else into the message and a follow-up.
    Then (the transcript stored, or failed) the recording is deleted at Twilio, if archived."""
    pool = await get_pool()
    call = await _call_facts(pool, task.call_sid)  # UnknownCall: retried by the host
    business = await get_business(call.business_id)
    if business is None:
        raise UnknownCall(f"call {task.call_sid} belongs to no business")
    # Usually after the recording's own task; if first, the row waits for it (duration 0).
    await voicemails.create(
        pool, recording_sid=task.recording_sid, call_sid=call.call_sid,
        business_id=business.id, caller=call.caller, duration_seconds=0,
        received_at=datetime.now(UTC),
    )  # fmt: skip
    text = " ".join(task.text.split())
    async with work(SOURCE) as w:
        row = await voicemails.lock(w.conn, task.recording_sid)
        assert row is not None
        if row["transcription_status"] != "pending":
            outcome = "duplicate"
        elif task.status != "completed" or not text:
            await voicemails.stamp_transcription(
                w.conn, task.recording_sid, "failed", None, attempted=True
            )
            outcome = "transcription-failed"
        else:
            await voicemails.stamp_transcription(
                w.conn, task.recording_sid, "done", text, attempted=True
            )
            if row["alerted_at"] is None:
                # The recording's own task alerts with it, and charges it then: its length
                # (the price) is known only once that task has run.
                outcome = "transcript-stored"
            else:
                w.record(delivery.usage(business.id, row, "twilio", call.conversation_id))
                await delivery.transcript_arrived(w, business, row, text)
                outcome = "transcribed"
    await _delete_after_transcript(row)
    return outcome


async def _delete_after_transcript(row: asyncpg.Record) -> None:
    """Twilio is done with the recording: delete it there, if we have it (not archived yet:
    the recording's task deletes it after archiving, finding the transcript no longer due).
    A failure is left to the stalled sweep."""
    if row["archived_at"] is None or row["twilio_deleted_at"] is not None:
        return
    report = RecordingReport(
        recording_sid=row["recording_sid"], call_sid=row["call_sid"],
        recording_url=row["recording_url"] or "", duration_seconds=row["duration_seconds"],
        received_at=row["received_at"],
    )  # fmt: skip
    try:
        await recordings.delete_at_twilio(report)
    except _transient_errors() as exc:
        log.warning(
            "recording %s not deleted at Twilio (%s): left to the stalled sweep",
            row["recording_sid"], type(exc).__name__,
        )  # fmt: skip
        return
    await voicemails.stamp_deleted_at_twilio(await get_pool(), row["recording_sid"])
