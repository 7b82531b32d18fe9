"""Which round trips one inbound text makes, and the same round trips replayed without the app.

The floor `bench.sms_pipeline` compares its path against is not hand-copied: a few warm messages
are traced (every asyncpg statement and the pooled connection that ran it, every pool release,
every Redis command or pipeline, every queue put, the bench's own receives and deletes, and the
requests reaching the fakes) and the floor replays the most common trace: each app statement
becomes `SELECT 1` on a pooled connection, BEGIN/COMMIT stay BEGIN/COMMIT (real transactions),
connections are checked out and released where the app's were (so the pool's reset round trip on
release is in the floor too), each Redis round trip is a `SET NX`, each queue put/receive/delete
the same operation on a scratch queue. Read from the code (the trace's counts, `round_trips` in
the output, are the authority: they follow the code as it changes):
    webhook   Redis SET NX (dedupe; deleted again if the hand-off fails), queue put (the
              inbound task)
    inbound   queue receive; one transaction: BEGIN, INSERT inbound_receipts, upsert contact,
              SELECT open conversation, INSERT conversation, INSERT message (with the
              conversation's UPDATE in the same statement), INSERT outbox (message.received),
              COMMIT; queue put (the reply task); queue delete
    reply     queue receive; on one checkout: the lease claim (newest-text check and UPDATE in
              one statement, committed asynchronously), SELECT pending texts, SELECT business,
              SELECT history, a transaction (BEGIN, one INSERT outbox for the model's usage when
              there is one, UPDATE conversation (which also frees the lease), SELECT contact for
              the send rules, SELECT count for the loop guard, the text's intent and pending
              message in one statement, COMMIT); then, after commit and with no transaction
              open: the Redis INCR+EXPIRE pipeline (send pace), the claim of the intent (one
              autocommit statement, its own checkout), the Twilio POST, the mark (sid on the
              intent and message, message.sent and usage.recorded into the outbox: one
              statement, its own checkout); queue delete. `ai` adds the credit reservation on
              the first checkout (BEGIN, SELECT business FOR UPDATE, INSERT reservation, COMMIT)
              and the OpenAI POST.
At the time of writing (sending after commit, issue 12): PostgreSQL 20 statements in 2
transactions over 4 checkouts (+4 reset round trips on release), `ai` 25 in 3 over 4; before it
(the text sent inside the reply's transaction) 19 in 2 over 2, `ai` 24 in 3 over 2. Redis 2
(the webhook's SET NX, the pace); queue 2 puts, 2 receives, 2 deletes; HTTP 1
(`ai` 2). EVENTGRID_TOPIC_ENDPOINT is empty, as in bench.webhook_ack: publishing to Event Grid is
not in the path (publish_now returns without a query; the outbox rows are in it).

The tracing is patched into the client classes once (`install_tracing`) and records only while
`TRACE.active`, so the timed runs pay one attribute check per operation and nothing else.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import asyncpg
import redis.asyncio as redis_asyncio
from aiohttp import web
from azure.storage.queue.aio import QueueClient

from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.twilio_api import FakeTwilio


@dataclass
class Tracer:
    """Records I/O operations while `active` (patched into the client classes once)."""

    active: bool = False
    ops: list[tuple[str, int]] = field(default_factory=list)

    def add(self, kind: str, key: int = 0) -> None:
        if self.active:
            self.ops.append((kind, key))


TRACE = Tracer()


def install_tracing() -> None:
    """Wrap asyncpg, redis and queue client methods so each round trip is noted in TRACE."""
    conn_cls = asyncpg.connection.Connection
    execute, run, reset = conn_cls.execute, conn_cls._execute, conn_cls.reset
    resetting: set[int] = set()  # Connection has __slots__: no room for a flag on it

    async def traced_execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if not args and id(self) not in resetting:  # simple-query protocol
            verb = query.strip().split(None, 1)[0].upper().rstrip(";") if query.strip() else ""
            TRACE.add({"BEGIN": "pg_begin", "COMMIT": "pg_commit"}.get(verb, "pg"), id(self))
        return await execute(self, query, *args, **kwargs)

    async def traced_run(self: Any, *args: Any, **kwargs: Any) -> Any:
        TRACE.add("pg", id(self))
        return await run(self, *args, **kwargs)

    async def traced_reset(self: Any, *args: Any, **kwargs: Any) -> Any:
        TRACE.add("pg_release", id(self))
        resetting.add(id(self))
        try:
            return await reset(self, *args, **kwargs)
        finally:
            resetting.discard(id(self))

    conn_cls.execute = traced_execute
    conn_cls._execute = traced_run
    conn_cls.reset = traced_reset

    command = redis_asyncio.client.Redis.execute_command
    pipeline_execute = redis_asyncio.client.Pipeline.execute

    async def traced_command(self: Any, *args: Any, **kwargs: Any) -> Any:
        TRACE.add("redis")
        return await command(self, *args, **kwargs)

    async def traced_pipeline(self: Any, *args: Any, **kwargs: Any) -> Any:
        TRACE.add("redis")
        return await pipeline_execute(self, *args, **kwargs)

    redis_asyncio.client.Redis.execute_command = traced_command  # type: ignore[method-assign]
    redis_asyncio.client.Pipeline.execute = traced_pipeline  # type: ignore[method-assign]

    send = QueueClient.send_message

    async def traced_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        TRACE.add("queue_put")
        return await send(self, *args, **kwargs)

    QueueClient.send_message = traced_send  # type: ignore[method-assign]


@dataclass
class TimedTwilio(FakeTwilio):
    """FakeTwilio noting when each customer's reply arrived (the moment it left the app)."""

    arrivals: dict[str, float] = field(default_factory=dict)

    async def _create_message(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        TRACE.add("twilio_http")
        response = await super()._create_message(request)
        if response.status == 201:
            self.arrivals[str((await request.post()).get("To"))] = arrived
        return response


@dataclass
class CountedOpenAI(FakeOpenAI):
    async def _chat_completions(self, request: web.Request) -> web.Response:
        TRACE.add("openai_http")
        response = await super()._chat_completions(request)
        self.requests.clear()  # keep memory flat over thousands of turns
        return response


class TracedPath(Protocol):
    """What `trace_one` needs of the pipeline: fresh webhooks and one message end to end."""

    def requests(self, n: int) -> list[tuple[str, Any]]: ...

    async def one(self, customer: str, request: Any) -> tuple[float, float]: ...


CATEGORY = {
    "pg": "postgres", "pg_begin": "postgres", "pg_commit": "postgres", "pg_release": "postgres",
    "redis": "redis", "queue_put": "queue", "queue_receive": "queue", "queue_delete": "queue",
    "twilio_http": "http", "openai_http": "http",
}  # fmt: skip


@dataclass
class Floor:
    """A traced op sequence, replayed raw against the same services (see the module docstring)."""

    ops: list[tuple[str, int]]
    redis: redis_asyncio.Redis
    queue: QueueClient
    session: aiohttp.ClientSession
    twilio: FakeTwilio
    openai: FakeOpenAI
    sender: str  # the From of the floor's Twilio POST (the business number, as in the app's)

    async def once(self) -> dict[str, float]:
        """Replay the sequence once; returns ms per category."""
        from shared_code.platform.db import get_pool

        pool = await get_pool()
        spent: dict[str, float] = {}
        held: dict[int, Any] = {}
        received: list[Any] = []
        for kind, key in self.ops:
            began = time.perf_counter()
            if kind.startswith("pg"):
                conn = held.get(key)
                if conn is None:
                    conn = held[key] = await pool.acquire()
                if kind == "pg_release":
                    await pool.release(held.pop(key))
                elif kind == "pg_begin":
                    await conn.execute("BEGIN")
                elif kind == "pg_commit":
                    await conn.execute("COMMIT")
                else:
                    await conn.fetchval("SELECT 1")
            elif kind == "redis":
                await self.redis.set("bench:floor:" + secrets.token_hex(8), b"1", nx=True, ex=60)
            elif kind == "queue_put":
                await self.queue.send_message('{"kind":"floor"}')
            elif kind == "queue_receive":
                received += [
                    m
                    async for m in self.queue.receive_messages(
                        messages_per_page=1, max_messages=1, visibility_timeout=30
                    )
                ]
            elif kind == "queue_delete":
                await self.queue.delete_message(received.pop(0))
            elif kind == "twilio_http":
                await self._twilio_post()
            elif kind == "openai_http":
                await self._openai_post()
            category = CATEGORY[kind]
            spent[category] = spent.get(category, 0.0) + (time.perf_counter() - began) * 1000
        for conn in held.values():  # a trace cut mid-session: give connections back
            await pool.release(conn)
        return spent

    async def _twilio_post(self) -> None:
        auth = base64.b64encode(
            f"{self.twilio.account_sid}:{self.twilio.auth_token}".encode()
        ).decode()
        url = f"{self.twilio.url}/2010-04-01/Accounts/{self.twilio.account_sid}/Messages.json"
        form = {"To": "+13122009999", "From": self.sender, "Body": "floor"}
        async with self.session.post(
            url, data=form, headers={"Authorization": f"Basic {auth}"}
        ) as resp:
            await resp.read()

    async def _openai_post(self) -> None:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "floor"}]}
        async with self.session.post(
            f"{self.openai.url}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {self.openai.api_key}"},
        ) as resp:
            await resp.read()


def round_trips(ops: list[tuple[str, int]]) -> dict[str, int]:
    counts = Counter(kind for kind, _ in ops)
    pg_sessions = counts["pg_release"]
    return {
        "postgres_statements": counts["pg"] + counts["pg_begin"] + counts["pg_commit"],
        "postgres_transactions": counts["pg_begin"],
        "postgres_pool_checkouts": pg_sessions,
        "postgres_total_incl_release_reset": counts["pg"]
        + counts["pg_begin"]
        + counts["pg_commit"]
        + pg_sessions,
        "redis": counts["redis"],
        "queue_put": counts["queue_put"],
        "queue_receive": counts["queue_receive"],
        "queue_delete": counts["queue_delete"],
        "twilio_http": counts["twilio_http"],
        "openai_http": counts["openai_http"],
    }


async def trace_one(pipeline: TracedPath) -> list[tuple[str, int]]:
    """The most common op sequence over a few warm messages (a cache refresh may add one)."""
    traces: list[list[tuple[str, int]]] = []
    for customer, request in pipeline.requests(5):
        TRACE.ops, TRACE.active = [], True
        try:
            await pipeline.one(customer, request)
        finally:
            TRACE.active = False
        traces.append(TRACE.ops)
    shapes = Counter(tuple(kind for kind, _ in ops) for ops in traces)
    common = shapes.most_common(1)[0][0]
    return next(ops for ops in traces if tuple(kind for kind, _ in ops) == common)
