"""The azd postdeploy hook: the one owner of the Event Grid subscriptions, and its `az` commands.

No Azure CLI here: each `az` command in both hooks (sh and PowerShell) is read back into its
words and checked against the command groups and options of `az` that the hook may use (from
the Azure CLI reference), every `--query` must compile as JMESPath, and the sh hook must pass
`sh -n`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess

import jmespath
import pytest

from tests.infra.helpers import INFRA, ROOT, bicep

HOOKS = ("postdeploy.sh", "postdeploy.ps1")
# az command -> the options the hook may give it (each takes a value unless listed in FLAGS).
AZ_COMMANDS: dict[tuple[str, ...], set[str]] = {
    ("account", "show"): {"--output"},
    ("rest",): {"--method", "--url", "--query", "--output"},
    ("functionapp", "restart"): {"--resource-group", "--name", "--output"},
    ("deployment", "group", "create"): {
        "--subscription",
        "--resource-group",
        "--name",
        "--template-file",
        "--parameters",
        "--output",
    },
}
FLAGS: set[str] = set()  # options without a value (none used)
SHELL_END = {";", "do", "then", "|", "||", "&&", ")", "2>/dev/null", "2>$null"}


def _logical_lines(script: str) -> list[str]:
    text = (INFRA / "hooks" / script).read_text()
    joiner = "`\n" if script.endswith(".ps1") else "\\\n"
    return text.replace(joiner, " ").splitlines()


def az_commands(script: str) -> list[list[str]]:
    """The words of every `az` command in the hook, from `az` to the end of the command."""
    out = []
    for line in _logical_lines(script):
        if line.lstrip().startswith("#"):
            continue
        for match in re.finditer(r"(?:^|[\s($])az\s", line):
            words = shlex.split(line[match.end() - 3 :], posix=True)
            assert words[0] == "az", line
            command = []
            for word in words[1:]:
                if word in SHELL_END or word.startswith("2>"):
                    break
                command.append(word.rstrip(");"))
                if word != command[-1]:  # `...)` or `...;` ended the command
                    break
            out.append(command)
    return out


@pytest.mark.parametrize("script", HOOKS)
def test_az_commands_parse(script: str) -> None:
    commands = az_commands(script)
    assert len(commands) >= 4, commands
    for words in commands:
        path = tuple(itertools.takewhile(lambda w: not w.startswith("-"), words))
        known = next((c for c in AZ_COMMANDS if path[: len(c)] == c), None)
        assert known and len(path) == len(known), f"{script}: unknown az command {words}"
        rest = words[len(known) :]
        i = 0
        while i < len(rest):
            option = rest[i]
            assert option.startswith("--"), f"{script}: stray word {option!r} in {words}"
            assert option in AZ_COMMANDS[known], f"{script}: az {' '.join(known)} {option}?"
            if option in FLAGS:
                i += 1
                continue
            values = []
            i += 1
            while i < len(rest) and not rest[i].startswith("--"):
                values.append(rest[i])
                i += 1
            assert values, f"{script}: {option} needs a value in {words}"
            if option == "--query":
                jmespath.compile(values[0])  # raises on a malformed query
            if option == "--parameters":
                assert all(re.fullmatch(r"\w+=\S+", v) for v in values), values
            if option == "--output":
                assert values == ["none"] or values == ["tsv"], values


def test_the_hook_owns_the_event_subscriptions() -> None:
    """Subscriptions exist only once the code does: the hook deploys them, provision never."""
    modules = bicep("resources.bicep").get("modules") or {}
    assert not modules, "no event-subscriptions module in provision"
    assert "deployEventSubscriptions" not in bicep("main.bicep")["parameters"]
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert "deployEventSubscriptions" not in params

    azure_yaml = (ROOT / "azure.yaml").read_text()
    assert re.search(r"^hooks:\n  postdeploy:\n", azure_yaml, re.M)
    assert "run: ./infra/hooks/postdeploy.sh" in azure_yaml
    assert "run: ./infra/hooks/postdeploy.ps1" in azure_yaml
    required = {
        k
        for k, v in bicep("event-subscriptions.bicep")["parameters"].items()
        if v.get("default") is None
    }
    outputs = set(bicep("main.bicep")["outputs"]) | {"AZURE_SUBSCRIPTION_ID"}
    for script in HOOKS:
        text = (INFRA / "hooks" / script).read_text()
        assert "--template-file infra/event-subscriptions.bicep" in text, script
        assert "DEPLOY_EVENT_SUBSCRIPTIONS" not in text, f"{script}: provision must not own them"
        for name in required:
            assert f"{name}=" in text, f"{script} does not pass {name}"
        env_ref = (
            r"\$env:([A-Z][A-Z0-9_]+)" if script.endswith(".ps1") else r"\$\{?([A-Z][A-Z0-9_]+)"
        )
        used = set(re.findall(env_ref, text))
        assert used <= outputs, f"{script} reads {used - outputs}, which azd does not set"
        # A retry window of about ten minutes, shared by both steps.
        window = re.search(r"(?:window_seconds=|\$windowSeconds = )(\d+)", text)
        assert window and 540 <= int(window.group(1)) <= 900, script
        # Key Vault references checked before the subscriptions, and a restart when unresolved.
        references = text.index("config/configreferences/appsettings")
        assert references < text.index("--template-file infra/event-subscriptions.bicep")
        assert "properties.status!='Resolved'" in text, script
        assert "az functionapp restart" in text, script
    assert os.access(INFRA / "hooks" / "postdeploy.sh", os.X_OK)
    subprocess.run(["sh", "-n", str(INFRA / "hooks" / "postdeploy.sh")], check=True)


def test_the_hooks_run_the_same_commands() -> None:
    """The Windows hook does what the sh hook does (no PowerShell here to run it)."""
    shapes = {
        script: [
            tuple(w for w in words if w.startswith("--") or w.isalpha())
            for words in az_commands(script)
        ]
        for script in HOOKS
    }
    assert shapes["postdeploy.sh"] == shapes["postdeploy.ps1"]
