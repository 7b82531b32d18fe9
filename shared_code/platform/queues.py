"""Storage queues `calls` and `messages`: the webhooks' hand-off to the processors.

Messages are base64 text, as the Functions host's queue trigger expects by default. One async
client per queue per process: creating clients per request would cost a TLS/HTTP setup each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from shared_code.platform.settings import get_settings

CALLS_QUEUE = "calls"
MESSAGES_QUEUE = "messages"
MAX_VISIBILITY_DELAY_SECONDS = 7 * 24 * 3600  # the service's limit for a delayed message

_DEV_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
)

_clients: dict[str, QueueClient] = {}
_clients_loop: asyncio.AbstractEventLoop | None = None


def connection_string() -> str:
    value = get_settings().storage_connection.get_secret_value()
    return _DEV_STORAGE if value.strip() == "UseDevelopmentStorage=true" else value


async def get_queue(name: str) -> QueueClient:
    global _clients_loop
    loop = asyncio.get_running_loop()
    if _clients_loop is not loop:
        _clients.clear()
        _clients_loop = loop
    client = _clients.get(name)
    if client is None:
        client = QueueClient.from_connection_string(
            connection_string(),
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )
        with contextlib.suppress(ResourceExistsError):
            await client.create_queue()
        _clients[name] = client
    return client


async def enqueue(name: str, payload: dict[str, Any], delay_seconds: int = 0) -> None:
    """Put a JSON message on queue `name`, visible after `delay_seconds` (at most 7 days)."""
    client = await get_queue(name)
    delay = max(0, min(int(delay_seconds), MAX_VISIBILITY_DELAY_SECONDS))
    await client.send_message(
        json.dumps(payload, separators=(",", ":")), visibility_timeout=delay or None
    )


async def close_all() -> None:
    for client in list(_clients.values()):
        await client.close()
    _clients.clear()
