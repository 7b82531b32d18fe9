"""SQL on `voicemails` (migration 011): one row per Twilio RecordingSid, its steps stamped.

The recordings processor (calls.voicemail) creates the row, claims it, and stamps each step as
it finishes (archived, deleted at Twilio, transcribed, added to the conversation and alerted),
so a redelivery resumes where the last one stopped and never repeats a finished step. The owner
API (api.voicemails) and the listen link read it; the retention timer purges old audio. It lives
in messaging so both `calls` and `api` can use it (they are siblings and may not import each
other).

The lease (`lease_until`) keeps concurrent deliveries of the same recording from working it at
once: one guarded UPDATE takes it, and a delivery that finds it held (or the work done) leaves.
After a failed transcription attempt the lease is set to when the retry is due, so an early
duplicate delivery does not spend an attempt ahead of time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def create(
    conn: Conn,
    *,
    recording_sid: str,
    call_sid: str,
    business_id: uuid.UUID,
    caller: str,
    duration_seconds: int,
    received_at: datetime | None,
    recording_url: str | None = None,
) -> None:
    """The recording's row, created once, with what the recording callback said (migration
    015: the stalled sweep rebuilds the task from it). A redelivery changes nothing, except
    that a row first made from Twilio's transcription (which carries no duration or URL)
    learns the recording's."""
    await conn.execute(
        "INSERT INTO voicemails (recording_sid, call_sid, business_id, caller, duration_seconds,"
        " received_at, recording_url) VALUES ($1, $2, $3, $4, $5, coalesce($6, now()), $7)"
        " ON CONFLICT (recording_sid) DO UPDATE SET"
        "  duration_seconds = CASE WHEN voicemails.duration_seconds = 0"
        "   THEN EXCLUDED.duration_seconds ELSE voicemails.duration_seconds END,"
        "  recording_url = coalesce(voicemails.recording_url, EXCLUDED.recording_url)"
        " WHERE (voicemails.duration_seconds = 0 AND EXCLUDED.duration_seconds > 0)"
        "  OR (voicemails.recording_url IS NULL AND EXCLUDED.recording_url IS NOT NULL)",
        recording_sid, call_sid, business_id, caller, duration_seconds, received_at,
        recording_url or None,
    )  # fmt: skip


# Everything a RecordingReport has to do is done: archived, gone from Twilio, in the
# conversation (and alerted), and no OpenAI transcription left to try.
_DONE = (
    "archived_at IS NOT NULL AND twilio_deleted_at IS NOT NULL AND alerted_at IS NOT NULL"
    " AND (transcription_status <> 'pending' OR NOT $3)"
)


async def claim(
    conn: Conn, recording_sid: str, lease_seconds: float, transcribing: bool
) -> asyncpg.Record | None:
    """Take the recording for `lease_seconds` (one statement): its row, or None when another
    delivery holds it or nothing is left to do. `transcribing`: OpenAI transcribes here, so a
    pending transcript is work left."""
    return await conn.fetchrow(
        "UPDATE voicemails SET lease_until = now() + make_interval(secs => $2)"
        " WHERE recording_sid = $1 AND (lease_until IS NULL OR lease_until < now())"
        f" AND NOT ({_DONE}) RETURNING *",
        recording_sid, lease_seconds, transcribing,
    )  # fmt: skip


async def rest(conn: Conn, recording_sid: str) -> None:
    """Give the lease back as of now: the stalled sweep leaves the row alone for its quiet
    period (a pass that gave up for now, to be tried again by the sweep)."""
    await conn.execute(
        "UPDATE voicemails SET lease_until = now() WHERE recording_sid = $1", recording_sid
    )


async def release(conn: Conn, recording_sid: str, after_seconds: float = 0) -> None:
    """Give the lease back, or hold it `after_seconds` more (a transcription retry is due then)."""
    await conn.execute(
        "UPDATE voicemails SET lease_until = CASE WHEN $2 > 0"
        " THEN now() + make_interval(secs => $2) END WHERE recording_sid = $1",
        recording_sid, float(after_seconds),
    )  # fmt: skip


async def stamp_archived(
    conn: Conn, recording_sid: str, blob_name: str, content_type: str, size_bytes: int
) -> None:
    await conn.execute(
        "UPDATE voicemails SET archived_at = coalesce(archived_at, now()), blob_name = $2,"
        " content_type = $3, size_bytes = $4 WHERE recording_sid = $1",
        recording_sid, blob_name, content_type, size_bytes,
    )  # fmt: skip


async def stamp_deleted_at_twilio(conn: Conn, recording_sid: str) -> None:
    await conn.execute(
        "UPDATE voicemails SET twilio_deleted_at = coalesce(twilio_deleted_at, now())"
        " WHERE recording_sid = $1",
        recording_sid,
    )


async def lock(conn: asyncpg.Connection, recording_sid: str) -> asyncpg.Record | None:
    """The row, locked for the caller's transaction: the conversation step and a later
    transcript serialise here, so each writes its message and alert once."""
    return await conn.fetchrow(
        "SELECT * FROM voicemails WHERE recording_sid = $1 FOR UPDATE", recording_sid
    )


async def stamp_transcription(
    conn: asyncpg.Connection,
    recording_sid: str,
    status: str,
    transcript: str | None,
    attempted: bool,
) -> None:
    """The transcription's state; `attempted` counts one more try at it."""
    await conn.execute(
        "UPDATE voicemails SET transcription_status = $2, transcript = coalesce($3, transcript),"
        " transcription_attempts = transcription_attempts + $4::int WHERE recording_sid = $1",
        recording_sid, status, transcript, int(attempted),
    )  # fmt: skip


async def stamp_alerted(
    conn: asyncpg.Connection,
    recording_sid: str,
    conversation_id: uuid.UUID | None,
    message_id: int | None,
) -> None:
    await conn.execute(
        "UPDATE voicemails SET alerted_at = now(), conversation_id = $2, message_id = $3"
        " WHERE recording_sid = $1 AND alerted_at IS NULL",
        recording_sid, conversation_id, message_id,
    )  # fmt: skip


async def find(conn: Conn, recording_sid: str) -> asyncpg.Record | None:
    """One voicemail by sid, whoever's it is (the signed listen link names no business)."""
    return await conn.fetchrow("SELECT * FROM voicemails WHERE recording_sid = $1", recording_sid)


async def find_for_business(
    conn: Conn, business_id: uuid.UUID, recording_sid: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM voicemails WHERE business_id = $1 AND recording_sid = $2",
        business_id, recording_sid,
    )  # fmt: skip


async def list_for_business(
    conn: Conn, business_id: uuid.UUID, limit: int, before: datetime | None = None
) -> list[asyncpg.Record]:
    """The business's voicemails, newest first (`before`: the page after an earlier one)."""
    return await conn.fetch(
        "SELECT * FROM voicemails WHERE business_id = $1"
        " AND ($3::timestamptz IS NULL OR received_at < $3)"
        " ORDER BY received_at DESC LIMIT $2",
        business_id, limit, before,
    )  # fmt: skip


async def stalled(
    conn: Conn, transcribing: bool, max_attempts: int, quiet_seconds: int, limit: int
) -> list[asyncpg.Record]:
    """Recordings whose work stopped short, with no delivery holding or awaiting them for
    `quiet_seconds`: their task was lost (poisoned in an outage, or a put that failed after
    commit). Short means not archived, still at Twilio (archived and alerted ones too: Twilio's
    transcript never came, or the delete failed), not alerted, or still owed an OpenAI
    transcript. The row has what the task needs (its RecordingUrl: migration 015)."""
    return await conn.fetch(
        "SELECT recording_sid, call_sid, duration_seconds, received_at, recording_url"
        " FROM voicemails WHERE purged_at IS NULL"
        " AND (archived_at IS NULL OR twilio_deleted_at IS NULL OR alerted_at IS NULL"
        "      OR (transcription_status = 'pending' AND $1 AND transcription_attempts < $2))"
        " AND coalesce(lease_until, received_at) < now() - make_interval(secs => $3)"
        " ORDER BY received_at LIMIT $4",
        transcribing, max_attempts, quiet_seconds, limit,
    )  # fmt: skip


async def to_purge(conn: Conn, retention_days: int, limit: int) -> list[asyncpg.Record]:
    """Archived audio older than the retention, oldest first (partial index voicemails_to_purge)."""
    return await conn.fetch(
        "SELECT recording_sid, blob_name FROM voicemails WHERE purged_at IS NULL"
        " AND archived_at IS NOT NULL AND received_at < now() - make_interval(days => $1)"
        " ORDER BY received_at LIMIT $2",
        retention_days, limit,
    )  # fmt: skip


async def stamp_purged(conn: Conn, recording_sids: list[str]) -> None:
    await conn.execute(
        "UPDATE voicemails SET purged_at = now() WHERE recording_sid = ANY($1::text[])"
        " AND purged_at IS NULL",
        recording_sids,
    )


def as_json(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """A voicemail as the owner API shows it (no storage internals)."""
    available = row["archived_at"] is not None and row["purged_at"] is None
    return {
        "recording_sid": row["recording_sid"],
        "call_sid": row["call_sid"],
        "business_id": str(row["business_id"]),
        "caller": row["caller"],
        "duration_seconds": row["duration_seconds"],
        "transcript": row["transcript"],
        "transcription_status": row["transcription_status"],
        "conversation_id": str(row["conversation_id"]) if row["conversation_id"] else None,
        "received_at": row["received_at"],
        "alerted_at": row["alerted_at"],
        "purged_at": row["purged_at"],
        "audio_url": f"/api/v1/voicemails/{row['recording_sid']}/audio" if available else None,
    }
