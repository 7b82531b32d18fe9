"""Static checks of infra/ (Bicep for `azd up`) by parsers and tools, with no Azure subscription.

There is no Bicep CLI here, so every .bicep file must parse with pycep-parser and azd's parameter
file must match main.bicep; checkov (offline, `--skip-download`) must pass, each suppression
carrying a reason in the Bicep; and azure-functions-doctor must find no failure in a copy of what
azd would deploy. checkov and the doctor run from the `.venv/tools` virtualenv that helpers.py
creates. Consistency of infra with the app itself is in test_infra_matches_app.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from fnmatch import fnmatch
from pathlib import Path

from tests.infra.helpers import INFRA, ROOT, _offline_env, _tools_bin, bicep

# ----------------------------------------------------------------------------- bicep syntax


def test_every_bicep_file_parses() -> None:
    files = sorted(str(p.relative_to(INFRA)) for p in INFRA.rglob("*.bicep"))
    assert {"main.bicep", "resources.bicep", "event-subscriptions.bicep"} <= set(files)
    for name in files:
        doc = bicep(name)
        assert doc["resources"] or doc["modules"], f"{name}: nothing declared"


def test_azd_parameters_match_main_bicep() -> None:
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = bicep("main.bicep")["parameters"]
    assert set(params) <= set(declared), set(params) - set(declared)
    required = {k for k, v in declared.items() if v.get("default") is None}
    assert required <= set(params), f"azd would prompt for {required - set(params)}"
    assert params["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert params["location"]["value"] == "${AZURE_LOCATION}"
    # Generated secrets are read back from Key Vault, so they stay stable across `azd provision`.
    for name in ("postgresAdminPassword", "adminApiKey", "twilioAuthToken", "openAiApiKey"):
        assert params[name]["value"].startswith("$(secretOrRandomPassword ${AZURE_KEY_VAULT_NAME} ")
        assert "secure" in str(declared[name]["decorators"])
    outputs = bicep("main.bicep")["outputs"]
    assert "AZURE_KEY_VAULT_NAME" in outputs  # what secretOrRandomPassword reads the vault from


# ----------------------------------------------------------------------------- checkov


def test_checkov_passes_offline(tmp_path: Path) -> None:
    checkov = _tools_bin("checkov")
    started = time.monotonic()
    result = subprocess.run(
        [
            str(checkov),
            "-d",
            str(INFRA),
            "--framework",
            "bicep",
            "--skip-download",
            "--compact",
            "--quiet",
            "--output",
            "json",
            "--output-file-path",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=_offline_env(),
        timeout=300,
    )
    elapsed = time.monotonic() - started
    report_file = tmp_path / "results_json.json"
    assert report_file.exists(), (
        f"checkov wrote no report:\n{result.stdout}\n{result.stderr[-3000:]}"
    )
    report = json.loads(report_file.read_text())
    report = report[0] if isinstance(report, list) else report
    failed = [
        f"{c['check_id']} {c['resource']} {c['file_path']}:{c['file_line_range']} {c['check_name']}"
        for c in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failed:\n" + "\n".join(failed)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0, result.stdout
    # checkov reports nothing for a file it could not parse: make sure it saw the resources.
    assert summary["resource_count"] >= 40, summary
    assert result.returncode == 0, result.stdout[-3000:]
    print(f"checkov: {summary} in {elapsed:.1f}s")


def test_every_checkov_suppression_has_a_reason() -> None:
    pattern = re.compile(r"checkov:skip=([A-Z0-9_]+)(:?)(.*)")
    for path in INFRA.rglob("*.bicep"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = pattern.search(line)
            if match:
                where = f"{path.name}:{number}"
                assert line.lstrip().startswith("// checkov:skip="), f"{where}: use a // comment"
                assert match.group(2) == ":" and len(match.group(3).strip()) >= 20, (
                    f"{where}: {match.group(1)} needs a reason"
                )


def _deployable_copy(dest: Path) -> Path:
    """What azd would package (.funcignore applied), plus infra/ for the doctor's IaC checks."""
    dest.mkdir(parents=True)
    patterns = [p.rstrip("/") for p in (ROOT / ".funcignore").read_text().split() if p]
    for item in ROOT.iterdir():
        if any(fnmatch(item.name, p) for p in patterns):
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(item, dest / item.name)
    shutil.copy2(ROOT / ".funcignore", dest / ".funcignore")
    shutil.copytree(INFRA, dest / "infra")
    return dest


def test_azure_functions_doctor(tmp_path: Path) -> None:
    doctor = _tools_bin("azure-functions-doctor")
    app = _deployable_copy(tmp_path / "app")
    started = time.monotonic()
    result = subprocess.run(
        [
            str(doctor),
            "doctor",
            "--path",
            str(app),
            "--format",
            "json",
            "--profile",
            "full",
            "--hosting-plan",
            "flex-consumption",
            "--target-python",
            "3.11",
        ],
        capture_output=True,
        text=True,
        env=_offline_env(),
        timeout=300,
    )
    report = json.loads(result.stdout)
    items = [item for section in report["results"] for item in section["items"]]
    failed = [f"{i['rule_id']}: {i['value']}" for i in items if i["status"] == "fail"]
    assert not failed, "azure-functions-doctor:\n" + "\n".join(failed)
    assert sum(i["status"] == "pass" for i in items) >= 10, result.stdout[-2000:]
    warned = [i["rule_id"] for i in items if i["status"] == "warn"]
    elapsed = time.monotonic() - started
    print(f"azure-functions-doctor: {len(items)} checks, warnings {warned}, {elapsed:.1f}s")
