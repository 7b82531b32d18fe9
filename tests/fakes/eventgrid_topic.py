"""A local server speaking the Event Grid topic publish API for CloudEvents.

`EventGridPublisherClient` posts a JSON array with content type
`application/cloudevents-batch+json` and the key in `aeg-sas-key`; Event Grid answers 200.
`down = True` makes it answer 503, as an outage would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeEventGridTopic:
    key: str
    received: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    requests: int = 0
    _runner: web.AppRunner | None = None
    endpoint: str = ""

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e["type"] == event_type]

    def reset(self) -> None:
        self.received.clear()
        self.down, self.requests = False, 0

    async def _publish(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.down:
            return web.json_response({"error": {"code": "ServiceUnavailable"}}, status=503)
        if request.headers.get("aeg-sas-key") != self.key:
            return web.json_response({"error": {"code": "Unauthorized"}}, status=401)
        if not request.content_type.startswith("application/cloudevents-batch+json"):
            return web.json_response({"error": {"code": "BadContentType"}}, status=400)
        batch = json.loads(await request.read())
        for event in batch:
            for required in ("id", "source", "type", "specversion"):
                if required not in event:
                    return web.json_response({"error": {"code": "BadRequest"}}, status=400)
        self.received.extend(batch)
        return web.Response(status=200)

    async def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_post("/api/events", self._publish)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.endpoint = f"http://127.0.0.1:{port}/api/events"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
