"""What the app registers, read the way the Azure Python worker reads it.

The worker imports `function_app`, calls `app.get_functions()` exactly once (a second call raises
`ValueError`) and indexes each function by its trigger binding. We do the same and reduce every
function to a `FunctionSpec`: plain data the trigger servers use, with `%SETTING%` references
resolved from the environment like the host resolves them from app settings.
"""

from __future__ import annotations

import enum
import inspect
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger("devhost")

HTTP = "httpTrigger"
QUEUE = "queueTrigger"
TIMER = "timerTrigger"
EVENT_GRID = "eventGridTrigger"
SUPPORTED_TRIGGERS = {HTTP, QUEUE, TIMER, EVENT_GRID}
# Output bindings we can honour locally; others are reported at startup.
SUPPORTED_OUTPUTS = {"http", "queue"}

_SETTING_REF = re.compile(r"%([^%]+)%")


def _plain(value: Any) -> Any:
    """Binding dicts hold enums (AuthLevel, HttpMethod, ...); keep their string values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def resolve_setting_refs(value: str) -> str:
    """`%OUTBOX_SCHEDULE%` -> the value of that app setting, as the host does for binding fields."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise KeyError(f"binding refers to app setting %{name}% which is not set")
        return os.environ[name]

    return _SETTING_REF.sub(lookup, value)


@dataclass
class FunctionSpec:
    """One registered function: its trigger, its other bindings and the Python callable."""

    name: str
    trigger_type: str
    arg_name: str
    trigger: dict[str, Any]
    user_function: Callable[..., Any]
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)

    @property
    def wants_context(self) -> bool:
        return "context" in inspect.signature(self.user_function).parameters

    def setting(self, key: str, default: str | None = None) -> str | None:
        """A trigger field with %SETTING% references resolved."""
        raw = self.trigger.get(key, default)
        return resolve_setting_refs(raw) if isinstance(raw, str) else raw


_functions_cache: dict[int, tuple[Any, list[Any]]] = {}


def get_functions_once(app: Any) -> list[Any]:
    """`app.get_functions()`, cached per app object, because a second call raises ValueError."""
    cached = _functions_cache.get(id(app))
    if cached is None or cached[0] is not app:
        cached = (app, app.get_functions())
        _functions_cache[id(app)] = cached
    return cached[1]


def find_app(module: ModuleType) -> Any:
    """The module's FunctionApp: `app` by convention, else the only FunctionApp instance in it."""
    import azure.functions as func

    app = getattr(module, "app", None)
    if isinstance(app, func.FunctionApp):
        return app
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionApp)]
    if len(apps) != 1:
        raise LookupError(
            f"{module.__name__} must define exactly one FunctionApp (found {len(apps)})"
        )
    return apps[0]


def load_catalog(module: ModuleType) -> list[FunctionSpec]:
    """Every function the app registers; unsupported triggers are skipped loudly."""
    specs: list[FunctionSpec] = []
    for fn in get_functions_once(find_app(module)):
        name = fn.get_function_name()
        trigger = _plain(fn.get_trigger().get_dict_repr())
        ttype = trigger.get("type", "")
        if ttype not in SUPPORTED_TRIGGERS:
            log.warning("function %s: trigger %r is not served by devhost; skipped", name, ttype)
            continue
        outputs = [
            _plain(b.get_dict_repr())
            for b in fn.get_bindings()
            if _plain(b.get_dict_repr()).get("direction") == 1  # BindingDirection.OUT
        ]
        for out in outputs:
            if out.get("type") not in SUPPORTED_OUTPUTS:
                log.warning(
                    "function %s: output binding %r is not supported locally", name, out.get("type")
                )
        specs.append(
            FunctionSpec(
                name=name,
                trigger_type=ttype,
                arg_name=trigger.get("name", ""),
                trigger=trigger,
                user_function=fn.get_user_function(),
                outputs=outputs,
            )
        )
    return specs


def read_host_json(app_dir: Path) -> dict[str, Any]:
    """host.json next to function_app.py (empty if absent: every setting has a host default)."""
    path = app_dir / "host.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def parse_timespan(value: Any, default: float) -> float:
    """host.json durations: "hh:mm:ss[.fff]" / "d.hh:mm:ss" strings, or milliseconds as numbers."""
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value) / 1000.0
    text = str(value).strip()
    days = 0
    if "." in text.split(":")[0]:
        day_part, text = text.split(".", 1)
        days = int(day_part)
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"not a timespan: {value!r}")
    hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
    return days * 86400 + hours * 3600 + minutes * 60 + seconds
