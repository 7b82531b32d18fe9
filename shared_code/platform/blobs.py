"""Blob storage: the private container voicemail audio is archived to (VOICEMAIL_CONTAINER).

The account is the app's own storage account (AzureWebJobsStorage, or its STORAGE_CONNECTION
alias in Azure); `UseDevelopmentStorage=true` is understood by the SDK (Azurite's blob service
on 127.0.0.1:10000), and tests give a connection string with a `BlobEndpoint`. The container is
created on first use with no public access: audio is reached only through the app (a signed
listen link or the owner API).

One async client per process and event loop, like the queue clients; the SDK is imported on
first use (a worker that only answers webhooks never loads it) and closed by
lifecycle.close_all.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from shared_code.platform import azure_identity
from shared_code.platform.settings import get_settings

if TYPE_CHECKING:
    from azure.storage.blob.aio import BlobServiceClient, ContainerClient

_service: BlobServiceClient | None = None
_service_loop: asyncio.AbstractEventLoop | None = None
_created: set[str] = set()


class BlobMissing(LookupError):
    """No blob of that name (never archived, or purged)."""


async def _container() -> ContainerClient:
    """The voicemail container's client (created, privately, on first use)."""
    global _service, _service_loop
    from azure.core.exceptions import ResourceExistsError

    loop = asyncio.get_running_loop()
    if _service is None or _service_loop is not loop:
        # A connection string locally (Azurite), the managed identity in Azure: azure_identity.
        _service = azure_identity.blob_service()
        _service_loop = loop
        _created.clear()
    name = get_settings().voicemail_container
    container = _service.get_container_client(name)
    if name not in _created:  # kept and retried when the service is down
        with contextlib.suppress(ResourceExistsError):
            await container.create_container()  # no public access: private
        _created.add(name)
    return container


async def upload(name: str, data: bytes, content_type: str) -> None:
    """Write `data` as blob `name`, replacing any earlier upload (a retried archive)."""
    from azure.storage.blob import ContentSettings

    container = await _container()
    await container.upload_blob(
        name, data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
    )


async def download(name: str) -> bytes:
    """The blob's bytes; BlobMissing when there is none."""
    from azure.core.exceptions import ResourceNotFoundError

    container = await _container()
    try:
        stream = await container.download_blob(name)
        return bytes(await stream.readall())
    except ResourceNotFoundError:
        raise BlobMissing(name) from None


async def exists(name: str) -> bool:
    container = await _container()
    return bool(await container.get_blob_client(name).exists())


async def delete(name: str) -> bool:
    """Delete blob `name`; True when it was there (deleting a missing blob is not an error)."""
    from azure.core.exceptions import ResourceNotFoundError

    container = await _container()
    try:
        await container.delete_blob(name)
    except ResourceNotFoundError:
        return False
    return True


async def names() -> list[str]:
    """Every blob in the container (tests and operators: the container is small)."""
    container = await _container()
    return [blob.name async for blob in container.list_blobs()]


async def close_client() -> None:
    global _service, _service_loop
    service, loop = _service, _service_loop
    _service, _service_loop = None, None
    _created.clear()
    if service is not None and loop is asyncio.get_running_loop():
        await service.close()
