"""Everything that speaks Twilio: webhook signatures, outbound SMS, and TwiML helpers.

Signatures are checked over the URL Twilio called, rebuilt from `PUBLIC_BASE_URL` + path + raw
query (behind Azure's front ends the request's own URL may say http:// or an internal host), and
every POST parameter received (Twilio adds parameters without notice, so never a whitelist).

Sends go through the real `twilio` client, pointed at `TWILIO_API_BASE_URL`; with no account SID
configured they go to the local sandbox table instead, which devhost shows.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

import asyncpg
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from shared_code.platform.settings import get_settings

log = logging.getLogger(__name__)

_client: Client | None = None
_client_loop: asyncio.AbstractEventLoop | None = None
_sandbox_pool: asyncpg.Pool | None = None
_sandbox_loop: asyncio.AbstractEventLoop | None = None


@dataclass(frozen=True)
class SentMessage:
    sid: str
    status: str


def public_url(path: str, raw_query: str = "") -> str:
    """The URL Twilio called (and must be told to call): public base + path + query as sent."""
    url = get_settings().public_base_url + path
    return f"{url}?{raw_query}" if raw_query else url


def parse_form(body: bytes) -> dict[str, str]:
    """Form-encoded webhook body as a dict, blank values kept (they are signed too)."""
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def signature_is_valid(
    path: str, raw_query: str, params: Mapping[str, str], signature: str | None
) -> bool:
    token = get_settings().twilio_auth_token.get_secret_value()
    if not token or not signature:
        return False
    validator = RequestValidator(token)
    return bool(validator.validate(public_url(path, raw_query), dict(params), signature))


def _get_client() -> Client:
    global _client, _client_loop
    loop = asyncio.get_running_loop()
    if _client is None or _client_loop is not loop:
        settings = get_settings()
        _client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            http_client=AsyncTwilioHttpClient(timeout=10),
        )
        _client.api.base_url = settings.twilio_api_base_url
        _client_loop = loop
    return _client


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
    http_client = getattr(client, "http_client", None) if client is not None else None
    if isinstance(http_client, AsyncTwilioHttpClient):
        await http_client.close()


async def send_sms(to: str, from_: str, body: str, status_callback_path: str) -> SentMessage:
    """Send one SMS; raises on failure so the caller's transaction rolls back and retries."""
    callback = public_url(status_callback_path)
    if get_settings().sandbox_sms:
        sid = "SM" + secrets.token_hex(16)
        pool = await _get_sandbox_pool()
        await pool.execute(
            "INSERT INTO sandbox_messages (sid, to_number, from_number, body, status_callback)"
            " VALUES ($1, $2, $3, $4, $5)",
            sid,
            to,
            from_,
            body,
            callback,
        )
        log.info("sandbox sms %s queued", sid)
        return SentMessage(sid=sid, status="queued")
    message = await _get_client().messages.create_async(
        to=to, from_=from_, body=body, status_callback=callback
    )
    return SentMessage(sid=str(message.sid), status=str(message.status))
