"""devhost against real Azurite, Redis and PostgreSQL, with a fixture FunctionApp of its own.

The host runs in-process on a free port; queues are real Azurite queues (no mocks), Event Grid is
exercised with the real `EventGridPublisherClient`, and simulator signatures are checked by the
fixture app with Twilio's own `RequestValidator`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.core.messaging import CloudEvent
from azure.eventgrid.aio import EventGridPublisherClient
from azure.storage.queue import BinaryBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from devhost import services
from devhost.host import Runner, start_host
from devhost.simulate import Twilio, simulate_sms
from devhost.simulate_call import simulate_call

TOPIC_KEY = "devhost-test-topic-key"
QUEUE = "devhost-work"
SUBSCRIPTIONS = {
    "record_event": ["test.thing.happened"],
    "failing_event": ["test.thing.broke"],
}
HOST_JSON = {"extensions": {"queues": {"maxDequeueCount": 5, "visibilityTimeout": "00:00:00"}}}


async def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    """Poll until `check()` is truthy (async-aware); fail with the last value otherwise."""
    deadline = time.monotonic() + within
    value: Any = None
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {within}s (last value {value!r})")


# --- fixtures (namespaced devhost_* so they never clash with the suite's conftest) ---------------


@pytest.fixture(scope="session")
def devhost_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    service = services.start_azurite(tmp_path_factory.mktemp("devhost-azurite"))
    yield service.url
    service.stop()


@pytest.fixture(scope="session")
def devhost_app(devhost_azurite: str) -> Iterator[ModuleType]:
    mp = pytest.MonkeyPatch()
    mp.setenv("DEVHOST_TEST_STORAGE", devhost_azurite)
    mp.setenv("DEVHOST_TEST_QUEUE", QUEUE)
    mp.setenv("DEVHOST_TEST_TIMER", "*/1 * * * * *")
    yield importlib.import_module("tests.devhost_fixture_app")
    mp.undo()


@pytest.fixture(scope="session")
async def devhost(devhost_app: ModuleType) -> AsyncIterator[Runner]:
    async def sandbox_reader(after_id: int) -> list[dict[str, Any]]:
        return [m for m in devhost_app.sandbox if m["id"] > after_id]

    runner = await start_host(
        devhost_app,
        services.free_port(),
        subscriptions=SUBSCRIPTIONS,
        topic_key=TOPIC_KEY,
        sandbox_reader=sandbox_reader,
        host_json=HOST_JSON,
        event_retry_delays=(0.05, 0.05),
    )
    yield runner
    await runner.stop()


@pytest.fixture
async def devhost_http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _queue(conn: str, name: str) -> QueueClient:
    return QueueClient.from_connection_string(
        conn,
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(),
    )


# --- HTTP triggers -------------------------------------------------------------------------------


async def test_http_route_params_and_content_type(
    devhost: Runner, devhost_http: aiohttp.ClientSession
) -> None:
    url = f"{devhost.url}/api/items/42/notes/hello?x=1"
    async with devhost_http.post(url, data=b"payload", headers={"X-Test": "yes"}) as resp:
        assert resp.status == 201
        assert resp.headers["Content-Type"] == "application/xml"
        assert resp.headers["X-Handled-By"] == "item_note"
        text = await resp.text()
    payload = json.loads(text.removeprefix("<r>").removesuffix("</r>"))
    assert payload == {
        "route": {"item_id": "42", "note": "hello"},
        "method": "POST",
        "query": {"x": "1"},
        "body": "payload",
        "x_test": "yes",
    }


async def test_http_literal_route_wins_and_defaults(
    devhost: Runner, devhost_http: aiohttp.ClientSession
) -> None:
    async with devhost_http.get(f"{devhost.url}/api/items/special/notes/n1") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"  # HttpResponse default
        assert await resp.text() == "special n1"
    async with devhost_http.get(f"{devhost.url}/api/twiml") as resp:
        assert resp.headers["Content-Type"] == "text/xml"  # an explicit header is kept exactly
    async with devhost_http.delete(f"{devhost.url}/api/items/42/notes/x") as resp:
        assert resp.status == 405  # methods are enforced
    async with devhost_http.get(f"{devhost.url}/api/items/abc/notes/x") as resp:
        assert resp.status == 404  # {item_id:int} constraint


async def test_http_unhandled_exception_is_500(
    devhost: Runner, devhost_http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with devhost_http.get(f"{devhost.url}/api/boom") as resp:
        assert resp.status == 500
    assert any("boom on purpose" in (r.exc_text or "") for r in caplog.records)


# --- queue triggers ------------------------------------------------------------------------------


async def test_queue_message_processed_and_deleted(
    devhost: Runner, devhost_app: ModuleType, devhost_azurite: str
) -> None:
    body = f"ok-{secrets.token_hex(4)}"
    async with _queue(devhost_azurite, QUEUE) as queue:
        await queue.send_message(body)
        await eventually(lambda: body in devhost_app.queue_done)

        async def empty() -> bool:
            props = await queue.get_queue_properties()
            return props.approximate_message_count == 0

        await eventually(empty)
    assert [a for a in devhost_app.queue_attempts if a[0] == body] == [(body, 1)]


async def test_failing_message_goes_to_poison_after_five_attempts(
    devhost: Runner, devhost_app: ModuleType, devhost_azurite: str
) -> None:
    body = f"fail-{secrets.token_hex(4)} ünïcode"
    async with (
        _queue(devhost_azurite, QUEUE) as queue,
        _queue(devhost_azurite, f"{QUEUE}-poison") as poison,
    ):
        await queue.send_message(body)

        async def poisoned() -> list[bytes]:
            return [m.content async for m in poison.receive_messages(visibility_timeout=1)]

        found = await eventually(poisoned, within=30)
        assert [b.decode() for b in found] == [body]
        props = await queue.get_queue_properties()
        assert props.approximate_message_count == 0
    attempts = [count for text, count in devhost_app.queue_attempts if text == body]
    assert attempts == [1, 2, 3, 4, 5]


# --- Event Grid webhook --------------------------------------------------------------------------


def _cloud_event(event_type: str = "test.thing.happened") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": secrets.token_hex(8),
        "source": "/tests/devhost",
        "type": event_type,
        "time": "2024-05-01T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {"n": 7},
    }


async def test_eventgrid_webhook(
    devhost: Runner, devhost_app: ModuleType, devhost_http: aiohttp.ClientSession
) -> None:
    url = f"{devhost.url}/runtime/webhooks/EventGrid?functionName=record_event"
    event = _cloud_event()
    async with devhost_http.post(url, json=event) as resp:
        assert resp.status == 400  # no aeg-event-type
    notification = {"aeg-event-type": "Notification"}
    async with devhost_http.post(url, json=event, headers=notification) as resp:
        assert resp.status == 202
    received = [e for e in devhost_app.events if e["id"] == event["id"]]
    assert received == [
        {"kind": "CloudEvent", "id": event["id"], "type": "test.thing.happened", "data": {"n": 7}}
    ]

    legacy = [
        {
            "id": secrets.token_hex(8),
            "topic": "/topics/t",
            "subject": "s",
            "eventType": "legacy.kind",
            "eventTime": "2024-05-01T12:00:00Z",
            "dataVersion": "1",
            "data": {"a": 1},
        }
    ]
    async with devhost_http.post(url, json=legacy, headers=notification) as resp:
        assert resp.status == 202
    assert {
        "kind": "EventGridEvent",
        "id": legacy[0]["id"],
        "type": "legacy.kind",
        "data": {"a": 1},
    } in (devhost_app.events)

    validation = [{**legacy[0], "data": {"validationCode": "abc-123"}}]
    headers = {"aeg-event-type": "SubscriptionValidation"}
    async with devhost_http.post(url, json=validation, headers=headers) as resp:
        assert resp.status == 200
        assert await resp.json() == {"validationResponse": "abc-123"}

    failing = f"{devhost.url}/runtime/webhooks/EventGrid?functionName=failing_event"
    async with devhost_http.post(failing, json=event, headers=notification) as resp:
        assert resp.status == 500
    unknown = f"{devhost.url}/runtime/webhooks/EventGrid?functionName=nope"
    async with devhost_http.post(unknown, json=event, headers=notification) as resp:
        assert resp.status == 404


# --- local topic ---------------------------------------------------------------------------------


async def test_local_topic_with_real_publisher(devhost: Runner, devhost_app: ModuleType) -> None:
    endpoint = f"{devhost.url}/runtime/topic/api/events"
    event: CloudEvent[Any] = CloudEvent(
        source="/tests/devhost", type="test.thing.happened", data={"k": "v"}
    )
    async with EventGridPublisherClient(endpoint, AzureKeyCredential("wrong")) as client:
        with pytest.raises(HttpResponseError) as info:
            await client.send([event])
        assert info.value.status_code == 401

    ignored: CloudEvent[Any] = CloudEvent(
        source="/tests/devhost", type="test.nobody.listens", data={}
    )
    broken: CloudEvent[Any] = CloudEvent(source="/tests/devhost", type="test.thing.broke", data={})
    async with EventGridPublisherClient(endpoint, AzureKeyCredential(TOPIC_KEY)) as client:
        await client.send([event, ignored, broken])
    await devhost.dispatcher.drain(10)
    assert [e for e in devhost_app.events if e["id"] == event.id] == [
        {"kind": "CloudEvent", "id": event.id, "type": "test.thing.happened", "data": {"k": "v"}}
    ]
    assert not [e for e in devhost_app.events if e["id"] == ignored.id]
    dead = [(name, e["id"]) for name, e in devhost.dispatcher.dead_letters]
    assert ("failing_event", broken.id) in dead


async def test_subscription_check_warns_both_ways(devhost: Runner) -> None:
    dispatcher = devhost.dispatcher
    saved = dispatcher.subscriptions
    try:
        dispatcher.subscriptions = {"record_event": ["x"], "ghost": ["y"]}
        warnings = dispatcher.check_subscriptions()
    finally:
        dispatcher.subscriptions = saved
    assert any("'ghost'" in w for w in warnings)
    assert any("'failing_event'" in w for w in warnings)


# --- timers --------------------------------------------------------------------------------------


async def test_timer_runs_on_schedule(devhost: Runner, devhost_app: ModuleType) -> None:
    await eventually(lambda: len(devhost_app.timer_runs) >= 2, within=5)
    assert all(isinstance(p, bool) for p in devhost_app.timer_runs)


# --- simulator -----------------------------------------------------------------------------------


async def test_simulated_missed_call_is_signed_like_twilio(
    devhost: Runner, devhost_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://nevermiss.example.com")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", secrets.token_hex(16))
    devhost_app.twilio_requests.clear()
    lines: list[str] = []
    texts = await simulate_call(
        devhost.url, "+15551230001", "+15557654321", "no-answer", out=lines.append, wait=5
    )
    requests = devhost_app.twilio_requests
    assert [(r["path"], r["valid"]) for r in requests] == [
        ("voice/incoming", True),
        ("voice/dial-status", True),
    ]
    incoming, dial = requests[0]["params"], requests[1]["params"]
    assert incoming["CallSid"].startswith("CA") and len(incoming["CallSid"]) == 34
    assert incoming["CallStatus"] == "ringing" and incoming["Direction"] == "inbound"
    assert dial["DialCallStatus"] == "no-answer" and dial["CallSid"] == incoming["CallSid"]
    assert [t["body"] for t in texts] == ["Sorry!", "Missed"]
    assert any("<Dial" in line for line in lines)


async def test_simulator_signature_is_rejected_with_another_token(
    devhost: Runner, devhost_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://nevermiss.example.com")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "server-token")
    async with aiohttp.ClientSession() as session:
        twilio = Twilio.from_env(devhost.url, session)
        twilio.auth_token = "some-other-token"
        status, _, _ = await twilio.post("/api/voice/incoming", {"From": "+1555", "To": "+1666"})
    assert status == 403


async def test_simulated_sms_reports_missing_responder(devhost: Runner) -> None:
    lines: list[str] = []
    assert (
        await simulate_sms(devhost.url, "+15551230001", "+15557654321", "hi", out=lines.append)
        == []
    )
    assert "404" in lines[0] and "SMS responder" in lines[0]
