"""Outbound CRM webhooks against a local receiver: Standard Webhooks signatures checked by an
independent verifier, retries with backoff until the receiver recovers, the delivery log in the
API, replays under the same webhook-id, the endpoint disabled (and the owner told) after its
retry window, event-type filters, tenancy, and the SSRF refusals in Azure."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
import azure.functions as func
import pytest
from aiohttp import web
from aiohttp.resolver import ThreadedResolver

from devhost.services import free_port
from shared_code import contracts
from shared_code.crm_webhooks import deliveries, endpoints, signing
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


@contextlib.asynccontextmanager
async def site(routes: dict[str, Any]):
    """A local receiver with one POST handler per path; yields its base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def queue_deliveries(endpoint: dict, n: int = 1, *, age_seconds: float = 0) -> list[int]:
    """`n` deliveries due now for `endpoint`, written straight into the table (oldest first)."""
    pool = await get_pool()
    ids = []
    for k in range(n):
        ids.append(
            await pool.fetchval(
                "INSERT INTO webhook_deliveries (endpoint_id, business_id, event_id, event_type,"
                " body, next_attempt_at) VALUES ($1, $2, gen_random_uuid(), 'call.missed', '{}',"
                " now() - make_interval(secs => $3)) RETURNING id",
                uuid.UUID(endpoint["id"]),
                uuid.UUID(endpoint["business_id"]),
                age_seconds + n - k,
            )
        )
    return ids


async def statuses(endpoint: dict) -> list[tuple[str, int]]:
    pool = await get_pool()
    rows = await pool.fetch(
        "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id",
        uuid.UUID(endpoint["id"]),
    )
    return [(r["status"], r["attempts"]) for r in rows]


async def test_a_hanging_receiver_delays_only_its_own_deliveries(stack):
    """Review: deliveries were POSTed one after another, so one endpoint that hangs held every
    business's deliveries (and 100 claimed x 10 s outran the function's 5 minutes)."""
    _business, key = await create_business()
    _other, other_key = await create_business(name="Bravo", phone_number="+13125550177")
    release = asyncio.Event()
    hung: list[web.Request] = []
    most_open = 0
    fast_at: list[float] = []

    async def hang(request: web.Request) -> web.Response:
        nonlocal most_open
        hung.append(request)  # the client hangs up at its timeout (our handler lives on)
        still_open = [r for r in hung if r.transport is not None and not r.transport.is_closing()]
        most_open = max(most_open, len(still_open))
        await asyncio.wait_for(release.wait(), 30)
        return web.Response()

    async def fast(_request: web.Request) -> web.Response:
        fast_at.append(time.monotonic())
        return web.Response()

    policy = RetryPolicy(window=timedelta(hours=1), timeout_seconds=0.5, run_budget_seconds=2.2)
    async with site({"/hang": hang, "/fast": fast}) as base:
        slow = await add_endpoint(key, f"{base}/hang")
        quick = await add_endpoint(other_key, f"{base}/fast")
        oldest_first = await queue_deliveries(slow, 6, age_seconds=60)  # due before the others
        await queue_deliveries(quick, 3)
        started = time.monotonic()
        outcomes = await deliveries.deliver_due(policy)
        elapsed = time.monotonic() - started
        release.set()
    assert len(fast_at) == 3 and max(fast_at) - started < 0.4, "not held behind the hang"
    assert len(hung) == 4 and most_open == 1, "one POST at a time per endpoint"
    pool = await get_pool()
    due_order = await pool.fetch(
        "SELECT event_id::text FROM webhook_deliveries WHERE id = ANY($1)"
        " ORDER BY array_position($1, id)",
        oldest_first[:4],
    )
    assert [r.headers["webhook-id"] for r in hung] == [r["event_id"] for r in due_order]
    # 2.2 s of budget at 0.5 s each: 4 of the hanging endpoint's 6 are claimed and tried.
    assert outcomes == {"retry": 4, "succeeded": 3}
    assert elapsed < policy.run_budget_seconds + 0.3
    assert await statuses(quick) == [("succeeded", 1)] * 3
    assert await statuses(slow) == [("pending", 1)] * 4 + [("pending", 0)] * 2


async def test_a_run_starts_no_post_it_cannot_finish_in_its_budget(stack, monkeypatch):
    _business, key = await create_business()
    release = asyncio.Event()

    async def hang(_request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 30)
        return web.Response()

    monkeypatch.setattr(deliveries, "MAX_IN_FLIGHT", 1)  # two endpoints, one POST at a time
    policy = RetryPolicy(window=timedelta(hours=1), timeout_seconds=0.5, run_budget_seconds=1.2)
    async with site({"/a": hang, "/b": hang}) as base:
        first = await add_endpoint(key, f"{base}/a")
        second = await add_endpoint(key, f"{base}/b")
        await queue_deliveries(first, 2)
        await queue_deliveries(second, 2)
        started = time.monotonic()
        outcomes = await deliveries.deliver_due(policy)
        elapsed = time.monotonic() - started
        release.set()
    assert outcomes == {"retry": 2, "deferred": 2} and elapsed < 1.2
    pool = await get_pool()
    back = await pool.fetch(
        "SELECT attempts, next_attempt_at <= now() AS due FROM webhook_deliveries"
        " WHERE attempts = 0"
    )
    assert len(back) == 2 and all(r["due"] for r in back), "handed back, due, not counted"


async def test_one_failing_delivery_does_not_disable_an_endpoint_that_receives_others(stack):
    """Review: the first delivery to give up disabled the endpoint, even one receiving every
    other delivery (a receiver rejecting one body)."""
    _business, key = await create_business()
    rejected_ids: set[str] = set()

    async def picky(request: web.Request) -> web.Response:
        return web.Response(status=422 if request.headers["webhook-id"] in rejected_ids else 200)

    async with site({"/hook": picky}) as base:
        endpoint = await add_endpoint(key, f"{base}/hook")
        rejected, _accepted = await queue_deliveries(endpoint, 2)
        pool = await get_pool()
        rejected_ids.add(
            str(await pool.fetchval("SELECT event_id FROM webhook_deliveries WHERE id = $1",
                                    rejected))
        )  # fmt: skip
        await settle()
    (failed, failed_attempts), succeeded = await statuses(endpoint)
    assert failed == "failed" and failed_attempts >= 2 and succeeded == ("succeeded", 1)
    _, body = await call("webhook_endpoint", api("GET", "x", key, endpoint_id=endpoint["id"]))
    assert body["webhook"]["enabled"] is True and body["webhook"]["disabled_reason"] is None
    assert not [m for m in stack.twilio.to(OWNER) if "webhook" in m["Body"]]


async def test_an_endpoint_deleted_mid_run_does_not_stop_the_others(stack):
    """Review: the attempt row of a delivery whose endpoint was deleted during its POST broke
    the foreign key, and the error ended the whole run."""
    _business, key = await create_business()
    doomed: dict[str, str] = {}

    async def delete_me(_request: web.Request) -> web.Response:
        await call("webhook_endpoint", api("DELETE", "x", key, endpoint_id=doomed["id"]))
        return web.Response()

    async def fine(_request: web.Request) -> web.Response:
        await asyncio.sleep(0.2)  # still in flight when the other endpoint goes
        return web.Response()

    async with site({"/gone": delete_me, "/fine": fine}) as base:
        doomed.update(await add_endpoint(key, f"{base}/gone"))
        kept = await add_endpoint(key, f"{base}/fine")
        await queue_deliveries(doomed, 2)
        await queue_deliveries(kept, 2)
        outcomes = await deliveries.deliver_due(SHORT)
    assert outcomes == {"gone": 2, "succeeded": 2}
    assert await statuses(kept) == [("succeeded", 1)] * 2
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM webhook_delivery_attempts") == 2


async def test_only_the_first_64_kib_of_a_receivers_answer_are_read(stack):
    _business, key = await create_business()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(10_000):  # 16 KiB a tick for minutes
                await response.write(b"x" * 16_384)
                await asyncio.sleep(0.01)
        except (ConnectionError, RuntimeError):
            pass  # we hung up: enough was read
        return response

    async with site({"/chatty": endless}) as base:
        endpoint = await add_endpoint(key, f"{base}/chatty")
        await queue_deliveries(endpoint)
        started = time.monotonic()
        outcomes = await deliveries.deliver_due(SHORT)
        assert time.monotonic() - started < 1.0
    assert outcomes == {"succeeded": 1}


async def test_the_endpoint_cap_holds_when_two_are_added_at_once(stack):
    business, _ = await create_business()
    pool = await get_pool()
    async with pool.acquire() as conn:
        for n in range(endpoints.MAX_PER_BUSINESS - 1):
            url = f"https://h{n}.example.com/"
            assert await endpoints.create(conn, business.id, url, ["call.missed"], "")
    async with pool.acquire() as first, pool.acquire() as second:
        adding = first.transaction()
        await adding.start()
        assert await endpoints.create(
            first, business.id, "https://a.example.com/", ["call.missed"], ""
        )
        racing = asyncio.ensure_future(
            endpoints.create(second, business.id, "https://b.example.com/", ["call.missed"], "")
        )
        await asyncio.sleep(0.3)
        assert not racing.done(), "the second creation waits for the first's count"
        await adding.commit()
        assert await racing is None
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM webhook_endpoints WHERE business_id = $1", business.id
        )
        == endpoints.MAX_PER_BUSINESS
    )


async def test_replaying_on_a_disabled_endpoint_is_a_conflict(stack, receiver):
    _business, key = await create_business()
    endpoint = await add_endpoint(key, receiver.url)
    (delivery_id,) = await queue_deliveries(endpoint)
    status, _ = await call(
        "webhook_endpoint", api("PATCH", "x", key, {"enabled": False}, endpoint_id=endpoint["id"])
    )
    assert status == 200
    status, body = await call(
        "replay_webhook_delivery",
        api("POST", "x", key, endpoint_id=endpoint["id"], delivery_id=str(delivery_id)),
    )
    assert_error(status, body, 409, "endpoint_disabled")
    assert receiver.received == []


async def test_endpoint_event_types_are_checked_by_the_database(stack):
    business, _ = await create_business()
    pool = await get_pool()
    for types in ([], ["call.missed", "sms.sent"]):
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute(
                "INSERT INTO webhook_endpoints (business_id, url, event_types, secret)"
                " VALUES ($1, 'https://crm.example.com/', $2, $3)",
                business.id, types, signing.new_secret(),
            )  # fmt: skip


def resolving(mapping: dict[str, str]):
    """A stand-in for the resolver the delivery client asks (aiohttp's ThreadedResolver, inside
    `PublicOnlyResolver` or not): `mapping`'s hosts resolve to the given addresses."""
    real = ThreadedResolver.resolve

    async def resolve(self, host: str, port: int = 0, family=socket.AF_INET):
        if host in mapping:
            return [{"hostname": host, "host": mapping[host], "port": port, "family":
                     socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}]  # fmt: skip
        return await real(self, host, port, family)

    return resolve


async def test_a_hostname_resolving_to_loopback_is_refused_at_connect_time_in_azure(
    stack, monkeypatch
):
    """The connect-time guard (`PublicOnlyResolver`): an endpoint saved with a public name whose
    DNS answer later points inside reaches nothing; the attempt says why."""
    _business, key = await create_business()
    connections = []

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writer.close()

    port = free_port()
    server = await asyncio.start_server(count, "127.0.0.1", port)
    try:
        endpoint = await add_endpoint(key, f"https://crm.example.test:{port}/hook")
        monkeypatch.setattr(
            ThreadedResolver, "resolve", resolving({"crm.example.test": "127.0.0.1"})
        )
        monkeypatch.setenv("WEBSITE_INSTANCE_ID", "test-instance")
        await queue_deliveries(endpoint)
        assert await deliveries.deliver_due(SHORT) == {"retry": 1}
    finally:
        server.close()
        await server.wait_closed()
    assert connections == []
    pool = await get_pool()
    error = await pool.fetchval("SELECT error FROM webhook_delivery_attempts")
    assert error.startswith("ClientConnectorDNSError") and "refused: SSRF guard" in error


async def test_a_hostname_resolving_to_loopback_is_refused_when_saved_in_azure(stack, monkeypatch):
    _business, key = await create_business()
    answers = {"inside.example.test": "127.0.0.1", "outside.example.test": "93.184.216.34"}
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], 443))]
        return await real(host, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "test-instance")
    status, body = await call(
        "webhook_endpoints",
        api("POST", "v1/webhooks", key, {"url": "https://inside.example.test/hook"}),
    )
    assert_error(status, body, 422, "target_refused")
    status, body = await call(
        "webhook_endpoints",
        api("POST", "v1/webhooks", key, {"url": "https://outside.example.test/hook"}),
    )
    assert status == 201, body
