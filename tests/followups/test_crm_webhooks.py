"""Outbound CRM webhooks against a local receiver: Standard Webhooks signatures checked by an
independent verifier, retries with backoff until the receiver recovers, the delivery log in the
API, replays under the same webhook-id, the endpoint disabled (and the owner told) after its
retry window, event-type filters, tenancy, and the SSRF refusals in Azure."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest
from aiohttp import web

from devhost.services import free_port
from shared_code import contracts
from shared_code.crm_webhooks import deliveries
from shared_code.crm_webhooks.retry import RetryPolicy
from shared_code.platform.db import get_pool
from tests.api.helpers import assert_error
from tests.followups.helpers import missed_call
from tests.helpers import create_business, deliver_events, post

OWNER = "+14155550100"
SHORT = RetryPolicy(
    delays=(timedelta(milliseconds=50), timedelta(milliseconds=100), timedelta(milliseconds=200)),
    window=timedelta(seconds=1),
    timeout_seconds=2,
)


@dataclass
class Receiver:
    """A CRM's webhook URL: answers `fail_first` requests with 500, then 200."""

    fail_first: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append({"headers": dict(request.headers), "body": await request.read()})
        return web.Response(status=500 if len(self.received) <= self.fail_first else 200)


@pytest.fixture
async def receiver():
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hook.url = f"http://127.0.0.1:{port}/hook"
    yield hook
    await runner.cleanup()


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> dict:
    """A receiver's verification, written from the Standard Webhooks spec (not our code)."""
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(time.time() - int(stamp)) < tolerance, "stale timestamp"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.digest(key, f"{msg_id}.{stamp}.".encode() + body, "sha256")
    ).decode()
    offered = [
        s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")
    ]
    assert any(hmac.compare_digest(expected, s) for s in offered), "bad signature"
    return json.loads(body)


def api(method: str, path: str, key: str, body: Any = None, **route: str) -> func.HttpRequest:
    return func.HttpRequest(
        method, f"http://localhost/api/{path}", headers={"Authorization": f"Bearer {key}"},
        route_params=route, body=b"" if body is None else json.dumps(body).encode(),
    )  # fmt: skip


async def call(name: str, req: func.HttpRequest) -> tuple[int, dict]:
    response = await post(name, req)
    return response.status_code, json.loads(response.get_body())


async def add_endpoint(key: str, url: str, **extra: Any) -> dict:
    status, body = await call(
        "webhook_endpoints", api("POST", "v1/webhooks", key, {"url": url, **extra})
    )
    assert status == 201, body
    return body["webhook"]


async def settle(policy: RetryPolicy = SHORT, rounds: int = 60) -> None:
    """Run the delivery timer until nothing is pending (short backoff: a second or two)."""
    pool = await get_pool()
    for _ in range(rounds):
        await deliveries.deliver_due(policy)
        if not await pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("deliveries still pending")


async def test_a_delivery_is_signed_retried_until_the_receiver_recovers_and_logged(stack, receiver):
    business, key = await create_business()
    receiver.fail_first = 2
    endpoint = await add_endpoint(key, receiver.url, description="Jobber")
    assert endpoint["secret"].startswith("whsec_")
    await missed_call(business)
    missed = stack.topic.of_type(contracts.CallMissed.type)
    await deliver_events("crm_webhooks", missed, times=3)  # at least once: one delivery
    pool = await get_pool()
    await pool.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")
    await settle()

    assert len(receiver.received) == 3
    ids = {r["headers"]["webhook-id"] for r in receiver.received}
    assert ids == {missed[0]["id"]}, "one stable webhook-id across retries"
    for got in receiver.received:
        payload = verify(endpoint["secret"], got["headers"], got["body"])
        assert payload["type"] == "call.missed"
        assert payload["data"]["caller"] == "+13125550123"
    tampered = dict(receiver.received[0]["headers"])
    with pytest.raises(AssertionError):
        verify(endpoint["secret"], tampered, receiver.received[0]["body"] + b" ")

    status, body = await call(
        "webhook_deliveries", api("GET", "x", key, endpoint_id=endpoint["id"])
    )
    assert status == 200
    (delivery,) = body["deliveries"]
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 3
    assert [a["status_code"] for a in delivery["log"]] == [500, 500, 200]
    assert delivery["webhook_id"] == missed[0]["id"]

    status, body = await call(
        "replay_webhook_delivery",
        api("POST", "x", key, endpoint_id=endpoint["id"], delivery_id=str(delivery["id"])),
    )
    assert status == 200 and body["delivery"]["status"] == "succeeded"
    assert receiver.received[-1]["headers"]["webhook-id"] == missed[0]["id"]
    assert receiver.received[-1]["body"] == receiver.received[0]["body"]


async def test_past_the_retry_window_the_endpoint_is_disabled_and_the_owner_told(stack, receiver):
    business, key = await create_business()
    receiver.fail_first = 10_000
    endpoint = await add_endpoint(key, receiver.url, event_types=["call.missed"])
    await missed_call(business)
    await deliver_events("crm_webhooks", stack.topic.of_type(contracts.CallMissed.type))
    pool = await get_pool()
    await pool.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")
    await asyncio.sleep(0.2)
    await settle()

    row = await pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert row["status"] == "failed" and row["attempts"] >= 3
    status, body = await call("webhook_endpoint", api("GET", "x", key, endpoint_id=endpoint["id"]))
    assert body["webhook"]["enabled"] is False and "24 h" in body["webhook"]["disabled_reason"]
    notes = [m["Body"] for m in stack.twilio.to(OWNER) if "webhook" in m["Body"]]
    assert len(notes) == 1 and receiver.url[:40] in notes[0]

    # Disabled: a new event makes no delivery; turned back on, the next one does.
    stack.topic.reset()
    await missed_call(business, "+13125550199")
    await deliver_events("crm_webhooks", stack.topic.of_type(contracts.CallMissed.type))
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 1
    status, body = await call(
        "webhook_endpoint", api("PATCH", "x", key, {"enabled": True}, endpoint_id=endpoint["id"])
    )
    assert status == 200 and body["webhook"]["enabled"] and body["webhook"]["disabled_at"] is None


async def test_endpoints_filter_event_types_and_belong_to_one_business(stack, receiver):
    business, key = await create_business()
    _other, other_key = await create_business(name="Bravo", phone_number="+13125550177")
    endpoint = await add_endpoint(key, receiver.url, event_types=["lead.qualified"])
    await missed_call(business)
    await deliver_events("crm_webhooks", stack.topic.of_type(contracts.CallMissed.type))
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
    for name, method in (("webhook_endpoint", "GET"), ("webhook_endpoint", "DELETE"),
                         ("webhook_deliveries", "GET")):  # fmt: skip
        status, body = await call(name, api(method, "x", other_key, endpoint_id=endpoint["id"]))
        assert_error(status, body, 404, "not_found")
    status, body = await call("webhook_endpoints", api("GET", "v1/webhooks", other_key))
    assert body == {"webhooks": []}
    status, body = await call("webhook_endpoints", api("GET", "v1/webhooks", key))
    assert [w["id"] for w in body["webhooks"]] == [endpoint["id"]] and "secret" not in body[
        "webhooks"
    ][0]
    status, body = await call(
        "webhook_endpoints",
        api("POST", "v1/webhooks", key, {"url": receiver.url, "event_types": ["sms.sent"]}),
    )
    assert_error(status, body, 422, "validation_failed")


@pytest.mark.parametrize(
    "url",
    ["http://crm.example.com/hook", "https://127.0.0.1/hook", "https://10.0.0.7/hook",
     "https://169.254.169.254/latest", "https://localhost/hook", "https://[::1]/hook"],
)  # fmt: skip
async def test_ssrf_refused_in_azure(stack, monkeypatch, url):
    _business, key = await create_business()
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "test-instance")
    status, body = await call("webhook_endpoints", api("POST", "v1/webhooks", key, {"url": url}))
    assert_error(status, body, 422, "target_refused")


async def test_a_loopback_endpoint_saved_locally_is_refused_at_delivery_in_azure(
    stack, receiver, monkeypatch
):
    business, key = await create_business()
    await add_endpoint(key, receiver.url)
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "test-instance")
    await missed_call(business)
    await deliver_events("crm_webhooks", stack.topic.of_type(contracts.CallMissed.type))
    assert receiver.received == []
    pool = await get_pool()
    error = await pool.fetchval("SELECT error FROM webhook_delivery_attempts")
    assert error.startswith("refused:")
