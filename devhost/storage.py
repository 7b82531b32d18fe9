"""Storage queue access shared by queue triggers and queue output bindings.

The host reads the connection string from the app setting a binding names (`connection`, default
`AzureWebJobsStorage`), and `UseDevelopmentStorage=true` means the local emulator. Messages are
base64 text on the wire, which is what the Functions host writes and expects by default.
"""

from __future__ import annotations

import base64
import contextlib
import os
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue.aio import QueueClient

from devhost.services import azurite_connection_string

DEFAULT_CONNECTION = "AzureWebJobsStorage"


def connection_string(setting_name: str | None) -> str:
    """Resolve a binding's `connection` to a real connection string (Azurite for dev storage)."""
    name = setting_name or DEFAULT_CONNECTION
    value = os.environ.get(name) or os.environ.get(f"{name}__connectionString") or ""
    if not value:
        raise KeyError(f"storage connection setting {name!r} is not set")
    if value.strip().rstrip(";").lower() == "usedevelopmentstorage=true":
        return azurite_connection_string()
    return value


def queue_client(setting_name: str | None, queue_name: str) -> QueueClient:
    """A raw-text client: we base64 encode/decode ourselves to keep the original text for poison."""
    return QueueClient.from_connection_string(connection_string(setting_name), queue_name)


async def ensure_queue(client: QueueClient) -> None:
    with contextlib.suppress(ResourceExistsError):
        await client.create_queue()


def encode_message(value: Any) -> str:
    """What a queue output binding (and the host) puts on the wire: base64 of UTF-8 text."""
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, str):
        raw = value.encode("utf-8")
    else:
        raise TypeError(f"queue messages must be str or bytes, not {type(value).__name__}")
    return base64.b64encode(raw).decode("ascii")


def decode_message(text: str) -> bytes:
    """The body a queue trigger receives; raises ValueError when the text is not base64."""
    return base64.b64decode(text.encode("ascii"), validate=True)


async def send_messages(setting_name: str | None, queue_name: str, values: list[Any]) -> None:
    async with queue_client(setting_name, queue_name) as client:
        await ensure_queue(client)
        for value in values:
            await client.send_message(encode_message(value))
