"""A voicemail's audio: read it from where Twilio keeps it, and delete it there afterwards.

Three places, one shape (`Audio`):
- Twilio's own storage (RECORDING_STORAGE=twilio, an account configured): GET
  `{TWILIO_API_BASE_URL}/2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.wav` with
  HTTP basic auth (the account's SID and token). The URL is built from our settings, never taken
  from the callback: the credentials must not go to a URL someone else chose.
- The operator's S3 bucket (RECORDING_STORAGE=s3, Twilio's external recording storage): the
  object is read with boto3 (credentials and endpoint from the usual AWS_* settings) in a
  thread. Where Twilio put it is what the Recording resource says: its `media_url` is, per
  Twilio's Recording resource reference ("The URL of the media file associated with this
  recording resource. When stored externally, this is the full URL location of the media
  file", also in the `twilio` library's RecordingInstance docs), the object's S3 URL; only its
  key is used, read from the configured RECORDINGS_S3_BUCKET. Should the resource carry no
  media_url, the key falls back to `{RECORDINGS_S3_PREFIX}{AccountSid}/{RecordingSid}` (an
  assumption, not confirmed by Twilio's docs).
- The local sandbox (no TWILIO_ACCOUNT_SID: devhost plays Twilio): `RecordingUrl + ".wav"`
  without credentials, since there are none to leak.

Either way the recording resource is deleted at Twilio afterwards (`DELETE .../Recordings/{Sid}`
through the real `twilio` client, or `RecordingUrl + ".json"` in the sandbox); a 404 means it is
already gone. Nothing here runs inside a database transaction.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

from shared_code.contracts import RecordingReport
from shared_code.platform import twilio_client
from shared_code.platform.settings import get_settings

log = logging.getLogger(__name__)

DOWNLOAD_SECONDS = 60.0  # a two-minute WAV is ~2 MB


@dataclass(frozen=True)
class Audio:
    data: bytes
    content_type: str


class RecordingUnavailable(RuntimeError):
    """The audio could not be read now (an HTTP error, a timeout): the task is retried."""


def media_url(report: RecordingReport) -> str:
    """Where Twilio serves the recording's WAV (credentials go only to our configured API)."""
    settings = get_settings()
    if settings.sandbox_sms:
        return report.recording_url + ".wav"
    return (
        f"{settings.twilio_api_base_url}/2010-04-01/Accounts/{settings.twilio_account_sid}"
        f"/Recordings/{report.recording_sid}.wav"
    )


async def fetch_audio(report: RecordingReport) -> Audio:
    if get_settings().recording_storage == "s3":
        return await _from_s3(report)
    return await _from_twilio(report)


async def _from_twilio(report: RecordingReport) -> Audio:
    settings = get_settings()
    auth = None
    if not settings.sandbox_sms:
        auth = aiohttp.BasicAuth(
            settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()
        )
    url = media_url(report)
    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, auth=auth) as response,
        ):
            if response.status != 200:
                raise RecordingUnavailable(
                    f"recording {report.recording_sid}: Twilio answered {response.status}"
                )
            data = await response.read()
            content_type = response.headers.get("Content-Type", "audio/x-wav").split(";")[0]
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RecordingUnavailable(
            f"recording {report.recording_sid}: {type(exc).__name__}"
        ) from exc
    return Audio(data, content_type or "audio/x-wav")


async def delete_at_twilio(report: RecordingReport) -> bool:
    """Delete the recording resource at Twilio; False when it was already gone."""
    settings = get_settings()
    if settings.sandbox_sms:
        return await _delete_sandbox(report)
    from twilio.base.exceptions import TwilioRestException

    try:
        async with asyncio.timeout(settings.twilio_timeout_seconds):
            await twilio_client.rest_client().recordings(report.recording_sid).delete_async()
    except TwilioRestException as exc:
        if exc.status == 404:
            return False
        raise
    return True


async def _delete_sandbox(report: RecordingReport) -> bool:
    timeout = aiohttp.ClientTimeout(total=get_settings().twilio_timeout_seconds)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.delete(report.recording_url + ".json") as response,
    ):
        if response.status == 404:
            return False
        if response.status >= 300:
            raise RecordingUnavailable(f"sandbox delete answered {response.status}")
    return True


# --- S3 (Twilio's external recording storage) ------------------------------------------------


def s3_key_from_media_url(url: str | None, bucket: str) -> str | None:
    """The object key in `bucket` that a Recording's S3 `media_url` names (virtual-hosted
    `https://{bucket}.s3...amazonaws.com/{key}` or path-style `https://s3.../{bucket}/{key}`),
    or None for a URL of another bucket or shape."""
    if not url:
        return None
    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    if parts.hostname and parts.hostname.startswith(f"{bucket}."):
        return path or None
    head, _, rest = path.partition("/")
    return rest if head == bucket and rest else None


async def _s3_key(report: RecordingReport) -> str:
    settings = get_settings()
    bucket = settings.recordings_s3_bucket
    if not settings.sandbox_sms:
        async with asyncio.timeout(settings.twilio_timeout_seconds):
            resource = (
                await twilio_client.rest_client().recordings(report.recording_sid).fetch_async()
            )
        key = s3_key_from_media_url(getattr(resource, "media_url", None), bucket)
        if key:
            return key
        log.warning("recording %s: no S3 media_url, using the default key", report.recording_sid)
    account = settings.twilio_account_sid or "sandbox"
    return f"{settings.recordings_s3_prefix}{account}/{report.recording_sid}"


def _read_object(bucket: str, key: str) -> tuple[bytes, str]:
    """Blocking boto3 read (run in a thread); the client takes AWS_* from the environment."""
    import boto3

    client: Any = boto3.client("s3")
    try:
        found = client.get_object(Bucket=bucket, Key=key)
        return found["Body"].read(), found.get("ContentType") or "audio/x-wav"
    finally:
        client.close()


async def _from_s3(report: RecordingReport) -> Audio:
    bucket = get_settings().recordings_s3_bucket
    if not bucket:
        raise RecordingUnavailable("RECORDING_STORAGE=s3 needs RECORDINGS_S3_BUCKET")
    key = await _s3_key(report)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        data, content_type = await asyncio.to_thread(_read_object, bucket, key)
    except (BotoCoreError, ClientError) as exc:
        raise RecordingUnavailable(f"s3://{bucket}/{key}: {exc}") from exc
    if content_type in ("binary/octet-stream", "application/octet-stream"):
        content_type = "audio/x-wav"
    return Audio(data, content_type)
