"""Which credential the app's own Azure clients use: a managed identity in Azure, keys locally.

In Azure the storage account refuses shared keys (`allowSharedKeyAccess: false`) and the Event
Grid topic its access keys (`disableLocalAuth: true`): the queue, blob and Event Grid clients
authenticate with the Function App's managed identity (`DefaultAzureCredential`; set
`AZURE_CLIENT_ID`, or `AzureWebJobsStorage__clientId`, for a user-assigned one), which holds
Storage Queue Data Contributor, Storage Blob Data Owner and EventGrid Data Sender (infra/).
Locally nothing changes: Azurite's connection string and devhost's topic key.

Storage, in order:
1. a connection string (`AzureWebJobsStorage`, or its alias `STORAGE_CONNECTION`): key-based;
2. identity-style settings, as the Functions host reads them for its own connection:
   `AzureWebJobsStorage__queueServiceUri` / `__blobServiceUri`, else
   `AzureWebJobsStorage__accountName` (public cloud endpoints): the managed identity;
3. nothing: Azurite (`UseDevelopmentStorage=true`), except in Azure, where that would only
   hide a missing setting behind connection errors to 127.0.0.1, so it is refused.
Event Grid: `EVENTGRID_TOPIC_KEY` set means the key; an endpoint without a key, the identity.

`check_azure_settings` runs at start (function_app.py): in Azure (WEBSITE_INSTANCE_ID or
WEBSITE_SITE_NAME is set) a required setting that is missing, or a Key Vault reference the
platform could not resolve, stops the worker with a message naming it, instead of a worker
that fails on every request. Everything here imports the Azure SDKs on first use.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared_code.platform.settings import Settings, get_settings

if TYPE_CHECKING:
    from azure.core.credentials import AzureKeyCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.storage.blob.aio import BlobServiceClient
    from azure.storage.queue.aio import QueueClient

# Azurite's well-known development account (the SDK's UseDevelopmentStorage=true, with both the
# queue and the blob endpoint).
DEV_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
)
AZURE_MARKERS = ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME")  # set by App Service / Functions
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault("  # what an unresolved reference leaves in the value

_credential: AsyncTokenCredential | None = None
_credential_loop: asyncio.AbstractEventLoop | None = None


class MissingSetting(RuntimeError):
    """A setting the app needs in Azure is not there (or is an unresolved Key Vault reference)."""


@dataclass(frozen=True)
class StorageTarget:
    """How to reach the storage account: a connection string, or service URLs + identity."""

    connection_string: str = ""
    queue_url: str = ""
    blob_url: str = ""

    @property
    def uses_identity(self) -> bool:
        return not self.connection_string


def running_in_azure(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in AZURE_MARKERS)


def storage_target(
    settings: Settings | None = None, environ: Mapping[str, str] | None = None
) -> StorageTarget:
    """Where the app's queue and blob clients connect, from the settings (see the module doc)."""
    s = settings or get_settings()
    explicit = "storage_connection" in s.model_fields_set
    value = s.storage_connection.get_secret_value().strip()
    if explicit and value and value != "UseDevelopmentStorage=true":
        return StorageTarget(connection_string=value)
    account = s.storage_account_name.strip()
    queue_url = s.storage_queue_service_uri.strip() or (
        f"https://{account}.queue.core.windows.net" if account else ""
    )
    blob_url = s.storage_blob_service_uri.strip() or (
        f"https://{account}.blob.core.windows.net" if account else ""
    )
    if queue_url or blob_url:
        return StorageTarget(queue_url=queue_url.rstrip("/"), blob_url=blob_url.rstrip("/"))
    if explicit and value:  # UseDevelopmentStorage=true, said on purpose
        return StorageTarget(connection_string=DEV_STORAGE)
    if running_in_azure(environ):
        raise MissingSetting(
            "no storage settings: set AzureWebJobsStorage__accountName (managed identity) or "
            "AzureWebJobsStorage; refusing to fall back to Azurite in Azure"
        )
    return StorageTarget(connection_string=DEV_STORAGE)


def credential() -> AsyncTokenCredential:
    """The process's DefaultAzureCredential for this event loop (built on first use)."""
    global _credential, _credential_loop
    loop = asyncio.get_running_loop()
    if _credential is None or _credential_loop is not loop:
        from azure.identity.aio import DefaultAzureCredential

        s = get_settings()
        client_id = s.azure_client_id or s.storage_client_id
        # A user-assigned identity is named by its client id; the system-assigned one by none.
        options: dict[str, Any] = {"managed_identity_client_id": client_id} if client_id else {}
        _credential = DefaultAzureCredential(**options)
        _credential_loop = loop
    return _credential


async def close_credential() -> None:
    global _credential, _credential_loop
    cred, loop = _credential, _credential_loop
    _credential, _credential_loop = None, None
    if cred is not None and loop is asyncio.get_running_loop():
        await cred.close()


def queue_client(name: str, **options: Any) -> QueueClient:
    """A client for storage queue `name`: by connection string, or by the managed identity."""
    from azure.storage.queue.aio import QueueClient

    target = storage_target()
    if target.connection_string:
        return QueueClient.from_connection_string(target.connection_string, name, **options)
    if not target.queue_url:
        raise MissingSetting("AzureWebJobsStorage__queueServiceUri (or __accountName) is not set")
    return QueueClient(target.queue_url, name, credential=credential(), **options)


def blob_service(**options: Any) -> BlobServiceClient:
    """The storage account's blob service client: by connection string, or the identity."""
    from azure.storage.blob.aio import BlobServiceClient

    target = storage_target()
    if target.connection_string:
        return BlobServiceClient.from_connection_string(target.connection_string, **options)
    if not target.blob_url:
        raise MissingSetting("AzureWebJobsStorage__blobServiceUri (or __accountName) is not set")
    return BlobServiceClient(target.blob_url, credential=credential(), **options)


def eventgrid_credential(settings: Settings | None = None) -> AzureKeyCredential | Any:
    """The topic key when EVENTGRID_TOPIC_KEY is set (devhost's topic), else the identity."""
    s = settings or get_settings()
    key = s.eventgrid_topic_key.get_secret_value()
    if key:
        from azure.core.credentials import AzureKeyCredential

        return AzureKeyCredential(key)
    return credential()


def azure_setting_problems(
    settings: Settings | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """What stops the app from working in Azure; empty outside Azure (local defaults apply)."""
    env = os.environ if environ is None else environ
    if not running_in_azure(env):
        return []
    s = settings or Settings()
    problems = [
        f"{name} is an unresolved Key Vault reference (the app's identity cannot read the "
        "secret yet: check Key Vault Secrets User, then restart)"
        for name, value in sorted(env.items())
        if value.startswith(KEY_VAULT_REFERENCE)
    ]
    try:
        target = storage_target(s, env)
    except MissingSetting as exc:
        problems.append(str(exc))
    else:
        # The app uses both services (queues on the webhook path, blobs for voicemail): one URL
        # without the other would fail every put (or every voicemail) at run time instead.
        if target.uses_identity and not (target.queue_url and target.blob_url):
            missing = "queueServiceUri" if not target.queue_url else "blobServiceUri"
            problems.append(
                f"AzureWebJobsStorage__{missing} is not set"
                " (or set AzureWebJobsStorage__accountName)"
            )
    required = {
        "DATABASE_URL": s.database_url.get_secret_value(),
        "EVENTGRID_TOPIC_ENDPOINT": s.eventgrid_topic_endpoint,
        "TWILIO_AUTH_TOKEN": s.twilio_auth_token.get_secret_value(),
        "ADMIN_API_KEY": s.admin_api_key.get_secret_value(),
    }
    problems += [f"{name} is not set" for name, value in required.items() if not value.strip()]
    if "public_base_url" not in s.model_fields_set:
        problems.append("PUBLIC_BASE_URL is not set (Twilio signatures are checked against it)")
    return problems


def check_azure_settings(environ: Mapping[str, str] | None = None) -> None:
    """Stop the worker at start in Azure when a required setting is missing (see module doc)."""
    problems = azure_setting_problems(environ=environ)
    if problems:
        raise MissingSetting("cannot start in Azure: " + "; ".join(problems))
