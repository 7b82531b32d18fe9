"""What the infra/ tests share: the paths, the Bicep parser, the registered functions, the tools.

`bicep` parses a file of infra/ with pycep-parser (the pure-Python parser checkov itself uses)
and the other readers pick resources, app settings and the function app's config out of it;
`registered` is what the Azure worker indexes from function_app.py. checkov pins `packaging<24`,
which pytest 9 cannot share, so checkov and azure-functions-doctor live in their own virtualenv,
`.venv/tools` (pins: infra/requirements-tools.txt), which `_tools_bin` creates on first use (about
a minute, once even for two runs at once) and reuses while the pins are unchanged.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TOOLS_VENV = ROOT / ".venv" / "tools"
TOOLS_REQUIREMENTS = INFRA / "requirements-tools.txt"
SUBSCRIPTIONS_JSON = ROOT / "shared_code" / "event_subscriptions.json"

# ----------------------------------------------------------------------------- parsing helpers


@cache
def bicep(name: str) -> dict[str, Any]:
    from pycep import BicepParser

    return cast(dict[str, Any], BicepParser().parse(text=(INFRA / name).read_text("utf-8")))


def resources_of_type(doc: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in doc["resources"].items() if v["type"] == type_}


def app_settings() -> dict[str, Any]:
    configs = resources_of_type(bicep("resources.bicep"), "Microsoft.Web/sites/config")
    (config,) = [c for c in configs.values() if c["config"]["name"] == "appsettings"]
    return config["config"]["properties"]


def function_app_config() -> dict[str, Any]:
    (site,) = resources_of_type(bicep("resources.bicep"), "Microsoft.Web/sites").values()
    return site["config"]["properties"]["functionAppConfig"]


@cache
def registered() -> list[dict[str, Any]]:
    """What the Azure worker indexes: name, trigger binding and the other bindings."""
    import function_app
    from devhost.catalog import _plain, get_functions_once

    out = []
    for fn in get_functions_once(function_app.app):
        out.append(
            {
                "name": fn.get_function_name(),
                "trigger": _plain(fn.get_trigger().get_dict_repr()),
                "bindings": [_plain(b.get_dict_repr()) for b in fn.get_bindings()],
            }
        )
    return out


def registered_of(trigger_type: str) -> list[dict[str, Any]]:
    return [f for f in registered() if f["trigger"]["type"] == trigger_type]


def local_settings() -> dict[str, str]:
    data = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))
    return data["Values"]


# ----------------------------------------------------------------------------- tools venv


def _tools_bin(tool: str) -> Path:
    """Path of `tool` in .venv/tools, installing the pinned tools first if needed."""
    pins = TOOLS_REQUIREMENTS.read_bytes()
    stamp = hashlib.sha256(pins + sys.version.encode()).hexdigest()
    marker = TOOLS_VENV / ".installed"
    TOOLS_VENV.parent.mkdir(exist_ok=True)
    with open(TOOLS_VENV.parent / "tools.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once install once
        if not (marker.exists() and marker.read_text() == stamp):
            started = time.monotonic()
            shutil.rmtree(TOOLS_VENV, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True)
            result = subprocess.run(
                [
                    str(TOOLS_VENV / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                    str(TOOLS_REQUIREMENTS),
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                pytest.fail(
                    f"installing {TOOLS_REQUIREMENTS.name} failed:\n{result.stderr[-3000:]}"
                )
            marker.write_text(stamp)
            print(f"installed infra tools in {time.monotonic() - started:.0f}s")
    return TOOLS_VENV / "bin" / tool


def _offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "BC_SKIP_MAPPING": "TRUE",  # no download of Bridgecrew/Prisma check metadata
            "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
            "PYTHONWARNINGS": "ignore",
        }
    )
    env.pop("BC_API_KEY", None)
    env.pop("PRISMA_API_URL", None)
    return env
