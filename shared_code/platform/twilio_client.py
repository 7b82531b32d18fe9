"""Outbound SMS through Twilio (webhook signatures, forms and TwiML results: twilio_webhooks).

Sends go through the real `twilio` client, pointed at `TWILIO_API_BASE_URL`; with no account SID
configured they go to the local sandbox table instead, which devhost shows. The REST client and
its async HTTP client are imported on the first send, not with this module: a worker that only
answers webhooks never needs them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from shared_code.platform.settings import get_settings
from shared_code.platform.twilio_webhooks import callback_url

if TYPE_CHECKING:
    from twilio.rest import Client

log = logging.getLogger(__name__)

_client: Client | None = None
_client_loop: asyncio.AbstractEventLoop | None = None
_sandbox_pool: asyncpg.Pool | None = None
_sandbox_loop: asyncio.AbstractEventLoop | None = None


@dataclass(frozen=True)
class SentMessage:
    sid: str
    status: str


def _get_client() -> Client:
    global _client, _client_loop
    loop = asyncio.get_running_loop()
    if _client is None or _client_loop is not loop:
        from twilio.http.async_http_client import AsyncTwilioHttpClient
        from twilio.rest import Client

        settings = get_settings()
        _client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            http_client=AsyncTwilioHttpClient(timeout=settings.twilio_timeout_seconds),
        )
        _client.api.base_url = settings.twilio_api_base_url
        _client_loop = loop
    return _client


def rest_client() -> Client:
    """The process's Twilio REST client (for resources beyond Messages: recordings)."""
    return _get_client()


async def _get_sandbox_pool() -> asyncpg.Pool:
    """The sandbox's own small pool: a send happens while the caller holds a connection of the
    main pool, and asking that pool for a second one could exhaust it under load."""
    global _sandbox_pool, _sandbox_loop
    loop = asyncio.get_running_loop()
    if _sandbox_pool is None or _sandbox_loop is not loop:
        dsn = get_settings().database_url.get_secret_value()
        _sandbox_pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        _sandbox_loop = loop
    return _sandbox_pool


async def close_client() -> None:
    """Close the HTTP session behind the Twilio client and the sandbox pool (shutdown, tests)."""
    global _client, _client_loop, _sandbox_pool, _sandbox_loop
    if _sandbox_pool is not None:
        sandbox, _sandbox_pool, _sandbox_loop = _sandbox_pool, None, None
        await sandbox.close()
    client, _client, _client_loop = _client, None, None
    if client is None:
        return  # never built: nothing to close, and nothing of twilio.rest to import
    from twilio.http.async_http_client import AsyncTwilioHttpClient

    http_client = getattr(client, "http_client", None)
    if isinstance(http_client, AsyncTwilioHttpClient):
        await http_client.close()


@dataclass(frozen=True)
class OutgoingSms:
    """One text as handed to Twilio. With a Messaging Service (A2P 10DLC) Twilio picks the
    sender from its pool and `from_` is not sent; `validity_seconds` lets Twilio drop a text
    still queued after that long (error 30036) instead of delivering it stale."""

    to: str
    from_: str
    body: str
    messaging_service_sid: str | None = None
    validity_seconds: int | None = None


async def send_sms(sms: OutgoingSms, status_callback_path: str) -> SentMessage:
    """Send one SMS; raises `twilio.base.exceptions.TwilioRestException` when Twilio refuses it
    (its `.code` says why: see twilio_errors) and aiohttp/asyncio errors when the request failed
    in flight (then it may or may not have been sent: look it up before resending)."""
    callback = callback_url(status_callback_path)
    if get_settings().sandbox_sms:
        sid = "SM" + secrets.token_hex(16)
        pool = await _get_sandbox_pool()
        await pool.execute(
            "INSERT INTO sandbox_messages (sid, to_number, from_number, body, status_callback)"
            " VALUES ($1, $2, $3, $4, $5)",
            sid, sms.to, sms.messaging_service_sid or sms.from_, sms.body, callback,
        )  # fmt: skip
        log.info("sandbox sms %s queued", sid)
        return SentMessage(sid=sid, status="queued")
    sender: dict[str, str] = (
        {"messaging_service_sid": sms.messaging_service_sid}
        if sms.messaging_service_sid
        else {"from_": sms.from_}
    )
    validity = {"validity_period": sms.validity_seconds} if sms.validity_seconds else {}
    # Our own deadline: the async client passes no timeout to aiohttp (its `timeout` argument is
    # kept but unused), whose default would wait five minutes.
    async with asyncio.timeout(get_settings().twilio_timeout_seconds):
        message = await _get_client().messages.create_async(
            to=sms.to, body=sms.body, status_callback=callback, **sender, **validity
        )
    return SentMessage(sid=str(message.sid), status=str(message.status))


async def find_sent(sms: OutgoingSms, created_after: datetime) -> list[SentMessage]:
    """The messages Twilio already has that may be this text, newest first, if an earlier
    attempt reached it.

    Twilio's Messages API has no idempotency key, so a send whose outcome we never learned (a
    crash, a timeout or a 5xx between Twilio's answer and our mark) is looked up before any
    resend: the newest messages to `to` (from our number, unless a Messaging Service chose the
    sender) with the same body, created after the text was decided. No date filter is sent: a
    message still queued at Twilio has no `date_sent` yet and would slip through one. The caller
    skips sids already recorded for other texts (two identical texts are two messages)."""
    if get_settings().sandbox_sms:
        pool = await _get_sandbox_pool()
        rows = await pool.fetch(
            "SELECT sid FROM sandbox_messages WHERE to_number = $1 AND body = $2"
            " AND created_at >= $3 ORDER BY id DESC LIMIT 20",
            sms.to, sms.body, created_after,
        )  # fmt: skip
        return [SentMessage(sid=row["sid"], status="queued") for row in rows]
    sender = {} if sms.messaging_service_sid else {"from_": sms.from_}
    async with asyncio.timeout(get_settings().twilio_timeout_seconds):
        recent = await _get_client().messages.list_async(to=sms.to, limit=50, **sender)
    return [
        SentMessage(sid=str(m.sid), status=str(m.status))
        for m in recent
        if m.body == sms.body and (m.date_created is None or m.date_created >= created_after)
    ]
