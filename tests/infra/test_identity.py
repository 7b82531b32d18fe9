"""Identity instead of keys: which client and credential the app builds for which settings, the
fail-fast check in Azure, and the infra that makes the identity path the only one there.

No Azure: clients are built (building one sends nothing) and inspected; DefaultAzureCredential
is replaced by a recorder where the test needs the options it was given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AzureKeyCredential

from shared_code.platform import azure_identity
from shared_code.platform.settings import Settings, reset_settings
from tests.infra.helpers import INFRA, app_settings, bicep, resources_of_type

STORAGE_ENV = (
    "AzureWebJobsStorage",
    "STORAGE_CONNECTION",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__clientId",
    "AZURE_CLIENT_ID",
    "EVENTGRID_TOPIC_ENDPOINT",
    "EVENTGRID_TOPIC_KEY",
    "WEBSITE_INSTANCE_ID",
    "WEBSITE_SITE_NAME",
)
AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "QueueEndpoint=http://127.0.0.1:19001/devstoreaccount1;"
    "BlobEndpoint=http://127.0.0.1:19000/devstoreaccount1;"
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean slate of the storage / Event Grid / Azure settings, and fresh cached settings."""
    for name in STORAGE_ENV:
        monkeypatch.delenv(name, raising=False)
    reset_settings()
    yield monkeypatch
    reset_settings()


class RecordingCredential:
    """Stands in for DefaultAzureCredential: remembers its options, never fetches a token."""

    made: list[dict[str, Any]] = []

    def __init__(self, **options: Any) -> None:
        self.options = options
        RecordingCredential.made.append(options)

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AssertionError("no token in a unit test")

    async def close(self) -> None:
        pass


@pytest.fixture
def recorded(env: pytest.MonkeyPatch) -> Iterator[type[RecordingCredential]]:
    import azure.identity.aio

    RecordingCredential.made = []
    env.setattr(azure.identity.aio, "DefaultAzureCredential", RecordingCredential)
    yield RecordingCredential
    azure_identity._credential = None
    azure_identity._credential_loop = None


# ----------------------------------------------------------------------------- storage


async def test_connection_string_builds_a_key_client(env: pytest.MonkeyPatch) -> None:
    env.setenv("AzureWebJobsStorage", AZURITE)
    client = azure_identity.queue_client("calls")
    assert client.url == "http://127.0.0.1:19001/devstoreaccount1/calls"
    assert "SharedKey" in type(client.credential).__name__
    service = azure_identity.blob_service()
    assert service.url.startswith("http://127.0.0.1:19000/devstoreaccount1")
    assert "SharedKey" in type(service.credential).__name__
    await client.close()
    await service.close()


async def test_storage_connection_alias_is_a_connection_string(env: pytest.MonkeyPatch) -> None:
    env.setenv("STORAGE_CONNECTION", AZURITE)
    assert azure_identity.storage_target().connection_string == AZURITE


async def test_account_name_builds_identity_clients(
    recorded: type[RecordingCredential], env: pytest.MonkeyPatch
) -> None:
    env.setenv("AzureWebJobsStorage__accountName", "stexample")
    env.setenv("AzureWebJobsStorage__credential", "managedidentity")
    client = azure_identity.queue_client("recordings")
    assert client.url == "https://stexample.queue.core.windows.net/recordings"
    assert isinstance(client.credential, RecordingCredential)
    service = azure_identity.blob_service()
    assert service.url == "https://stexample.blob.core.windows.net/"
    assert service.credential is client.credential, "one credential per process and loop"
    assert recorded.made == [{}], "system-assigned identity: no client id"
    await client.close()
    await service.close()


async def test_service_uris_and_a_user_assigned_identity(
    recorded: type[RecordingCredential], env: pytest.MonkeyPatch
) -> None:
    env.setenv("AzureWebJobsStorage__queueServiceUri", "https://q.example.net/")
    env.setenv("AzureWebJobsStorage__blobServiceUri", "https://b.example.net")
    env.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
    client = azure_identity.queue_client("calls")
    assert client.url == "https://q.example.net/calls"
    assert azure_identity.blob_service().url == "https://b.example.net/"
    assert recorded.made == [{"managed_identity_client_id": "00000000-0000-0000-0000-000000000001"}]


async def test_storage_client_id_names_the_identity_too(
    recorded: type[RecordingCredential], env: pytest.MonkeyPatch
) -> None:
    env.setenv("AzureWebJobsStorage__accountName", "stexample")
    env.setenv("AzureWebJobsStorage__clientId", "client-id-2")
    azure_identity.queue_client("calls")
    assert recorded.made == [{"managed_identity_client_id": "client-id-2"}]


def test_a_connection_string_wins_over_identity_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv("AzureWebJobsStorage", AZURITE)
    env.setenv("AzureWebJobsStorage__accountName", "stexample")
    assert azure_identity.storage_target().connection_string == AZURITE


def test_nothing_set_is_azurite_locally(env: pytest.MonkeyPatch) -> None:
    target = azure_identity.storage_target()
    assert target.connection_string == azure_identity.DEV_STORAGE
    env.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    reset_settings()
    assert azure_identity.storage_target().connection_string == azure_identity.DEV_STORAGE


def test_nothing_set_in_azure_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("WEBSITE_INSTANCE_ID", "abc123")
    with pytest.raises(azure_identity.MissingSetting, match="Azurite"):
        azure_identity.storage_target()


async def test_the_queue_module_uses_the_identity(
    recorded: type[RecordingCredential], env: pytest.MonkeyPatch
) -> None:
    from shared_code.platform import queues

    env.setenv("AzureWebJobsStorage__accountName", "stexample")
    client = azure_identity.queue_client("calls", **queues._QUICK_CLIENT_OPTIONS)
    assert isinstance(client.credential, RecordingCredential)
    await client.close()


# ----------------------------------------------------------------------------- event grid


async def test_event_grid_key_locally_identity_in_azure(
    recorded: type[RecordingCredential], env: pytest.MonkeyPatch
) -> None:
    from shared_code.platform import events

    env.setenv("EVENTGRID_TOPIC_ENDPOINT", "https://evgt.example.eventgrid.azure.net/api/events")
    env.setenv("EVENTGRID_TOPIC_KEY", "local-topic-key")
    assert isinstance(azure_identity.eventgrid_credential(), AzureKeyCredential)

    env.delenv("EVENTGRID_TOPIC_KEY")
    reset_settings()
    assert isinstance(azure_identity.eventgrid_credential(), RecordingCredential)
    await events.close_publisher()
    publisher = events._get_publisher()
    assert publisher is not None
    assert isinstance(publisher._credential, RecordingCredential)
    await events.close_publisher()


# ----------------------------------------------------------------------------- fail fast


AZURE_READY = {
    "WEBSITE_SITE_NAME": "func-abc",
    "AzureWebJobsStorage__accountName": "stexample",
    "DATABASE_URL": "postgresql://u:p@h:6432/nevermiss",
    "EVENTGRID_TOPIC_ENDPOINT": "https://evgt.example.eventgrid.azure.net/api/events",
    "TWILIO_AUTH_TOKEN": "token",
    "ADMIN_API_KEY": "admin",
    "PUBLIC_BASE_URL": "https://func-abc.azurewebsites.net",
}


def _problems(env: pytest.MonkeyPatch, values: dict[str, str]) -> list[str]:
    for name, value in values.items():
        env.setenv(name, value)
    import os

    return azure_identity.azure_setting_problems(Settings(), dict(os.environ))


def test_settings_check_is_silent_outside_azure(env: pytest.MonkeyPatch) -> None:
    assert _problems(env, {}) == []
    azure_identity.check_azure_settings()


def test_settings_check_passes_a_complete_azure_environment(env: pytest.MonkeyPatch) -> None:
    assert _problems(env, AZURE_READY) == []


def test_settings_check_names_what_is_missing_in_azure(env: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "TWILIO_AUTH_TOKEN", "ADMIN_API_KEY", "PUBLIC_BASE_URL"):
        env.delenv(name, raising=False)
    problems = _problems(env, {"WEBSITE_INSTANCE_ID": "abc"})
    text = "; ".join(problems)
    for name in ("AzureWebJobsStorage", "DATABASE_URL", "EVENTGRID_TOPIC_ENDPOINT",
                 "TWILIO_AUTH_TOKEN", "ADMIN_API_KEY", "PUBLIC_BASE_URL"):  # fmt: skip
        assert name in text, (name, problems)
    with pytest.raises(azure_identity.MissingSetting, match="cannot start in Azure"):
        azure_identity.check_azure_settings()


def test_settings_check_wants_both_service_urls_without_an_account_name(
    env: pytest.MonkeyPatch,
) -> None:
    """Queues on the webhook path and blobs for voicemail: one URL alone fails at run time."""
    ready = {k: v for k, v in AZURE_READY.items() if not k.startswith("AzureWebJobsStorage__")}
    env.delenv("AzureWebJobsStorage__accountName", raising=False)
    problems = _problems(
        env, {**ready, "AzureWebJobsStorage__blobServiceUri": "https://st.blob.core.windows.net"}
    )
    assert problems == [
        "AzureWebJobsStorage__queueServiceUri is not set (or set AzureWebJobsStorage__accountName)"
    ]


def test_settings_check_reports_unresolved_key_vault_references(env: pytest.MonkeyPatch) -> None:
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/ADMIN-API-KEY)"
    problems = _problems(env, {**AZURE_READY, "ADMIN_API_KEY": reference})
    assert len(problems) == 1 and problems[0].startswith("ADMIN_API_KEY is an unresolved")


# ----------------------------------------------------------------------------- infra


def test_no_keys_where_identities_apply() -> None:
    """Storage and Event Grid take no keys; listKeys() is left only where no identity applies."""
    doc = bicep("resources.bicep")
    (storage,) = [
        s
        for s in resources_of_type(doc, "Microsoft.Storage/storageAccounts").values()
        if s["config"].get("name") == "storageAccountName"
    ]
    assert storage["config"]["properties"]["allowSharedKeyAccess"] is False
    (topic,) = resources_of_type(doc, "Microsoft.EventGrid/topics").values()
    assert topic["config"]["properties"]["disableLocalAuth"] is True
    text = (INFRA / "resources.bicep").read_text()
    callers = {line.split(".listKeys()")[0].split("(")[-1] for line in text.splitlines()
               if ".listKeys()" in line and not line.lstrip().startswith("//")}  # fmt: skip
    # Redis: redis-py authenticates with a password (see redisUrlSecret for why not Entra ID).
    assert callers == {"redisDatabase"}, callers
    settings = app_settings()
    for name in ("STORAGE_CONNECTION", "AzureWebJobsStorage", "EVENTGRID_TOPIC_KEY"):
        assert name not in settings, f"{name}: a key-based setting in Azure"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    vault_secrets = resources_of_type(doc, "Microsoft.KeyVault/vaults/secrets").values()
    secrets = {s["config"]["name"] for s in vault_secrets}
    assert not secrets & {"STORAGE-CONNECTION", "EVENTGRID-TOPIC-KEY"}, secrets


def test_the_identity_holds_the_roles_the_clients_need() -> None:
    doc = bicep("resources.bicep")
    granted = {}
    for name, assignment in resources_of_type(
        doc, "Microsoft.Authorization/roleAssignments"
    ).items():
        config = assignment["config"]
        config = config.get("config", config)
        role = json.dumps(config["properties"]["roleDefinitionId"])
        granted[name] = (config["scope"], role, json.dumps(config["properties"]["principalId"]))
    needed = [
        ("storage", "storageQueueDataContributor"),  # queue puts, the queue triggers
        ("storage", "storageBlobDataOwner"),  # includes Blob Data Contributor: voicemail audio
        ("eventGridTopic", "eventGridDataSender"),  # publishing events
    ]
    for scope, role in needed:
        assert any(
            s == scope and role in r and "functionApp" in p for s, r, p in granted.values()
        ), (scope, role)
    # The app settings wait for those roles (identity-based connections resolve with them).
    (config,) = [
        c for c in resources_of_type(doc, "Microsoft.Web/sites/config").values()
        if c["config"]["name"] == "appsettings"
    ]  # fmt: skip
    for name in ("appStorageQueueContributor", "appStorageBlobOwner", "appEventGridSender"):
        assert name in config["config"]["dependsOn"], name
