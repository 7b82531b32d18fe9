"""Devhost's sandbox Twilio: the Recordings API, locally, for voicemails the simulator leaves.

With no TWILIO_ACCOUNT_SID the app runs in sandbox mode: texts land in the SMS sandbox, and a
voicemail's `RecordingUrl` points here, at
`{PUBLIC_BASE_URL}/sandbox/twilio/2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}`.
The routes answer as Twilio's do for that URL:

- `GET  .../Recordings/{RE}.wav` (or no extension): the audio, `audio/x-wav`;
- `GET  .../Recordings/{RE}.json`: the Recording resource (sid, call_sid, duration as a string,
  channels, source, status, RFC 2822 dates, uri...);
- `DELETE .../Recordings/{RE}.json` (or no extension): 204, and the recording is gone;
- `GET  .../Recordings.json`: the account's recordings, newest first;
- anything unknown: 404 with Twilio's error body (code 20404).

Credentials are not checked (a sandbox has no auth token to check them with). Only the simulator
adds recordings, through `POST /sandbox/twilio/recordings?AccountSid=AC..&CallSid=CA..` with the
WAV as the body (devhost-only: Twilio records calls itself). Recordings live in the host's memory
and vanish when it stops; the oldest are dropped past MAX_RECORDINGS.
"""

from __future__ import annotations

import io
import re
import secrets
import wave
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

API_PREFIX = "/sandbox/twilio"
UPLOAD_PATH = f"{API_PREFIX}/recordings"
MAX_RECORDINGS = 200
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
_SID = re.compile(r"^RE[0-9a-f]{32}$")
_ACCOUNT = re.compile(r"^AC[0-9a-fA-F]{32}$")
_CALL = re.compile(r"^CA[0-9a-fA-F]{32}$")


def recordings_path(account_sid: str) -> str:
    return f"{API_PREFIX}/2010-04-01/Accounts/{account_sid}/Recordings"


def recording_url(public_base_url: str, account_sid: str, recording_sid: str) -> str:
    """The `RecordingUrl` Twilio would send for this recording: no extension."""
    return f"{public_base_url.rstrip('/')}{recordings_path(account_sid)}/{recording_sid}"


def wav_seconds(audio: bytes) -> float:
    """Length of a PCM WAV in seconds; ValueError when it is not one."""
    try:
        with wave.open(io.BytesIO(audio), "rb") as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file: {exc}") from exc
    if rate <= 0 or frames <= 0:
        raise ValueError("the WAV file holds no audio")
    return frames / rate


@dataclass
class Recording:
    sid: str
    account_sid: str
    call_sid: str
    audio: bytes
    seconds: float
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def duration(self) -> int:
        """Twilio reports whole seconds (rounded up: a 0.4 s message is "1")."""
        return max(1, int(-(-self.seconds // 1)))

    def resource(self) -> dict[str, Any]:
        """Shaped like Twilio's Recording resource (API 2010-04-01)."""
        base = f"/2010-04-01/Accounts/{self.account_sid}"
        stamp = format_datetime(self.created)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "call_sid": self.call_sid,
            "conference_sid": None,
            "date_created": stamp,
            "date_updated": stamp,
            "start_time": stamp,
            "duration": str(self.duration),
            "sid": self.sid,
            "price": None,
            "price_unit": "USD",
            "status": "completed",
            "channels": 1,
            "source": "RecordVerb",
            "error_code": None,
            "track": "both",
            "encryption_details": None,
            "media_url": f"{recordings_path(self.account_sid)}/{self.sid}",
            "uri": f"{base}/Recordings/{self.sid}.json",
            "subresource_uris": {
                "add_on_results": f"{base}/Recordings/{self.sid}/AddOnResults.json",
                "transcriptions": f"{base}/Recordings/{self.sid}/Transcriptions.json",
            },
        }


@dataclass
class RecordingStore:
    """The sandbox's recordings, oldest first; deletions are remembered for tests and output."""

    recordings: OrderedDict[str, Recording] = field(default_factory=OrderedDict)
    deleted: list[str] = field(default_factory=list)

    def add(self, account_sid: str, call_sid: str, audio: bytes) -> Recording:
        recording = Recording(
            sid="RE" + secrets.token_hex(16),
            account_sid=account_sid,
            call_sid=call_sid,
            audio=audio,
            seconds=wav_seconds(audio),
        )
        self.recordings[recording.sid] = recording
        while len(self.recordings) > MAX_RECORDINGS:
            self.recordings.popitem(last=False)
        return recording

    def get(self, account_sid: str, sid: str) -> Recording | None:
        recording = self.recordings.get(sid)
        return recording if recording and recording.account_sid == account_sid else None

    def delete(self, account_sid: str, sid: str) -> bool:
        if self.get(account_sid, sid) is None:
            return False
        del self.recordings[sid]
        self.deleted.append(sid)
        return True


STORE_KEY = web.AppKey("sandbox_twilio_recordings", RecordingStore)


def _not_found(path: str) -> web.Response:
    return web.json_response(
        {
            "code": 20404,
            "message": f"The requested resource {path} was not found",
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404,
        },
        status=404,
    )


def _split(name: str) -> tuple[str, str]:
    """ "RE...wav" -> ("RE...", ".wav"); no extension -> ("RE...", "")."""
    for ext in (".wav", ".json", ".mp3"):
        if name.endswith(ext):
            return name[: -len(ext)], ext
    return name, ""


async def _upload(request: web.Request) -> web.Response:
    account_sid = request.query.get("AccountSid", "")
    call_sid = request.query.get("CallSid", "")
    if not _ACCOUNT.match(account_sid) or not _CALL.match(call_sid):
        return web.json_response(
            {"error": "AccountSid (AC + 32 hex) and CallSid (CA + 32 hex) are required"},
            status=400,
        )
    audio = await request.read()
    if len(audio) > MAX_UPLOAD_BYTES:
        return web.json_response({"error": "recordings here are at most 20 MiB"}, status=413)
    try:
        recording = request.app[STORE_KEY].add(account_sid, call_sid, audio)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(recording.resource(), status=201)


async def _list(request: web.Request) -> web.Response:
    account_sid = request.match_info["account_sid"]
    rows = [
        r.resource()
        for r in reversed(request.app[STORE_KEY].recordings.values())
        if r.account_sid == account_sid
    ]
    return web.json_response(
        {"recordings": rows, "page": 0, "page_size": len(rows), "first_page_uri": None}
    )


async def _recording(request: web.Request) -> web.Response:
    account_sid = request.match_info["account_sid"]
    sid, ext = _split(request.match_info["name"])
    store = request.app[STORE_KEY]
    path = request.path.removeprefix(API_PREFIX)
    recording = store.get(account_sid, sid) if _SID.match(sid) else None
    if recording is None:
        return _not_found(path)
    if request.method == "DELETE":
        if ext not in ("", ".json"):
            return _not_found(path)
        store.delete(account_sid, sid)
        return web.Response(status=204)
    if ext == ".json":
        return web.json_response(recording.resource())
    if ext in ("", ".wav"):
        return web.Response(body=recording.audio, headers={"Content-Type": "audio/x-wav"})
    return _not_found(path)  # .mp3: the sandbox keeps the WAV only


def add_routes(app: web.Application) -> list[str]:
    """Register the sandbox Twilio routes on devhost's app; returns lines for its index."""
    app[STORE_KEY] = RecordingStore()
    accounts = f"{API_PREFIX}/2010-04-01/Accounts/{{account_sid}}"
    app.router.add_post(UPLOAD_PATH, _upload)
    app.router.add_get(f"{accounts}/Recordings.json", _list)
    app.router.add_get(f"{accounts}/Recordings/{{name}}", _recording)
    app.router.add_delete(f"{accounts}/Recordings/{{name}}", _recording)
    return [
        f"  GET  {recordings_path('{AC}')}/{{RE}}.wav|.json   (voicemail audio / metadata;"
        " DELETE removes it)",
        f"  POST {UPLOAD_PATH}?AccountSid=AC..&CallSid=CA..   (the simulator's voicemail WAV)",
    ]
