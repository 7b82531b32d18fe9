"""Voicemail transcription through OpenAI's audio API (`audio.transcriptions.create`).

Used when `settings.transcriber` is "openai" (TRANSCRIPTION=openai, or auto with a key). The
audio is sent as a multipart upload (`file=(name, bytes, "audio/wav")`) with
TRANSCRIPTION_MODEL, under TRANSCRIPTION_TIMEOUT_SECONDS for the request (the shared client's
own timeout belongs to the assistant). The outcome says whether to try again: a 5xx, a 429, a
timeout or a connection failure is worth a later attempt; a 4xx about the request is not (the
same audio would be refused again). No database transaction is open while it runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from shared_code.platform import openai_client
from shared_code.platform.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcript:
    """`text` on success; otherwise `retry` says whether a later attempt may succeed."""

    text: str | None
    model: str
    retry: bool = False
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.text is not None


async def transcribe(audio: bytes, name: str) -> Transcript:
    import openai  # loaded by the client already; imported here for its error types

    settings = get_settings()
    model = settings.transcription_model
    timeout = settings.transcription_timeout_seconds
    try:
        client = await openai_client.get_client(timeout)
        async with asyncio.timeout(timeout + 1):
            result = await client.audio.transcriptions.create(
                model=model, file=(name, audio, "audio/wav"), timeout=timeout
            )
    except (openai.APITimeoutError, TimeoutError):
        return Transcript(None, model, retry=True, error="timeout")
    except openai.APIConnectionError as exc:
        return Transcript(None, model, retry=True, error=type(exc).__name__)
    except openai.APIStatusError as exc:
        transient = exc.status_code >= 500 or exc.status_code in (408, 409, 429)
        log.warning("transcription refused (%s): %s", exc.status_code, exc.message)
        return Transcript(None, model, retry=transient, error=f"http {exc.status_code}")
    text = " ".join((getattr(result, "text", "") or "").split())
    return Transcript(text, model)
