"""An inbound text through to the reply handed to Twilio, against the round trips it needs.

Each message comes from a new customer (so no burst coalescing; BURST_WINDOW_SECONDS=0 and
SMS_RATE_PER_SECOND=100000, so neither the burst window nor the send pace waits). Everything
runs in process through the registered functions, against real PostgreSQL, Redis and Azurite:

1. the signed `POST /api/sms/incoming` through `sms_incoming` (signature, Redis SET NX, queue put);
2. the `messages` queue is received and `sms_responder` runs the `inbound` task (store the text,
   open the conversation, outbox, schedule the reply), then the message is deleted;
3. the queue is received again and `sms_responder` runs the `reply` task it scheduled (reply
   lease, compose, loop guard, pace, send through the real `twilio` client, record, outbox).

Twilio is `tests/fakes/twilio_api.py`'s FakeTwilio on a local port (the real client's cost is
part of the path). Two variants: `scripted` (no OpenAI key: the scripted intake composes) and
`ai` (OPENAI_API_KEY set, OPENAI_BASE_URL at `tests/fakes/openai_api.py`'s FakeOpenAI, which
answers at once: the real `openai` client's cost is part of the path).

Figures, per variant:
- `serial`: messages one at a time. `path` is the wall time from the webhook call to the reply
  task's queue message being deleted (all the work one message causes); `to_twilio` is the time
  from the webhook call until FakeTwilio received the send (the reply "handed to Twilio").
- `floor`: the same run's raw round trips the path needs, replayed without the app, interleaved
  with the path in chunks (one floor sample per two messages) so both see the same machine noise.
  The sequence is not hand-copied: a few warm messages are traced (every asyncpg statement and
  the pooled connection that ran it, every pool release, every Redis command or pipeline, every
  queue put, the bench's own receives and deletes, and the requests reaching the fakes) and the
  floor replays the most common trace: each app statement becomes `SELECT 1` on a pooled
  connection, BEGIN/COMMIT stay BEGIN/COMMIT (real transactions), connections are checked out and
  released where the app's were (so the pool's reset round trip on release is in the floor too),
  each Redis round trip is a `SET NX`, each queue put/receive/delete the same operation on a
  scratch queue. Read from the code (the trace's counts, `round_trips` in the output, are the
  authority: they follow the code as it changes):
    webhook   Redis SET NX (dedupe), queue put (the inbound task)
    inbound   queue receive; one transaction: BEGIN, INSERT inbound_receipts, upsert contact,
              SELECT open conversation, INSERT conversation, INSERT message, UPDATE conversation,
              INSERT outbox (message.received), SELECT max(id), COMMIT; queue put (the reply
              task); queue delete
    reply     queue receive; on one checkout: SELECT newest, UPDATE (take the reply lease),
              SELECT pending texts, SELECT history, a transaction (BEGIN, UPDATE conversation,
              SELECT contact for the send rules, SELECT count for the loop guard, INSERT message,
              UPDATE conversation, INSERT outbox x2 for message.sent and usage.recorded, COMMIT),
              UPDATE (release the lease); get_business's SELECT on a second checkout; the Redis
              INCR+EXPIRE pipeline (send pace); the Twilio POST; queue delete. `ai` adds the
              credit reservation on another checkout (BEGIN, SELECT business FOR UPDATE, INSERT
              reservation, COMMIT), one more outbox INSERT (the model's usage) and the OpenAI POST.
  At the time of writing: PostgreSQL 25 statements in 2 transactions over 3 checkouts (+3 reset
  round trips on release), `ai` 30 in 3 over 4; Redis 2; queue 2 puts, 2 receives, 2 deletes;
  HTTP 1 (`ai` 2). EVENTGRID_TOPIC_ENDPOINT is empty, as in bench.webhook_ack: publishing to
  Event Grid is not in the path (publish_now returns without a query; the outbox rows are in
  it). `floor.io` is Redis + queue + PostgreSQL (the issue's floor); `floor.with_http` adds a
  bare aiohttp POST to FakeTwilio (and FakeOpenAI for `ai`) per request the app made.
  `overhead` is path minus floor (p50 minus p50, p99 minus p99); `ratio` is path / floor.
- `throughput`: M messages per queue batch size B (1, 8, 16, 32): webhooks posted B at a time
  while a consumer receives up to B messages per request and runs them concurrently
  (asyncio.gather), as devhost's and the Functions host's queue pollers do, until every reply
  reached FakeTwilio. Reported as messages/s and this process's CPU per message (the app, the
  SDKs and the fakes share one core's worth of event loop). A batch size under which no batch
  completes for 3 s is reported as stalled, with the pool's state and where the app's tasks
  wait; stalled sizes are then re-run with a bigger asyncpg pool patched in by the bench only
  (`throughput_what_if_pool_<size>`), to show what the batch size would give without the stall.

Run: `python -m bench.sms_pipeline [N]` (N serial messages per variant, default 1000); results
are printed and written to bench/results/sms_pipeline.json.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import azure.functions as func
import redis.asyncio as redis_asyncio
from aiohttp import web
from azure.functions.queue import QueueMessage
from azure.storage.queue.aio import QueueClient
from twilio.request_validator import RequestValidator

from bench.stack import bench_stack, summary
from devhost.services import free_port
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.twilio_api import FakeTwilio

BUSINESS, OWNER = "+13125550100", "+13125550101"
BATCH_SIZES = (1, 8, 16, 32)
THROUGHPUT_MESSAGES = 192
CHUNK = 250
WARMUP = 40
STALL_SECONDS = 3.0
FIRST_TEXT = "Hi, my kitchen sink drips and the faucet is loose. Can someone come look at it?"

Handler = Callable[[Any], Awaitable[Any]]


# --- tracing: which round trips one message makes ------------------------------------------


@dataclass
class Tracer:
    """Records I/O operations while `active` (patched into the client classes once)."""

    active: bool = False
    ops: list[tuple[str, int]] = field(default_factory=list)

    def add(self, kind: str, key: int = 0) -> None:
        if self.active:
            self.ops.append((kind, key))


TRACE = Tracer()


def _install_tracing() -> None:
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


# --- the app's path --------------------------------------------------------------------------


_customers = iter(range(10_000_000))


def new_customer() -> str:
    n = next(_customers)
    return f"+1312{200 + n // 10_000:03d}{n % 10_000:04d}"


def signed_sms(token: str, base: str, customer: str, account_sid: str) -> func.HttpRequest:
    sid = "SM" + secrets.token_hex(16)
    params = {
        "ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
        "SmsStatus": "received", "Body": FIRST_TEXT, "To": BUSINESS, "NumSegments": "1",
        "MessageSid": sid, "AccountSid": account_sid, "From": customer, "ApiVersion": "2010-04-01",
    }  # fmt: skip
    signature = RequestValidator(token).compute_signature(base + "/api/sms/incoming", params)
    return func.HttpRequest(
        "POST",
        "http://10.0.0.4/api/sms/incoming",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
        body=urlencode(params).encode(),
    )


@dataclass
class Pipeline:
    incoming: Handler
    responder: Handler
    queue: QueueClient
    twilio: TimedTwilio
    env: dict[str, str]

    def requests(self, n: int) -> list[tuple[str, func.HttpRequest]]:
        """Pre-signed webhooks, one new customer each (signing is Twilio's cost, not ours)."""
        token, base = self.env["TWILIO_AUTH_TOKEN"], self.env["PUBLIC_BASE_URL"]
        sid = self.env["TWILIO_ACCOUNT_SID"]
        return [
            (customer, signed_sms(token, base, customer, sid))
            for customer in (new_customer() for _ in range(n))
        ]

    async def receive(self, batch: int) -> list[Any]:
        return [
            m
            async for m in self.queue.receive_messages(
                messages_per_page=batch, max_messages=batch, visibility_timeout=30
            )
        ]

    async def run_task(self, message: Any) -> None:
        await self.responder(
            QueueMessage(
                id=message.id, body=message.content.encode(), dequeue_count=message.dequeue_count
            )
        )
        await self.queue.delete_message(message)

    async def one(self, customer: str, request: func.HttpRequest) -> tuple[float, float]:
        """One message end to end; returns (path ms, webhook-to-Twilio ms)."""
        began = time.perf_counter()
        response = await self.incoming(request)
        assert response.status_code == 200, response.get_body()
        for _ in range(2):  # the inbound task, then the reply task it scheduled
            batch = await self.receive(1)
            TRACE.add("queue_receive")
            if not batch:
                raise RuntimeError(f"no task on the messages queue for {customer}")
            await self.run_task(batch[0])
            TRACE.add("queue_delete")
        done = time.perf_counter()
        arrived = self.twilio.arrivals.get(customer)
        if arrived is None:
            raise RuntimeError(f"no reply reached Twilio for {customer}")
        return (done - began) * 1000, (arrived - began) * 1000


# --- the floor: the traced sequence, replayed raw --------------------------------------------


CATEGORY = {
    "pg": "postgres", "pg_begin": "postgres", "pg_commit": "postgres", "pg_release": "postgres",
    "redis": "redis", "queue_put": "queue", "queue_receive": "queue", "queue_delete": "queue",
    "twilio_http": "http", "openai_http": "http",
}  # fmt: skip


@dataclass
class Floor:
    ops: list[tuple[str, int]]
    redis: redis_asyncio.Redis
    queue: QueueClient
    session: aiohttp.ClientSession
    twilio: FakeTwilio
    openai: FakeOpenAI

    async def once(self) -> dict[str, float]:
        """Replay the sequence once; returns ms per category."""
        from shared_code.db import get_pool

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
        form = {"To": "+13122009999", "From": BUSINESS, "Body": "floor"}
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


async def trace_one(pipeline: Pipeline) -> list[tuple[str, int]]:
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


# --- the runs ----------------------------------------------------------------------------------


def minus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: round(a[k] - b[k], 3) for k in ("p50_ms", "p99_ms", "mean_ms")}


def ratio(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: round(a[k] / b[k], 2) for k in ("p50_ms", "p99_ms")}


async def serial(pipeline: Pipeline, floor: Floor, n: int) -> dict[str, Any]:
    requests = pipeline.requests(n)
    path: list[float] = []
    to_twilio: list[float] = []
    io: list[float] = []
    with_http: list[float] = []
    per_category: Counter[str] = Counter()  # ms per kind, summed
    gc.collect()
    gc.disable()
    try:
        for start in range(0, n, CHUNK):
            for customer, request in requests[start : start + CHUNK]:
                total, handed = await pipeline.one(customer, request)
                path.append(total)
                to_twilio.append(handed)
            for _ in range(max(1, min(CHUNK, n - start) // 2)):  # half as many: same spread
                began = time.perf_counter()
                spent = await floor.once()
                with_http.append((time.perf_counter() - began) * 1000)
                io.append(with_http[-1] - spent.get("http", 0.0))
                per_category.update(spent)
    finally:
        gc.enable()
    p, f_io, f_http = summary(path), summary(io), summary(with_http)
    return {
        "path": p,
        "to_twilio": summary(to_twilio),
        "floor": {
            "io": f_io,
            "with_http": f_http,
            "mean_ms_by_kind": {k: round(v / len(io), 3) for k, v in sorted(per_category.items())},
        },
        "overhead": {"vs_io": minus(p, f_io), "vs_with_http": minus(p, f_http)},
        "ratio": {"vs_io": ratio(p, f_io), "vs_with_http": ratio(p, f_http)},
        "throughput_msgs_per_s": round(1000 * n / sum(path), 1),
    }


def _app_frame(task: asyncio.Task[Any]) -> str | None:
    """The innermost shared_code/ or functions/ frame a task is suspended in, if any."""
    where: str | None = None
    awaiting: Any = task.get_coro()
    while awaiting is not None:
        frame = getattr(awaiting, "cr_frame", None) or getattr(awaiting, "ag_frame", None)
        if frame is not None and ("/shared_code/" in frame.f_code.co_filename or (
            "/functions/" in frame.f_code.co_filename
        )):  # fmt: skip
            where = f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}:{frame.f_lineno}"
        awaiting = getattr(awaiting, "cr_await", None) or getattr(awaiting, "ag_await", None)
    return where


async def throughput(pipeline: Pipeline, batch: int, m: int) -> dict[str, Any]:
    from shared_code.db import get_pool

    pool = await get_pool()
    await pipeline.queue.clear_messages()
    requests = pipeline.requests(m)
    waiting = {customer for customer, _ in requests}

    async def post(request: func.HttpRequest) -> None:
        response = await pipeline.incoming(request)
        assert response.status_code == 200, response.get_body()

    async def produce() -> None:
        for i in range(0, m, batch):
            await asyncio.gather(*(post(r) for _, r in requests[i : i + batch]))

    progress = time.perf_counter()

    async def consume() -> None:
        nonlocal progress
        while waiting:
            messages = await pipeline.receive(batch)
            if not messages:
                await asyncio.sleep(0.001)
            else:
                await asyncio.gather(*(pipeline.run_task(message) for message in messages))
                progress = time.perf_counter()
            waiting.difference_update(pipeline.twilio.arrivals.keys() & waiting)

    began, cpu = time.perf_counter(), time.process_time()
    producer = asyncio.create_task(produce())
    consumer = asyncio.create_task(consume())
    while not consumer.done() and time.perf_counter() - progress < STALL_SECONDS:
        await asyncio.wait([consumer], timeout=0.25)
    if not consumer.done():  # no batch finished for STALL_SECONDS: say where it is stuck
        stuck = Counter(
            where for task in asyncio.all_tasks() if (where := _app_frame(task)) is not None
        )
        idle = pool.get_idle_size()
        producer.cancel()
        consumer.cancel()
        await asyncio.gather(producer, consumer, return_exceptions=True)
        await pipeline.queue.clear_messages()
        return {
            "batch_size": batch,
            "messages": m,
            "stalled": True,
            "replies_sent": m - len(waiting),
            "pool_size": pool.get_size(),
            "pool_idle": idle,
            "tasks_waiting_in": dict(stuck.most_common(5)),
        }
    consumer.result()
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    await producer
    await pipeline.queue.clear_messages()
    return {
        "batch_size": batch,
        "messages": m,
        "msgs_per_s": round(m / elapsed, 1),
        "bench_process_cpu_ms_per_msg": round(1000 * cpu / m, 2),
    }


@asynccontextmanager
async def pool_of(size: int) -> AsyncIterator[None]:
    """The app's pool with max_size `size` instead of its own (what-if runs only)."""
    from shared_code import db

    create_pool = asyncpg.create_pool

    def bigger(*args: Any, **kwargs: Any) -> Any:
        return create_pool(*args, **{**kwargs, "max_size": size})

    await db.close_pool()
    asyncpg.create_pool = bigger
    try:
        yield
    finally:
        asyncpg.create_pool = create_pool
        await db.close_pool()


async def variant(
    name: str, pipeline: Pipeline, floor_of: Callable[[list[tuple[str, int]]], Floor], n: int
) -> dict[str, Any]:
    for customer, request in pipeline.requests(WARMUP):
        await pipeline.one(customer, request)
    ops = await trace_one(pipeline)
    floor = floor_of(ops)
    for _ in range(WARMUP):
        await floor.once()
    result: dict[str, Any] = {"round_trips": round_trips(ops)}
    result["serial"] = await serial(pipeline, floor, n)
    print(f"{name} serial: {json.dumps(result['serial']['path'])}", file=sys.stderr)
    m = min(THROUGHPUT_MESSAGES, max(32, n // 32 * 32))
    result["throughput"] = []
    for b in BATCH_SIZES:
        result["throughput"].append(await throughput(pipeline, b, m))
        print(f"{name} batch {b}: {json.dumps(result['throughput'][-1])}", file=sys.stderr)
    stalled = [row["batch_size"] for row in result["throughput"] if row.get("stalled")]
    if stalled:
        size = 2 * max(stalled) + 8
        result[f"throughput_what_if_pool_{size}"] = rows = []
        async with pool_of(size):
            for b in stalled:
                rows.append(await throughput(pipeline, b, m))
                print(f"{name} batch {b}, pool {size}: {json.dumps(rows[-1])}", file=sys.stderr)
    return result


async def main(n: int) -> dict[str, Any]:
    _install_tracing()
    account_sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    twilio = TimedTwilio(account_sid=account_sid, auth_token=token)
    await twilio.start(free_port())
    openai = CountedOpenAI(api_key="sk-bench-" + secrets.token_hex(8))
    await openai.start(free_port())
    results: dict[str, Any] = {"messages_per_variant": n}
    try:
        async with bench_stack(
            TWILIO_ACCOUNT_SID=account_sid,
            TWILIO_AUTH_TOKEN=token,
            TWILIO_API_BASE_URL=twilio.url,
            OPENAI_API_KEY="",
            OPENAI_BASE_URL=openai.url,
            BURST_WINDOW_SECONDS="0",
            SMS_RATE_PER_SECOND="100000",
            MAX_AUTOMATED_PER_HOUR="1000",
        ) as env:
            import function_app
            from devhost.catalog import get_functions_once
            from shared_code import queues
            from shared_code.businesses import BusinessCreate, create_business
            from shared_code.db import get_pool
            from shared_code.settings import reset_settings

            await create_business(
                BusinessCreate(
                    name="Bench Plumbing", phone_number=BUSINESS, owner_phone=OWNER,
                    time_zone="America/Chicago",
                )
            )  # fmt: skip
            functions = {
                f.get_function_name(): f.get_user_function()
                for f in get_functions_once(function_app.app)
            }
            pipeline = Pipeline(
                incoming=functions["sms_incoming"],
                responder=functions["sms_responder"],
                queue=await queues.get_queue(queues.MESSAGES_QUEUE),
                twilio=twilio,
                env=env,
            )
            redis_client = redis_asyncio.Redis.from_url(env["REDIS_URL"])
            scratch = await queues.get_queue("bench-floor")
            async with aiohttp.ClientSession() as session:

                def floor_of(ops: list[tuple[str, int]]) -> Floor:
                    return Floor(ops, redis_client, scratch, session, twilio, openai)

                for name in os.environ.get("BENCH_VARIANTS", "scripted,ai").split(","):
                    os.environ["OPENAI_API_KEY"] = openai.api_key if name == "ai" else ""
                    reset_settings()
                    results[name] = await variant(name, pipeline, floor_of, n)
            await redis_client.aclose()
            results["db_pool_max_size"] = (await get_pool()).get_max_size()
    finally:
        await twilio.stop()
        await openai.stop()
    results["target"] = {"overhead_p50_ms_max": 10}
    return results


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    began = time.perf_counter()
    outcome = asyncio.run(main(count))
    outcome["wall_seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(outcome, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/sms_pipeline.json").write_text(json.dumps(outcome, indent=2))
