"""Round-2 resources of infra/resources.bicep, read back with the Bicep parser: PostgreSQL's
children in one chain and the connection through PgBouncer, the voicemail container and its
lifecycle rule, the cost defaults (Key Vault purge protection, Redis HA, queue read logs) and the
voice fallback's public container.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.infra.helpers import INFRA, app_settings, bicep, resources_of_type


def _config(resource: dict[str, Any]) -> dict[str, Any]:
    config = resource["config"]
    return config["config"] if "condition" in config else config


def _resource(name: str) -> dict[str, Any]:
    return bicep("resources.bicep")["resources"][name]


def test_postgres_children_are_serialised() -> None:
    """database -> configurations -> firewall rule -> private endpoint, never in parallel
    (the server answers concurrent changes with ServerIsBusy)."""
    doc = bicep("resources.bicep")
    children = {
        name
        for name, r in doc["resources"].items()
        if r["type"].startswith("Microsoft.DBforPostgreSQL/flexibleServers/")
    }
    assert children == {
        "postgresDatabase",
        "postgresTls",
        "postgresPgBouncer",
        "postgresAdminFirewall",
    }
    chain = ["postgresDatabase", "postgresTls", "postgresPgBouncer", "postgresAdminFirewall"]
    for before, after in itertools.pairwise(chain):
        assert before in _config(_resource(after)).get("dependsOn", []), f"{after} after {before}"
    endpoints = _resource("privateEndpoints")["config"]["config"]
    assert "postgresAdminFirewall" in endpoints["dependsOn"]
    assert "postgresPgBouncer" in endpoints["dependsOn"]  # the firewall rule may not be deployed


def test_pgbouncer_on_general_purpose_and_the_app_goes_through_it() -> None:
    doc = bicep("resources.bicep")
    bouncer = _resource("postgresPgBouncer")["config"]
    assert bouncer["condition"] == "postgresPgBouncer"
    assert bouncer["config"]["name"] == "pgbouncer.enabled"
    assert bouncer["config"]["properties"]["value"] == "true"
    flag = doc["variables"]["postgresPgBouncer"]["value"]["operator"]
    assert flag["type"] == "not_equals"
    assert set(flag["operands"].values()) == {"postgresSkuTier", "Burstable"}
    port = doc["variables"]["postgresAppPort"]["value"]["operator"]["operands"]
    assert (port["true_value"], port["false_value"]) == (6432, 5432)

    secrets = {
        _config(r)["name"]: _config(r)["properties"]["value"]
        for r in resources_of_type(doc, "Microsoft.KeyVault/vaults/secrets").values()
    }
    assert ":${postgresAppPort}/" in secrets["DATABASE-URL"]
    assert ":5432/" in secrets["DATABASE-MIGRATION-URL"], "migrations take the direct port"
    settings = app_settings()
    pooler = settings["DATABASE_POOLER"]["operator"]["operands"]
    assert (pooler["condition"], pooler["true_value"], pooler["false_value"]) == (
        "postgresPgBouncer",
        "pgbouncer",
        "none",
    )
    assert "databaseMigrationUrlSecret" in settings["DATABASE_MIGRATION_URL"]
    assert json.dumps(settings["DATABASE_POOL_SIZE"]).count("databasePoolSize") == 1

    main = bicep("main.bicep")["parameters"]
    assert main["postgresSkuTier"]["default"] == "GeneralPurpose", "production default"
    assert main["postgresSkuName"]["default"] == "Standard_D2ds_v5"
    assert 1 <= main["databasePoolSize"]["default"] <= 10, "small: many instances share the server"
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert params["postgresSkuTier"]["value"] == "${POSTGRES_SKU_TIER=GeneralPurpose}"
    assert params["postgresSkuName"]["value"] == "${POSTGRES_SKU_NAME=Standard_D2ds_v5}"


def test_voicemail_container_is_private_with_lifecycle_deletion() -> None:
    doc = bicep("resources.bicep")
    container = _config(_resource("voicemailContainer"))
    assert container["name"] == "voicemailContainerName"
    assert doc["variables"]["voicemailContainerName"]["value"] == "voicemails"
    assert container["properties"]["publicAccess"] == "None"
    assert app_settings()["VOICEMAIL_CONTAINER"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "voicemailContainer", "operand_2": "name"},
        }
    }
    (policy,) = resources_of_type(
        doc, "Microsoft.Storage/storageAccounts/managementPolicies"
    ).values()
    (rule,) = policy["config"]["properties"]["policy"]["rules"]
    assert rule["enabled"] is True and rule["type"] == "Lifecycle"
    assert rule["definition"]["filters"]["prefixMatch"] == ["${voicemailContainerName}/"]
    delete = rule["definition"]["actions"]["baseBlob"]["delete"]
    assert delete == {"daysAfterCreationGreaterThan": "voicemailRetentionDays"}
    # The same number the app's retention timer uses.
    assert "voicemailRetentionDays" in json.dumps(app_settings()["VOICEMAIL_RETENTION_DAYS"])
    from shared_code.platform.settings import Settings

    default = Settings.model_fields["voicemail_retention_days"].default
    assert bicep("main.bicep")["parameters"]["voicemailRetentionDays"]["default"] == default


def test_cost_and_teardown_defaults() -> None:
    main = bicep("main.bicep")["parameters"]
    # `azd down --purge` then `azd up` in the same environment: purge protection off by default.
    assert main["keyVaultPurgeProtection"]["default"] is False
    vault = _config(
        next(
            iter(resources_of_type(bicep("resources.bicep"), "Microsoft.KeyVault/vaults").values())
        )
    )
    purge = vault["properties"]["enablePurgeProtection"]["operator"]["operands"]
    assert (purge["true_value"], purge["false_value"]) == (True, None), "never false: API refuses"
    # A cache whose loss never breaks correctness: no replica by default.
    assert main["redisHighAvailability"]["default"] is False
    redis = _config(_resource("redis"))
    ha = redis["properties"]["highAvailability"]["operator"]["operands"]
    assert (ha["condition"], ha["true_value"], ha["false_value"]) == (
        "redisHighAvailability",
        "Enabled",
        "Disabled",
    )
    # No queue read logs by default (every trigger poll would be a log line).
    assert main["queueReadLogs"]["default"] is False
    logs = _config(_resource("storageQueueDiagnostics"))["properties"]["logs"]
    read = next(entry for entry in logs if entry["category"] == "StorageRead")
    assert read["enabled"] == "queueReadLogs"
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    for name, env in [
        ("keyVaultPurgeProtection", "KEY_VAULT_PURGE_PROTECTION=false"),
        ("redisHighAvailability", "REDIS_HIGH_AVAILABILITY=false"),
        ("queueReadLogs", "QUEUE_READ_LOGS=false"),
        ("httpAlwaysReady", "HTTP_ALWAYS_READY=1"),
    ]:
        assert params[name]["value"] == "${" + env + "}", name
    # Every main.bicep parameter reaches resources.bicep under the same name.
    module = bicep("main.bicep")["modules"]["resources"]["config"]["params"]
    declared = bicep("resources.bicep")["parameters"]
    for name in main:
        if name not in ("environmentName", "location"):
            assert module.get(name) == name and name in declared, name


def test_voice_fallback_is_a_separate_public_read_account() -> None:
    doc = bicep("resources.bicep")
    accounts = resources_of_type(doc, "Microsoft.Storage/storageAccounts")
    fallback = accounts["fallbackStorage"]["config"]
    assert fallback["condition"] == "voiceFallback"
    props = fallback["config"]["properties"]
    assert props["allowBlobPublicAccess"] is True
    assert props["allowSharedKeyAccess"] is False, "uploads by Entra ID only"
    container = _resource("fallbackContainer")["config"]
    assert container["config"]["properties"]["publicAccess"] == "Blob", "readable, not listable"
    app_account = accounts["storage"]["config"]["properties"]
    assert app_account["allowBlobPublicAccess"] is False, "the app's own account stays private"
    assert "VOICE_FALLBACK_BASE_URL" in bicep("main.bicep")["outputs"]
