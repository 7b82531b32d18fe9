"""The local function host: one aiohttp server that serves every trigger of `function_app`.

This is the piece that replaces Core Tools. It reads the app once (`catalog`), then wires each
trigger type to its server: HTTP routes, queue pollers, timers, the Event Grid webhook and local
topic, plus local conveniences (`GET /` index, `GET /sandbox/messages`, `GET /sandbox/transcript`,
and `devhost.sandbox_twilio`'s Recordings API for voicemails). Everything runs on one
event loop, the way the Python worker runs async functions, so the app's asyncpg pool and Redis
client behave as in Azure.

Tests use `start_host(module, port, ...)` to run it in-process against their own services;
`devhost.stack` adds the embedded services and migrations for `make dev`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web

from devhost import catalog
from devhost.catalog import FunctionSpec
from devhost.eventgrid import TOPIC_PATH, WEBHOOK_PATH, EventGridDispatcher
from devhost.http_triggers import add_http_routes
from devhost.queue_triggers import QueueOptions, QueuePoller
from devhost.sandbox_twilio import add_routes as add_sandbox_twilio_routes
from devhost.services import REPO_ROOT
from devhost.timer_triggers import TimerRunner

log = logging.getLogger("devhost")

SandboxReader = Callable[[int], "Awaitable[list[dict[str, Any]]] | list[dict[str, Any]]"]


def import_function_app(root: Path = REPO_ROOT, module_name: str = "function_app") -> ModuleType:
    """Import the app from the repo root, exactly one module, as the worker does."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(module_name)


def app_directory(app_module: ModuleType) -> Path:
    """Where function_app.py lives: host.json is read from there, as the host does."""
    return Path(app_module.__file__ or ".").resolve().parent


def default_subscriptions() -> dict[str, list[str]]:
    """The project's single declaration of which event types reach which function."""
    from shared_code.platform.subscriptions import load_subscriptions

    return load_subscriptions()


async def default_sandbox_reader(after_id: int) -> list[dict[str, Any]]:
    """Texts the app stored instead of sending (no Twilio account configured)."""
    from shared_code.platform.sms_sandbox import list_messages

    result: Any = list_messages(after_id)
    if inspect.isawaitable(result):
        result = await result
    return list(result)


TRANSCRIPT_CONVERSATIONS_MAX = 20


async def read_transcript(phone: str, limit: int = 1) -> list[dict[str, Any]]:
    """The latest `limit` conversations with `phone` (newest first), each with its messages in
    the order they happened. A local view for newcomers; the owner API is the product's.
    The query is the app's (messaging owns those tables); imported on first use, as the app
    itself is loaded only by `import_function_app`."""
    from shared_code.messaging import inbox

    return await inbox.transcript(phone, limit)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


@dataclass
class Runner:
    """A running host: its URL, the pieces tests look at, and `stop()`."""

    url: str
    specs: list[FunctionSpec]
    dispatcher: EventGridDispatcher
    pollers: list[QueuePoller]
    timers: list[TimerRunner]
    routes: list[str]
    _runner: web.AppRunner = field(repr=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.dispatcher.close()
        await self._runner.cleanup()


def _by_type(specs: list[FunctionSpec], trigger_type: str) -> list[FunctionSpec]:
    return [s for s in specs if s.trigger_type == trigger_type]


def build_index(
    routes: list[str], specs: list[FunctionSpec], url: str, extra: list[str] | None = None
) -> str:
    lines = ["NeverMiss local function host (devhost)", "", f"Functions loaded: {len(specs)}"]
    lines += [f"  {s.name:<28} {s.trigger_type}" for s in specs]
    lines += ["", "HTTP routes:"] + [f"  {r}" for r in routes]
    lines += [
        "",
        "Host endpoints:",
        f"  POST {WEBHOOK_PATH}?functionName=NAME   (header aeg-event-type: Notification)",
        f"  POST {TOPIC_PATH}   (local Event Grid topic; header aeg-sas-key)",
        "  GET  /sandbox/messages?after=ID          (texts the app 'sent' without Twilio)",
        "  GET  /sandbox/transcript?phone=E164      (a customer's latest conversation, in order)",
        *(extra or []),
        "",
        f"Simulate a missed call: python -m devhost simulate call --host {url}",
        f"  with a voicemail: ... simulate call --leave-voicemail 'my sink leaks' --host {url}",
    ]
    return "\n".join(lines) + "\n"


async def start_host(
    app_module: ModuleType,
    port: int,
    *,
    host: str = "127.0.0.1",
    subscriptions: dict[str, list[str]] | None = None,
    topic_key: str | None = None,
    sandbox_reader: SandboxReader | None = None,
    host_json: dict[str, Any] | None = None,
    event_retry_delays: tuple[float, ...] | None = None,
    run_timers: bool = True,
    run_queues: bool = True,
) -> Runner:
    """Serve every trigger of `app_module` on host:port; returns once it is listening.

    `subscriptions`, `topic_key` and `sandbox_reader` default to the project's own
    (`shared_code.platform.subscriptions`, env `EVENTGRID_TOPIC_KEY`,
    `shared_code.platform.sms_sandbox`).
    """
    app_dir = app_directory(app_module)
    function_directory = str(app_dir)
    host_json = catalog.read_host_json(app_dir) if host_json is None else host_json
    specs = catalog.load_catalog(app_module)

    if subscriptions is None:
        subscriptions = default_subscriptions()
    dispatcher_kwargs: dict[str, Any] = {}
    if event_retry_delays is not None:
        dispatcher_kwargs["retry_delays"] = event_retry_delays
    dispatcher = EventGridDispatcher(
        _by_type(specs, catalog.EVENT_GRID),
        subscriptions,
        os.environ.get("EVENTGRID_TOPIC_KEY", "") if topic_key is None else topic_key,
        function_directory,
        **dispatcher_kwargs,
    )
    dispatcher.check_subscriptions()
    reader = sandbox_reader or default_sandbox_reader

    web_app = web.Application(client_max_size=100 * 1024 * 1024)
    route_prefix = str(
        ((host_json.get("extensions") or {}).get("http") or {}).get("routePrefix", "api")
    )
    routes = add_http_routes(
        web_app.router, _by_type(specs, catalog.HTTP), route_prefix, function_directory
    )
    web_app.router.add_post(WEBHOOK_PATH, dispatcher.handle_webhook)
    web_app.router.add_route("OPTIONS", WEBHOOK_PATH, dispatcher.handle_webhook_options)
    web_app.router.add_post(TOPIC_PATH, dispatcher.handle_topic)

    sandbox_twilio = add_sandbox_twilio_routes(web_app)
    url = f"http://{host}:{port}"
    index_text = build_index(routes, specs, url, sandbox_twilio)

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=index_text)

    async def sandbox(request: web.Request) -> web.Response:
        try:
            after = int(request.query.get("after", "0") or 0)
        except ValueError:
            return web.json_response({"error": "after must be an integer"}, status=400)
        try:
            result: Any = reader(after)
            rows = await result if inspect.isawaitable(result) else result
        except Exception as exc:
            log.exception("reading the SMS sandbox failed")
            return web.json_response({"error": f"sandbox unavailable: {exc}"}, status=503)
        body = json.dumps(list(rows), default=_json_default)
        return web.Response(text=body, content_type="application/json")

    async def transcript(request: web.Request) -> web.Response:
        from shared_code.platform.phones import try_e164

        raw = request.query.get("phone", "").strip()
        # An unencoded "+" in a query string arrives as a space: accept "?phone=+1415..." too.
        phone = try_e164(raw) or try_e164("+" + raw)
        if phone is None:
            return web.json_response({"error": "phone must be a phone number (E.164)"}, status=400)
        try:
            limit = int(request.query.get("limit", "1") or 1)
        except ValueError:
            return web.json_response({"error": "limit must be an integer"}, status=400)
        limit = max(1, min(limit, TRANSCRIPT_CONVERSATIONS_MAX))
        try:
            conversations = await read_transcript(phone, limit)
        except Exception as exc:
            log.exception("reading the transcript failed")
            return web.json_response({"error": f"database unavailable: {exc}"}, status=503)
        body = json.dumps({"phone": phone, "conversations": conversations}, default=_json_default)
        return web.Response(text=body, content_type="application/json")

    web_app.router.add_get("/", index)

    async def web_inbox(_: web.Request) -> web.Response:
        # The inbox is the app's HTTP function at /<routePrefix>/app; /app is a local shortcut.
        raise web.HTTPFound(f"/{route_prefix.strip('/')}/app".replace("//", "/"))

    web_app.router.add_get("/app", web_inbox)
    web_app.router.add_get("/sandbox/messages", sandbox)
    web_app.router.add_get("/sandbox/transcript", transcript)

    queue_options = QueueOptions.from_host_json(host_json)
    pollers = [
        QueuePoller(s, queue_options, function_directory) for s in _by_type(specs, catalog.QUEUE)
    ]
    timers = [TimerRunner(s, function_directory) for s in _by_type(specs, catalog.TIMER)]

    runner = web.AppRunner(web_app, access_log=logging.getLogger("devhost.access"))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()

    tasks: list[asyncio.Task[None]] = []
    if run_queues:
        tasks += [asyncio.create_task(p.loop(), name=f"queue:{p.spec.name}") for p in pollers]
    if run_timers:
        tasks += [asyncio.create_task(t.loop(), name=f"timer:{t.spec.name}") for t in timers]
    for task in tasks:
        task.add_done_callback(_report_crash)
    log.info("devhost listening on %s with %d function(s)", url, len(specs))
    return Runner(url, specs, dispatcher, pollers, timers, routes, runner, tasks)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped: %r", task.get_name(), task.exception(), exc_info=task.exception())
