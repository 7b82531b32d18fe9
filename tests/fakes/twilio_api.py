"""A local server speaking Twilio's Messages API (the parts the `twilio` client uses).

It checks HTTP basic auth like Twilio, records every created message, answers in Twilio's JSON
shape, and can be told to fail the next N requests or to answer slowly.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500
    fail_code: int = 20500
    delay_seconds: float = 0.0
    _runner: web.AppRunner | None = None
    url: str = ""

    def to(self, number: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["To"] == number]

    def reset(self) -> None:
        self.sent.clear()
        self.fail_next, self.delay_seconds = 0, 0.0

    async def _create_message(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        if request.match_info["account"] != self.account_sid:
            return web.json_response({"code": 20404, "message": "Not found"}, status=404)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.json_response(
                {"code": self.fail_code, "message": "injected failure", "status": self.fail_status},
                status=self.fail_status,
            )
        form = dict(await request.post())
        sid = "SM" + secrets.token_hex(16)
        record = {"sid": sid, "at": time.time(), **{k: str(v) for k, v in form.items()}}
        self.sent.append(record)
        return web.json_response(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": record.get("To"),
                "from": record.get("From"),
                "body": record.get("Body"),
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
            status=201,
        )

    async def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create_message)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
