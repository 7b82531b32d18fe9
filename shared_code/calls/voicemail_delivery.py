"""A voicemail into its conversation and in front of the owner (calls.voicemail's last step).

Runs inside the processor's unit of work: the `voicemail` message the customer "sent" (the
assistant's history sees its transcript), the `voicemail.received` event the owner's alert is
sent from, a transcript that came later written into that message with a short follow-up
alert, and the usage event that prices a transcription (its id is the recording's: charged once).
"""

from __future__ import annotations

import uuid

import asyncpg

from shared_code.businesses.store import Business
from shared_code.contracts import UsageRecorded, VoicemailReceived
from shared_code.messaging import conversations, messages, owner_alerts, voicemails
from shared_code.platform.phones import try_e164
from shared_code.platform.work import Work


def message_body(duration_seconds: int, transcript: str | None) -> str:
    """The voicemail as the conversation (and the assistant's history) shows it."""
    length = owner_alerts.clock_duration(duration_seconds)
    return (
        f"Voicemail ({length}): {transcript}"
        if transcript
        else f"Voicemail ({length}), no transcript"
    )


async def deliver(
    w: Work, business: Business, row: asyncpg.Record, status: str, transcript: str | None
) -> str:
    """Into the conversation and in front of the owner (first time), or a transcript that
    came later into the message and a follow-up alert."""
    if row["alerted_at"] is None:
        await add_to_conversation(w, business, row, status, transcript)
        return "alerted" if status != "pending" else "alerted-transcript-pending"
    if status == "done" and transcript and row["transcript"] is None:
        await transcript_arrived(w, business, row, transcript)
        return "transcribed"
    return "done" if status != "pending" else "transcript-pending"


async def add_to_conversation(
    w: Work, business: Business, row: asyncpg.Record, status: str, transcript: str | None
) -> None:
    caller = try_e164(row["caller"])
    conversation_id: uuid.UUID | None = None
    conversation_ref: int | None = None
    message_id: int | None = None
    if caller is not None:  # no caller ID: the owner still hears it, there is no thread
        conversation = await conversation_for(w.conn, business, row["call_sid"], caller)
        conversation_id, conversation_ref = conversation["id"], conversation["ref"]
        body = message_body(row["duration_seconds"], transcript)
        message_id = await messages.store_voicemail(
            w.conn, conversation_id, body, row["received_at"]
        )
    await voicemails.stamp_alerted(w.conn, row["recording_sid"], conversation_id, message_id)
    w.record(received(business.id, row, status, transcript, conversation_id, conversation_ref))


async def conversation_for(
    conn: asyncpg.Connection, business: Business, call_sid: str, caller: str
) -> asyncpg.Record:
    """The call's conversation (its text-back opened it), else the caller's open one, else a
    new one: a voicemail is a customer message, and opening its thread sends nothing."""
    row = await conn.fetchrow(
        "SELECT v.* FROM calls c JOIN conversations v ON v.id = c.conversation_id"
        " WHERE c.call_sid = $1",
        call_sid,
    )
    if row is not None:
        return row
    # A new one records the call it came from: the call's text-back (held in quiet hours, or
    # its task slower than this one) goes into it instead of being suppressed by it.
    return await conversations.open_conversation(conn, business.id, caller, call_sid)


async def transcript_arrived(
    w: Work, business: Business, row: asyncpg.Record, transcript: str
) -> None:
    if row["message_id"] is not None:
        body = message_body(row["duration_seconds"], transcript)
        await messages.set_voicemail_body(w.conn, row["message_id"], body)
    ref = None
    if row["conversation_id"] is not None:
        ref = await w.conn.fetchval(
            "SELECT ref FROM conversations WHERE id = $1", row["conversation_id"]
        )
    event = received(business.id, row, "done", transcript, row["conversation_id"], ref)
    await owner_alerts.send_transcript_followup(w, business, event, transcript)


def received(
    business_id: uuid.UUID,
    row: asyncpg.Record,
    status: str,
    transcript: str | None,
    conversation_id: uuid.UUID | None,
    conversation_ref: int | None,
) -> VoicemailReceived:
    return VoicemailReceived(
        business_id=business_id,
        recording_sid=row["recording_sid"],
        call_sid=row["call_sid"],
        caller=row["caller"],
        duration_seconds=row["duration_seconds"],
        transcript=transcript,
        transcription_status=status,  # type: ignore[arg-type]
        conversation_id=conversation_id,
        conversation_ref=conversation_ref,
        received_at=row["received_at"],
    )


def usage(
    business_id: uuid.UUID,
    row: asyncpg.Record,
    model: str,
    conversation_id: uuid.UUID | None,
) -> UsageRecorded:
    """The transcription's usage (priced at ingestion per audio second); its id is the
    recording's, so a repeated transcription is charged once."""
    return UsageRecorded(
        business_id=business_id,
        kind="transcription",
        recording_sid=row["recording_sid"],
        model=model,
        audio_seconds=row["duration_seconds"],
        conversation_id=row["conversation_id"] or conversation_id,
    )
