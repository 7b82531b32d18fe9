"""Event Grid: the host's webhook endpoint for Event Grid triggers, and a local topic.

Webhook (`POST /runtime/webhooks/EventGrid?functionName=NAME`) behaves like the Functions host:
`aeg-event-type` is required (400 without it), `SubscriptionValidation` is answered with the
validation code, notifications are decoded exactly as the Python worker decodes them
(`EventGridEventInConverter`: a `func.CloudEvent` for CloudEvents 1.0, `func.EventGridEvent` for
the Event Grid schema) and the function is called once per event; 202 on success, 500 if it raised
so the sender retries.

Local topic (`POST /runtime/topic/api/events`) stands in for an Event Grid topic so
`EventGridPublisherClient` works unchanged: it checks `aeg-sas-key`, answers 200 (the client treats
202 as an error) and delivers each event in the background to every function subscribed to its
type, through the same dispatch as the webhook, retrying with backoff like Event Grid and logging
a dead-letter line when it gives up.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum

from devhost.catalog import FunctionSpec
from devhost.invoke import invoke

log = logging.getLogger("devhost.eventgrid")

WEBHOOK_PATH = "/runtime/webhooks/EventGrid"
TOPIC_PATH = "/runtime/topic/api/events"
DEFAULT_RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


def to_binding(event: dict[str, Any]) -> Any:
    """The object the Python worker hands an Event Grid-triggered function for one event."""
    return EventGridEventInConverter.decode(
        Datum(type="json", value=json.dumps(event)), trigger_metadata=None
    )


def event_type(event: dict[str, Any]) -> str:
    """CloudEvents carry `type`; the Event Grid schema carries `eventType`."""
    return str(event.get("type") or event.get("eventType") or "")


def parse_events(payload: Any) -> list[dict[str, Any]]:
    """An Event Grid schema array, a single CloudEvent, or a CloudEvents batch -> list of events."""
    events = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(e, dict) for e in events):
        raise ValueError("events must be JSON objects")
    return events


class EventGridDispatcher:
    """Delivers events to Event Grid-triggered functions; shared by the webhook and the topic."""

    def __init__(
        self,
        specs: Sequence[FunctionSpec],
        subscriptions: dict[str, list[str]],
        topic_key: str,
        function_directory: str,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        self.functions = {s.name: s for s in specs}
        self.subscriptions = subscriptions
        self.topic_key = topic_key
        self.function_directory = function_directory
        self.retry_delays = tuple(retry_delays)
        self.dead_letters: list[tuple[str, dict[str, Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def check_subscriptions(self) -> list[str]:
        """Startup warnings: subscriptions naming unknown functions, functions nobody feeds."""
        warnings = []
        for name in self.subscriptions:
            if name not in self.functions:
                warnings.append(
                    f"event subscription for {name!r}, but the app has no such Event Grid function"
                )
        for name in self.functions:
            if not self.subscriptions.get(name):
                warnings.append(
                    f"Event Grid function {name!r} has no subscription: no event will reach it"
                )
        for warning in warnings:
            log.warning(warning)
        return warnings

    async def deliver(self, function_name: str, events: list[dict[str, Any]]) -> None:
        """Invoke the function once per event; raises if any invocation raised."""
        spec = self.functions[function_name]
        for event in events:
            await invoke(spec, to_binding(event), self.function_directory)

    # --- webhook ----------------------------------------------------------------------------------

    async def handle_webhook(self, request: web.Request) -> web.StreamResponse:
        name = request.query.get("functionName", "")
        spec = next((s for n, s in self.functions.items() if n.lower() == name.lower()), None)
        if spec is None:
            return web.json_response(
                {"error": f"no Event Grid function named {name!r}"}, status=404
            )
        kind = request.headers.get("aeg-event-type", "")
        if not kind:
            return web.json_response({"error": "missing aeg-event-type header"}, status=400)
        try:
            events = parse_events(await request.json())
        except ValueError as exc:
            return web.json_response({"error": f"invalid body: {exc}"}, status=400)
        if kind == "SubscriptionValidation":
            code = (events[0].get("data") or {}).get("validationCode", "")
            return web.json_response({"validationResponse": code})
        if kind == "Unsubscribe":
            return web.Response(status=202)
        if kind != "Notification":
            return web.json_response({"error": f"unknown aeg-event-type {kind!r}"}, status=400)
        try:
            await self.deliver(spec.name, events)
        except Exception:
            log.exception("Event Grid function %s failed", spec.name)
            return web.Response(status=500)
        return web.Response(status=202)

    async def handle_webhook_options(self, request: web.Request) -> web.StreamResponse:
        """CloudEvents abuse-protection handshake (the validation used for CloudEvents schema)."""
        origin = request.headers.get("WebHook-Request-Origin", "*")
        return web.Response(status=200, headers={"WebHook-Allowed-Origin": origin})

    # --- local topic ------------------------------------------------------------------------------

    async def handle_topic(self, request: web.Request) -> web.StreamResponse:
        given = request.headers.get("aeg-sas-key", "")
        if not self.topic_key or not hmac.compare_digest(given.encode(), self.topic_key.encode()):
            return web.json_response(
                {"error": {"code": "Unauthorized", "message": "aeg-sas-key missing or wrong"}},
                status=401,
            )
        try:
            events = parse_events(await request.json())
        except ValueError as exc:
            return web.json_response(
                {"error": {"code": "BadRequest", "message": str(exc)}}, status=400
            )
        self.publish(events)
        return web.Response(status=200)

    def publish(self, events: list[dict[str, Any]]) -> int:
        """Fan events out to subscribers in the background; returns the number of deliveries."""
        count = 0
        for event in events:
            etype = event_type(event)
            targets = [
                n
                for n, types in self.subscriptions.items()
                if etype in types and n in self.functions
            ]
            if not targets:
                log.info("event %s (%s) has no subscriber", event.get("id"), etype)
            for name in targets:
                task = asyncio.create_task(self._deliver_with_retries(name, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                count += 1
        return count

    async def _deliver_with_retries(self, name: str, event: dict[str, Any]) -> None:
        attempts = len(self.retry_delays) + 1
        for attempt in range(1, attempts + 1):
            try:
                await self.deliver(name, [event])
                return
            except Exception:
                log.exception(
                    "delivery of event %s (%s) to %s failed (attempt %d of %d)",
                    event.get("id"), event_type(event), name, attempt, attempts,
                )  # fmt: skip
            if attempt < attempts:
                await asyncio.sleep(self.retry_delays[attempt - 1])
        self.dead_letters.append((name, event))
        log.error(
            "DEAD-LETTER event %s (%s) for %s: %s",
            event.get("id"),
            event_type(event),
            name,
            json.dumps(event),
        )

    async def drain(self, limit: float | None = None) -> None:
        """Wait until every background delivery has finished (tests use this)."""
        if self._tasks:
            await asyncio.wait_for(
                asyncio.gather(*list(self._tasks), return_exceptions=True), limit
            )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
