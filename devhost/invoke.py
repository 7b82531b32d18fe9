"""Call a user function the way the Python worker does.

The worker passes the trigger value under the binding's argument name, a `context` if the function
asks for one, and a `func.Out` per output binding; async functions run on the worker's event loop,
sync ones in a thread pool. Output values are delivered only after the function returns without
error (a failed invocation writes nothing), which is the host's behaviour for queue outputs too.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import uuid
from typing import Any

import azure.functions as func

from devhost import storage
from devhost.catalog import FunctionSpec, resolve_setting_refs


class LocalContext(func.Context):
    """Minimal `func.Context`: enough for logging and idempotency keys in user code."""

    def __init__(self, function_name: str, function_directory: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._thread_local_storage = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def thread_local_storage(self) -> Any:
        return self._thread_local_storage

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


class LocalOut(func.Out[Any]):
    """`func.Out` for an output binding: the function sets a value, we deliver it afterwards."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


async def _deliver_output(spec: FunctionSpec, binding: dict[str, Any], value: Any) -> None:
    if value is None:
        return
    if binding.get("type") == "queue":
        queue_name = resolve_setting_refs(str(binding.get("queueName", "")))
        values = value if isinstance(value, list) else [value]
        await storage.send_messages(binding.get("connection"), queue_name, values)


async def invoke(spec: FunctionSpec, trigger_value: Any, function_directory: str = ".") -> Any:
    """Run one invocation and return the function's result (exceptions propagate to the caller)."""
    kwargs: dict[str, Any] = {spec.arg_name: trigger_value}
    if spec.wants_context:
        kwargs["context"] = LocalContext(spec.name, function_directory)
    outs: dict[str, tuple[dict[str, Any], LocalOut]] = {}
    for binding in spec.outputs:
        name = binding.get("name", "")
        if name and name != "$return" and binding.get("type") != "http":
            out = LocalOut()
            outs[name] = (binding, out)
            kwargs[name] = out

    if spec.is_async:
        result = await spec.user_function(**kwargs)
    else:
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, spec.user_function, **kwargs)
        result = await loop.run_in_executor(None, call)

    for binding, out in outs.values():
        await _deliver_output(spec, binding, out.get())
    for binding in spec.outputs:
        if binding.get("name") == "$return" and binding.get("type") == "queue":
            await _deliver_output(spec, binding, result)
    return result
