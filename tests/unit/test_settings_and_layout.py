"""The committed template lists every setting, and the app registers the contract's triggers."""

from __future__ import annotations

import json
from pathlib import Path

from shared_code.platform.settings import Settings
from shared_code.platform.subscriptions import load_subscriptions
from tests.helpers import app_function

ROOT = Path(__file__).resolve().parents[2]
HOST_ONLY = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags"}


def _setting_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.alias or (
            field.validation_alias.choices[0] if field.validation_alias else name  # type: ignore[union-attr]
        )
        names.add(str(alias))
    return names


def test_example_settings_list_every_setting_and_nothing_else():
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert set(values) - HOST_ONLY == _setting_names()


def test_example_settings_parse_as_valid_settings():
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    settings = Settings(**{k: v for k, v in values.items() if k not in HOST_ONLY})
    assert settings.sandbox_sms  # no Twilio account locally: texts go to the sandbox
    assert settings.quiet_hours_start.hour == 21 and settings.quiet_hours_end.hour == 8


def test_secrets_never_show_in_settings_repr():
    settings = Settings(TWILIO_AUTH_TOKEN="tok-123", ADMIN_API_KEY="adm-456")
    shown = repr(settings) + str(settings.model_dump())
    assert "tok-123" not in shown and "adm-456" not in shown


def test_app_registers_the_contract_routes_queue_timer_and_event_functions():
    import function_app
    from devhost.catalog import get_functions_once

    triggers = {
        fn.get_function_name(): fn.get_trigger().get_dict_repr()
        for fn in get_functions_once(function_app.app)
    }
    routes = {t.get("route") for t in triggers.values() if t["type"] == "httpTrigger"}
    assert {"voice/incoming", "voice/dial-status", "voice/status"} <= routes
    assert {"v1/businesses", "v1/businesses/{business_id}"} <= routes
    assert triggers["missed_call_handler"]["queueName"] == "calls"
    assert triggers["outbox"]["schedule"] == "%OUTBOX_SCHEDULE%"
    event_grid = {name for name, t in triggers.items() if t["type"] == "eventGridTrigger"}
    assert event_grid == set(load_subscriptions())
    assert callable(app_function("notifications"))
