"""Where the audio comes from: the operator's S3 bucket when Twilio's external storage is used
(moto's S3 in server mode: boto3 over HTTP, nothing patched in process), or the local sandbox
Twilio (no account: no credentials sent). Either way it lands in Blob storage (Azurite) and the
recording is deleted at Twilio."""

from __future__ import annotations

from collections.abc import AsyncIterator

import boto3
import pytest
from aiohttp import web

from devhost.services import free_port
from shared_code.calls.recordings import s3_key_from_media_url
from shared_code.contracts import RECORDINGS_QUEUE
from shared_code.platform import blobs
from tests.calls.voicemail_helpers import (
    drain_recordings,
    make_wav,
    missed_call,
    recording_sid,
    report_body,
    run_task,
    voicemail_row,
)
from tests.helpers import create_business, queued

BUCKET = "acme-recordings"


@pytest.fixture
def s3(stack, s3_server, configure):
    configure(
        RECORDING_STORAGE="s3",
        RECORDINGS_S3_BUCKET=BUCKET,
        TRANSCRIPTION="none",
        AWS_ENDPOINT_URL_S3=s3_server,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # moto's local server
        AWS_DEFAULT_REGION="us-east-1",
    )
    client = boto3.client("s3", endpoint_url=s3_server)
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    yield client
    client.close()


async def test_external_s3_storage_is_read_with_boto3_and_archived(stack, s3):
    business, _ = await create_business()
    call = await missed_call(business)
    sid, audio = recording_sid(), make_wav(2)
    key = f"voicemail/{stack.twilio.account_sid}/{sid}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=audio, ContentType="audio/x-wav")
    # Twilio's Recording resource names the object in its media_url.
    url = stack.twilio.add_recording(sid, b"", media_url=f"https://{BUCKET}.s3.amazonaws.com/{key}")

    await run_task(report_body(sid, call, url))

    assert await blobs.download(f"{business.id}/{sid}.wav") == audio
    # Nothing was downloaded from Twilio; its recording resource was deleted.
    assert not [r for r in stack.twilio.recording_requests if r[1].endswith(".wav")]
    assert stack.twilio.deleted_recordings == [sid]
    row = await voicemail_row(sid)
    assert row["archived_at"] is not None and row["alerted_at"] is not None


async def test_a_missing_s3_object_comes_back_later_and_keeps_the_recording(stack, s3, monkeypatch):
    """Not there yet (or S3 down): the task comes back after a delay, nothing is deleted at
    Twilio, and once the object is readable the voicemail is archived."""
    from shared_code.calls import voicemail

    monkeypatch.setattr(voicemail, "TRANSIENT_FIRST_SECONDS", 0)  # the return visible at once
    business, _ = await create_business()
    call = await missed_call(business)
    sid, audio = recording_sid(), make_wav()
    key = f"late/{sid}"
    url = stack.twilio.add_recording(sid, b"", media_url=f"https://s3.amazonaws.com/{BUCKET}/{key}")
    await run_task(report_body(sid, call, url))  # no exception: the host would poison it
    assert stack.twilio.deleted_recordings == [] and await blobs.names() == []
    row = await voicemail_row(sid)
    assert row["archived_at"] is None
    (again,) = await queued(RECORDINGS_QUEUE)
    assert again["recording_sid"] == sid

    s3.put_object(Bucket=BUCKET, Key=key, Body=audio, ContentType="audio/x-wav")
    await drain_recordings()
    assert await blobs.download(f"{business.id}/{sid}.wav") == audio
    assert stack.twilio.deleted_recordings == [sid]


def test_s3_keys_from_media_urls() -> None:
    assert s3_key_from_media_url("https://b.s3.amazonaws.com/p/AC1/RE1", "b") == "p/AC1/RE1"
    assert s3_key_from_media_url("https://b.s3.us-east-1.amazonaws.com/RE1", "b") == "RE1"
    assert s3_key_from_media_url("https://s3.amazonaws.com/b/x/RE1", "b") == "x/RE1"
    assert s3_key_from_media_url("https://s3.amazonaws.com/other/x/RE1", "b") is None
    assert s3_key_from_media_url(None, "b") is None


class SandboxTwilio:
    """devhost's sandbox Twilio as the processor sees it: recordings with no credentials."""

    def __init__(self) -> None:
        self.audio: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path, request.headers.get("Authorization")))
        sid, _, ext = request.match_info["name"].partition(".")
        if sid not in self.audio:
            return web.json_response({"code": 20404}, status=404)
        if request.method == "DELETE" and ext == "json":
            del self.audio[sid]
            return web.Response(status=204)
        return web.Response(body=self.audio[sid], content_type="audio/x-wav")


@pytest.fixture
async def sandbox(stack, configure) -> AsyncIterator[SandboxTwilio]:
    configure(TWILIO_ACCOUNT_SID="", TRANSCRIPTION="none")
    fake = SandboxTwilio()
    app = web.Application()
    path = "/sandbox/twilio/2010-04-01/Accounts/{account}/Recordings/{name}"
    app.router.add_route("*", path, fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.url = f"http://127.0.0.1:{port}/sandbox/twilio/2010-04-01/Accounts/ACsandbox/Recordings"
    yield fake
    await runner.cleanup()


async def test_the_sandbox_recording_is_fetched_and_deleted_without_credentials(stack, sandbox):
    business, _ = await create_business()
    call = await missed_call(business)
    sid, audio = recording_sid(), make_wav()
    sandbox.audio[sid] = audio

    await run_task(report_body(sid, call, f"{sandbox.url}/{sid}"))

    assert await blobs.download(f"{business.id}/{sid}.wav") == audio
    assert [(m, p.rsplit("/", 1)[1], a) for m, p, a in sandbox.requests] == [
        ("GET", f"{sid}.wav", None),
        ("DELETE", f"{sid}.json", None),
    ]
    assert stack.twilio.recording_requests == []
