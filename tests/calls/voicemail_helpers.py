"""Shared by the voicemail tests: a real WAV, a missed call on record, the recording callback's
queue task, and the processor driven as the host drives it (queue body -> parse_task ->
handler)."""

from __future__ import annotations

import io
import json
import math
import secrets
import struct
import uuid
import wave
from typing import Any

from azure.functions.queue import QueueMessage

from shared_code.businesses import store
from shared_code.contracts import RECORDINGS_QUEUE, RecordingReport
from shared_code.platform.db import get_pool
from tests.helpers import _drain, app_function, create_business

CALLER = "+13125550123"


def make_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A real mono 16-bit PCM WAV (a 440 Hz tone), as Twilio serves recordings."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return out.getvalue()


def recording_sid() -> str:
    return "RE" + secrets.token_hex(16)


async def missed_call(
    business: store.Business,
    caller: str = CALLER,
    conversation: bool = False,
    sid: str | None = None,
) -> str:
    """A missed call as the missed-call handler records it (optionally with its text-back's
    conversation); returns its CallSid."""
    sid = sid or "CA" + secrets.token_hex(16)
    pool = await get_pool()
    conversation_id: uuid.UUID | None = None
    if conversation:
        conversation_id = await pool.fetchval(
            "INSERT INTO conversations (business_id, customer_phone, origin_call_sid)"
            " VALUES ($1, $2, $3) RETURNING id",
            business.id, caller, sid,
        )  # fmt: skip
    await pool.execute(
        "INSERT INTO calls (call_sid, business_id, from_number, to_number, source, dial_status,"
        " missed, miss_reason, text_back_status, conversation_id, decided_at)"
        " VALUES ($1, $2, $3, $4, 'dial-status', 'no-answer', true, 'no-answer', $5, $6, now())",
        sid, business.id, caller, business.phone_number,
        "sent" if conversation else "suppressed_cooldown", conversation_id,
    )  # fmt: skip
    return sid


def report_body(
    recording: str, call: str, recording_url: str, duration: int = 14, **extra: Any
) -> bytes:
    """The queue message the recording webhook puts (RecordingReport's wire JSON)."""
    report = RecordingReport(
        recording_sid=recording,
        call_sid=call,
        recording_url=recording_url,
        duration_seconds=duration,
        **extra,
    )
    return json.dumps(report.to_json()).encode()


async def run_task(body: bytes, dequeue_count: int = 1) -> None:
    """One delivery of a `recordings` message to the registered queue function."""
    handler = app_function("voicemail_processor")
    await handler(QueueMessage(id=secrets.token_hex(8), body=body, dequeue_count=dequeue_count))


async def drain_recordings(max_rounds: int = 20) -> int:
    """Run the processor over everything visible on `recordings`, as the host would."""
    return await _drain(RECORDINGS_QUEUE, "voicemail_processor", max_rounds)


async def voicemail_row(sid: str) -> Any:
    pool = await get_pool()
    return await pool.fetchrow("SELECT * FROM voicemails WHERE recording_sid = $1", sid)


async def recorded_missed_call(
    twilio: Any, conversation: bool = False
) -> tuple[store.Business, str, str, str]:
    """A new business, a missed call on record and its recording (a 1 s WAV) at the fake Twilio;
    returns (business, CallSid, RecordingSid, RecordingUrl)."""
    business, _ = await create_business()
    call = await missed_call(business, conversation=conversation)
    sid = recording_sid()
    url = twilio.add_recording(sid, make_wav())
    return business, call, sid, url
