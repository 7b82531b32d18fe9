"""Load `local.settings.json` into the environment, as Core Tools does.

In Azure, app settings arrive as environment variables; locally Core Tools copies the `Values` of
`local.settings.json` into the worker's environment. devhost does the same so the app reads its
settings one way everywhere. Variables already set win, so `DATABASE_URL=... make dev` and the
test suite can override any value without editing the file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from devhost.services import REPO_ROOT

SETTINGS_FILE = "local.settings.json"
EXAMPLE_FILE = "local.settings.example.json"


def find_settings_file(root: Path = REPO_ROOT) -> Path | None:
    """`local.settings.json` if present, else the committed example (announced on stderr)."""
    own = root / SETTINGS_FILE
    if own.exists():
        return own
    example = root / EXAMPLE_FILE
    if example.exists():
        print(
            f"devhost: {SETTINGS_FILE} not found; using {EXAMPLE_FILE} "
            f"(copy it to {SETTINGS_FILE} to change settings locally)",
            file=sys.stderr,
        )
        return example
    print(f"devhost: neither {SETTINGS_FILE} nor {EXAMPLE_FILE} found in {root}", file=sys.stderr)
    return None


def read_values(path: Path) -> dict[str, str]:
    """The `Values` object as strings (Core Tools stringifies numbers and booleans too)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    values = data.get("Values", {}) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: 'Values' must be an object")
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def load_settings(root: Path = REPO_ROOT) -> Path | None:
    """Copy settings into os.environ, never overriding what is set; returns the file used."""
    path = find_settings_file(root)
    if path is None:
        return None
    for key, value in read_values(path).items():
        os.environ.setdefault(key, value)
    return path
