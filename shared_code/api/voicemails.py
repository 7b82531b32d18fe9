"""The voicemail resource: the owner's list, and the audio (by API key or signed link).

Same tenant rules as every resource (api.auth): an owner key sees only its own business's
voicemails, and another business's recording is "not found", exactly like one that never
existed. The anonymous listen route (`/api/voicemails/{sid}/audio?e=&s=`) is authorised by the
link's signature alone (platform.signed_links): a bad or expired signature is 403, an unknown or
purged recording 404. Audio is served from the private Blob container, as audio/wav.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared_code.api.auth import ApiError, Json, Principal, business_for, not_found
from shared_code.messaging import voicemails
from shared_code.platform import blobs, signed_links
from shared_code.platform.db import get_pool

MAX_LIMIT = 200


@dataclass(frozen=True)
class AudioBody:
    data: bytes
    content_type: str
    filename: str


def _limit(params: dict[str, str]) -> int:
    raw = params.get("limit", "50")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(422, "validation_failed", f"limit must be 1-{MAX_LIMIT}")
    return int(raw)


def _before(params: dict[str, str]) -> datetime | None:
    raw = params.get("before")
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "validation_failed", "before must be an ISO 8601 time") from None
    if value.tzinfo is None:
        raise ApiError(422, "validation_failed", "before needs a UTC offset")
    return value


async def list_voicemails(principal: Principal, params: dict[str, str]) -> tuple[int, Json]:
    business_id = business_for(principal, params)
    pool = await get_pool()
    rows = await voicemails.list_for_business(pool, business_id, _limit(params), _before(params))
    items: list[dict[str, Any]] = [voicemails.as_json(row) for row in rows]
    return 200, {"voicemails": items}


async def _audio_of(row: Any) -> AudioBody:
    if row is None or row["archived_at"] is None or row["purged_at"] is not None:
        raise not_found("voicemail")
    try:
        data = await blobs.download(row["blob_name"])
    except blobs.BlobMissing:
        raise not_found("voicemail") from None
    return AudioBody(data, "audio/wav", f"{row['recording_sid']}.wav")


async def audio(principal: Principal, recording_sid: str) -> AudioBody:
    """The owner API's audio: the recording if the key may see its business."""
    pool = await get_pool()
    if principal.is_admin:
        row = await voicemails.find(pool, recording_sid)
    else:
        assert principal.business_id is not None
        row = await voicemails.find_for_business(pool, principal.business_id, recording_sid)
    return await _audio_of(row)


async def listen(recording_sid: str, expiry: str | None, signature: str | None) -> AudioBody:
    """The signed listen link's audio: 403 unless the link is valid and unexpired."""
    if not signed_links.verify(recording_sid, expiry, signature):
        raise ApiError(403, "forbidden", "this listen link is invalid or has expired")
    pool = await get_pool()
    return await _audio_of(await voicemails.find(pool, recording_sid))
