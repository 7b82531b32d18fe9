"""A local server speaking Twilio's Messages API (the parts the `twilio` client uses).

It checks HTTP basic auth like Twilio, records every created message, lists them as Twilio does
(newest first, filtered by To/From, paged), answers in Twilio's JSON shapes, and can be told to
fail the next N requests, to refuse a recipient with a given error code (as Twilio answers a
refusal: HTTP 400 with `code`, `message`, `more_info`, `status`), or to accept a message and
answer slowly (the client times out, yet the message was sent: the case a resend must not
double).

It also serves the Recordings API as Twilio does for a voicemail: `GET .../Recordings/{Sid}.wav`
answers the bytes a test registered (`add_recording`), `GET .../Recordings/{Sid}.json` the
resource (with `media_url`, the S3 URL when external storage is simulated), `DELETE
.../Recordings/{Sid}.json` answers 204 and records the sid in `deleted_recordings`; all with
basic auth checked, 404 (Twilio's JSON error 20404) for an unknown or deleted recording, and
`fail_recordings` answering the next N recording requests with a 500. `transcribe` says whether
Twilio's own transcription of a recording happens: never for one already deleted (warning
13618) or outside 2-120 s (13617).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500
    fail_code: int = 20500
    delay_seconds: float = 0.0
    # recipient -> (HTTP status, Twilio error code) answered to every create for it
    refuse: dict[str, tuple[int, int]] = field(default_factory=dict)
    # recipient -> seconds to hold the answer AFTER recording the message as sent
    slow_after_accept: dict[str, float] = field(default_factory=dict)
    # recipient -> (HTTP status, code) answered AFTER recording the message (a 5xx from a
    # request Twilio did act on), for the next N creates to it
    fail_after_accept: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    list_requests: int = 0
    # RecordingSid -> (audio bytes, media_url or None)
    recordings: dict[str, tuple[bytes, str | None]] = field(default_factory=dict)
    deleted_recordings: list[str] = field(default_factory=list)
    transcribed: list[str] = field(default_factory=list)  # recordings Twilio transcribed
    recording_requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    fail_recordings: int = 0
    _runner: web.AppRunner | None = None
    url: str = ""

    def to(self, number: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["To"] == number]

    def reset(self) -> None:
        self.sent.clear()
        self.fail_next, self.delay_seconds, self.list_requests = 0, 0.0, 0
        self.refuse.clear()
        self.slow_after_accept.clear()
        self.fail_after_accept.clear()
        self.recordings.clear()
        self.deleted_recordings.clear()
        self.transcribed.clear()
        self.recording_requests.clear()
        self.fail_recordings = 0

    def add_recording(self, sid: str, audio: bytes, media_url: str | None = None) -> str:
        """Serve `audio` as recording `sid`; returns its RecordingUrl (as the callback sends)."""
        self.recordings[sid] = (audio, media_url)
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}"

    def transcribe(self, sid: str, seconds: int = 14) -> bool:
        """Whether Twilio's transcription of `sid` happens (then its callback is due): not for
        a recording deleted by then (warning 13618: "delete the recording once you receive the
        transcribe callback"), nor one outside 2-120 s (warning 13617)."""
        if sid not in self.recordings or sid in self.deleted_recordings:
            return False
        if not 2 <= seconds <= 120:
            return False
        self.transcribed.append(sid)
        return True

    def _recording_resource(self, sid: str) -> dict[str, Any]:
        _, media_url = self.recordings[sid]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}.json"
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "call_sid": None,
            "status": "completed",
            "duration": "14",
            "channels": 1,
            "source": "RecordVerb",
            "api_version": "2010-04-01",
            "uri": uri,
            "media_url": media_url or f"{self.url}{uri.removesuffix('.json')}",
        }

    async def _recording(self, request: web.Request) -> web.StreamResponse:
        self.recording_requests.append((request.method, request.path))
        refused = self._authorized(request)
        if refused is not None:
            return refused
        if self.fail_recordings > 0:
            self.fail_recordings -= 1
            return self._error(500, 20500, "injected failure")
        sid, _, ext = request.match_info["sid"].partition(".")
        if sid not in self.recordings or sid in self.deleted_recordings:
            return self._error(404, 20404, f"The requested resource {request.path} was not found")
        if request.method == "DELETE":
            if ext != "json":
                return self._error(404, 20404, "not found")
            self.deleted_recordings.append(sid)
            return web.Response(status=204)
        if ext == "wav":
            return web.Response(body=self.recordings[sid][0], content_type="audio/x-wav")
        if ext == "json":
            return web.json_response(self._recording_resource(sid))
        return self._error(404, 20404, "not found")

    def _authorized(self, request: web.Request) -> web.Response | None:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if request.match_info["account"] != self.account_sid:
            return web.json_response({"code": 20404, "message": "Not found"}, status=404)
        return None

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return web.json_response(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status=status,
        )

    def _resource(self, record: dict[str, Any]) -> dict[str, Any]:
        created = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(record["at"]))
        return {
            "sid": record["sid"],
            "account_sid": self.account_sid,
            "to": record.get("To"),
            "from": record.get("From"),
            "messaging_service_sid": record.get("MessagingServiceSid"),
            "body": record.get("Body"),
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": created,
            "date_updated": created,
            "date_sent": None,  # not sent yet while queued: why lookups use no date filter
            "error_code": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{record['sid']}.json",
        }

    async def _list_messages(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        if refused is not None:
            return refused
        self.list_requests += 1
        query = request.query
        found = [
            m for m in reversed(self.sent)
            if m.get("To") == query.get("To", m.get("To"))
            and m.get("From") == query.get("From", m.get("From"))
        ]  # fmt: skip
        size = int(query.get("PageSize", "50"))
        return web.json_response(
            {
                "messages": [self._resource(m) for m in found[:size]],
                "page": 0,
                "page_size": size,
                "first_page_uri": str(request.rel_url),
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": str(request.rel_url),
            }
        )

    async def _create_message(self, request: web.Request) -> web.Response:
        refused = self._authorized(request)
        if refused is not None:
            return refused
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.json_response(
                {"code": self.fail_code, "message": "injected failure", "status": self.fail_status},
                status=self.fail_status,
            )
        form = {k: str(v) for k, v in (await request.post()).items()}
        to = form.get("To", "")
        if to in self.refuse:
            status, code = self.refuse[to]
            return self._error(status, code, f"refused {to} with {code}")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return self._error(400, 21603, "A 'From' or 'MessagingServiceSid' is required")
        sid = "SM" + secrets.token_hex(16)
        record = {"sid": sid, "at": time.time(), **form}
        self.sent.append(record)
        if to in self.slow_after_accept:
            await asyncio.sleep(self.slow_after_accept[to])
        if to in self.fail_after_accept:
            status, code, times = self.fail_after_accept[to]
            if times <= 1:
                del self.fail_after_accept[to]
            else:
                self.fail_after_accept[to] = (status, code, times - 1)
            return self._error(status, code, "internal error after accepting")
        return web.json_response(self._resource(record), status=201)

    async def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create_message)
        app.router.add_get("/2010-04-01/Accounts/{account}/Messages.json", self._list_messages)
        recording = "/2010-04-01/Accounts/{account}/Recordings/{sid}"
        app.router.add_get(recording, self._recording)
        app.router.add_delete(recording, self._recording)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
