"""Storage queues `calls`, `messages` and `recordings`: the webhooks' hand-off to the processors.

Messages are base64 text, as the Functions host's queue trigger expects by default. One async
client per queue per process: creating clients per request would cost a TLS/HTTP setup each time.
The clients come from platform/azure_identity: Azurite's connection string locally, the Function
App's managed identity in Azure (the storage account refuses shared keys there).

Two kinds of put. `enqueue` (processors, after-commit puts) keeps the SDK's patient retries: a
queue message can wait. `put_quickly` is the webhooks': Twilio gives a webhook 15 s and the
caller hears "an application error" after that, while the SDK's default retry first waits ~15 s.
It tries within `QUICK_PUT_SECONDS` (short timeouts, one retry) and says whether the queue took
the message; after a failure a short breaker sends the next webhooks straight to the inbox.

The inbox (`webhook_inbox`, migration 008) keeps what the queue could not take: one row per
queue and webhook fact, put on the queue by the outbox timer (`drain_inbox`) once the queue is
back. A row is deleted only after its put succeeded, so a crash in between puts it twice, which
the processors absorb (one call per CallSid, one message per MessageSid).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import asyncpg
from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from shared_code.platform import azure_identity
from shared_code.platform.db import get_pool

log = logging.getLogger(__name__)

CALLS_QUEUE = "calls"
MESSAGES_QUEUE = "messages"
RECORDINGS_QUEUE = "recordings"  # voicemail recordings and Twilio's transcripts
MAX_VISIBILITY_DELAY_SECONDS = 7 * 24 * 3600  # the service's limit for a delayed message
MAX_MESSAGE_BYTES = 64 * 1024  # the service's limit for one message, as sent (base64 text)

QUICK_PUT_SECONDS = 0.9  # the whole webhook put, its one retry included
INBOX_WRITE_SECONDS = 0.5  # the fallback insert: a webhook answers within 2 s whatever is down
_QUICK_CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 0.3,
    "read_timeout": 0.5,
    # The SDK's ExponentialRetry, told to retry once after 0.1 s (its default waits ~15 s).
    "retry_total": 1,
    "initial_backoff": 0.1,
    "increment_base": 0,
    "random_jitter_range": 0,
}
_BREAKER_SECONDS = 5.0
INBOX_CLAIM_SECONDS = 60

_clients: dict[tuple[str, bool], QueueClient] = {}
_created: set[tuple[str, bool]] = set()
_clients_loop: asyncio.AbstractEventLoop | None = None
_down_until = 0.0


class MessageTooLarge(ValueError):
    """The message would exceed the queue service's 64 KiB: no put can ever succeed."""


async def get_queue(name: str, *, quick: bool = False) -> QueueClient:
    """The process's client for queue `name` (created, with the queue, on first use);
    `quick` gives the webhook path's client (short timeouts, one quick retry)."""
    global _clients_loop
    loop = asyncio.get_running_loop()
    if _clients_loop is not loop:
        _clients.clear()
        _created.clear()
        _clients_loop = loop
    key = (name, quick)
    client = _clients.get(key)
    if client is None:
        # A connection string locally (Azurite), the managed identity in Azure: azure_identity.
        client = _clients[key] = azure_identity.queue_client(
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
            **(_QUICK_CLIENT_OPTIONS if quick else {}),
        )
    if key not in _created:  # kept and retried when the service is down: no client leaks
        with contextlib.suppress(ResourceExistsError):
            await client.create_queue()
        _created.add(key)
    return client


def message_text(payload: dict[str, Any]) -> str:
    """The JSON a task is queued as; MessageTooLarge when the service would refuse it."""
    text = json.dumps(payload, separators=(",", ":"))
    size = 4 * ((len(text.encode()) + 2) // 3)  # as sent: base64 of the UTF-8 text
    if size > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"queue message would be {size} bytes (limit {MAX_MESSAGE_BYTES})")
    return text


async def enqueue(name: str, payload: dict[str, Any], delay_seconds: int = 0) -> None:
    """Put a JSON message on queue `name`, visible after `delay_seconds` (at most 7 days)."""
    text = message_text(payload)
    client = await get_queue(name)
    delay = max(0, min(int(delay_seconds), MAX_VISIBILITY_DELAY_SECONDS))
    await client.send_message(text, visibility_timeout=delay or None)


def queue_is_down() -> bool:
    """A quick put failed moments ago: webhooks go straight to the inbox for a few seconds."""
    return time.monotonic() < _down_until


async def put_quickly(name: str, text: str) -> bool:
    """One bounded try at queueing `text` for a webhook: True when the queue took it."""
    global _down_until
    if queue_is_down():
        return False
    try:
        async with asyncio.timeout(QUICK_PUT_SECONDS):
            client = await get_queue(name, quick=True)
            await client.send_message(text)
    except (AzureError, OSError, TimeoutError) as exc:
        if not queue_is_down():
            reason = type(exc).__name__
            log.warning("queue %s unavailable (%s): webhooks use the inbox", name, reason)
        _down_until = time.monotonic() + _BREAKER_SECONDS
        return False
    return True


async def keep_in_inbox(name: str, key: str, text: str) -> bool:
    """Keep a message the queue did not take (idempotent per `key`): True once it is stored."""
    try:
        async with asyncio.timeout(INBOX_WRITE_SECONDS):
            pool = await get_pool()
            await pool.execute(
                "INSERT INTO webhook_inbox (queue, dedupe_key, message) VALUES ($1, $2, $3)"
                " ON CONFLICT (queue, dedupe_key) DO NOTHING",
                name, key, text,
            )  # fmt: skip
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.error("webhook inbox unavailable (%s): %s not kept", type(exc).__name__, key)
        return False
    log.info("queue %s down: %s kept in the webhook inbox", name, key)
    return True


async def drain_inbox(batch: int = 500) -> int:
    """Put what the inbox kept on its queues (the outbox timer calls this); returns how many.

    Rows are claimed for `INBOX_CLAIM_SECONDS` by one autocommit statement, put outside any
    transaction, deleted once put; when a put fails the rest are released for the next run."""
    total = 0
    while True:
        queued, complete = await _drain_batch(batch)
        total += queued
        if not complete or queued < batch:
            break
    if total:
        log.info("webhook inbox: %d kept webhook reports queued", total)
    return total


async def _drain_batch(limit: int) -> tuple[int, bool]:
    pool = await get_pool()
    rows = await pool.fetch(
        "UPDATE webhook_inbox SET claimed_until = now() + make_interval(secs => $2)"
        " WHERE id IN (SELECT id FROM webhook_inbox"
        "  WHERE claimed_until IS NULL OR claimed_until < now()"
        "  ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " RETURNING id, queue, message",
        limit, INBOX_CLAIM_SECONDS,
    )  # fmt: skip
    put: list[int] = []
    complete = True
    try:
        for row in sorted(rows, key=lambda r: r["id"]):
            async with asyncio.timeout(QUICK_PUT_SECONDS):
                client = await get_queue(row["queue"], quick=True)
                await client.send_message(row["message"])
            put.append(row["id"])
    except (AzureError, OSError, TimeoutError) as exc:
        complete = False
        log.warning("webhook inbox: queue still unavailable (%s)", type(exc).__name__)
    finally:
        await pool.execute("DELETE FROM webhook_inbox WHERE id = ANY($1::bigint[])", put)
        done = set(put)
        rest = [row["id"] for row in rows if row["id"] not in done]
        if rest:
            await pool.execute(
                "UPDATE webhook_inbox SET claimed_until = NULL WHERE id = ANY($1::bigint[])", rest
            )
    return len(put), complete


def reset() -> None:
    """Forget any open breaker (tests restart the queue service)."""
    global _down_until
    _down_until = 0.0


async def close_all() -> None:
    for client in list(_clients.values()):
        await client.close()
    _clients.clear()
    _created.clear()
    reset()
