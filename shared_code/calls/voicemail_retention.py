"""The retention timer: voicemail audio older than VOICEMAIL_RETENTION_DAYS leaves Blob storage;
and the stalled sweep: voicemails whose processing stopped short are queued again.

The row stays (who called, when, the transcript: the conversation still shows the message);
only the audio goes, and `purged_at` says so (the listen link and the API then answer 404).
Each run deletes in bounded batches (`batch` rows, at most `max_batches`), blob first, then the
stamp for the ones deleted: a crash between the two leaves rows whose blob is already gone,
which the next run deletes again harmlessly (a missing blob is not an error). Timers don't
retry and may run late (`past_due`): each run simply catches up on what is due.

Stalled (`resume_stalled`, on its own frequent timer, functions/voicemail.py): a recording's
task can be lost: an outage outlasted its in-task retries (calls.voicemail), the host poisoned
it, or a retry's put failed after commit and the redelivery found the lease still held. Each run
queues again, rebuilt from the row (its RecordingUrl included), every voicemail whose work
stopped short (not archived, still at Twilio, not alerted, or still owed an OpenAI transcript)
that no delivery has touched for longer than any retry waits (`STALLED_AFTER_SECONDS`). With
Twilio transcribing, a recording whose transcript never came is still at Twilio then: the
rebuilt task deletes it (TWILIO_TRANSCRIPT_WAIT_SECONDS has passed).
"""

from __future__ import annotations

import logging

from shared_code.calls.voicemail import TWILIO_TRANSCRIPT_WAIT_SECONDS
from shared_code.contracts import RECORDINGS_QUEUE, RecordingReport
from shared_code.messaging import voicemails
from shared_code.platform import blobs, queues
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings

# Longer than any retry waits; a recording Twilio was to transcribe is given up on then.
STALLED_AFTER_SECONDS = TWILIO_TRANSCRIPT_WAIT_SECONDS

log = logging.getLogger(__name__)


async def purge_expired(batch: int = 200, max_batches: int = 10) -> int:
    """Delete the audio of voicemails past retention; returns how many were purged."""
    days = get_settings().voicemail_retention_days
    pool = await get_pool()
    total = 0
    for _ in range(max_batches):
        rows = await voicemails.to_purge(pool, days, batch)
        if not rows:
            break
        purged = []
        for row in rows:  # no transaction open while Blob storage is called
            if row["blob_name"]:
                await blobs.delete(row["blob_name"])
            purged.append(row["recording_sid"])
        await voicemails.stamp_purged(pool, purged)
        total += len(purged)
        if len(rows) < batch:
            break
    if total:
        log.info("voicemail retention: %d recordings older than %d days purged", total, days)
    return total


async def resume_stalled(limit: int = 100) -> int:
    """Queue again the voicemails whose processing stopped short; returns how many."""
    settings = get_settings()
    pool = await get_pool()
    rows = await voicemails.stalled(
        pool, settings.transcriber == "openai", settings.transcription_max_attempts,
        STALLED_AFTER_SECONDS, limit,
    )  # fmt: skip
    for row in rows:
        task = RecordingReport(
            recording_sid=row["recording_sid"], call_sid=row["call_sid"],
            recording_url=row["recording_url"] or "", duration_seconds=row["duration_seconds"],
            received_at=row["received_at"],
        )  # fmt: skip
        await queues.enqueue(RECORDINGS_QUEUE, task.to_json())
    if rows:
        log.warning("voicemail: %d stalled recordings queued again", len(rows))
    return len(rows)
