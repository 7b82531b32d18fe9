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
  The sequence is traced from a few warm messages, not hand-copied; how, and which round trips
  one message makes, is in bench/round_trips.py (`round_trips` in the output counts them).
  `floor.io` is Redis + queue + PostgreSQL (the issue's floor); `floor.with_http` adds a
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
  Stall diagnosis and the pool patch are in bench/stalls.py.

Run: `python -m bench.sms_pipeline [N]` (N serial messages per variant, default 1000); results
are printed and written to bench/results/sms_pipeline.json.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import azure.functions as func
import redis.asyncio as redis_asyncio
from azure.functions.queue import QueueMessage
from azure.storage.queue.aio import QueueClient
from twilio.request_validator import RequestValidator

from bench.round_trips import (
    TRACE,
    CountedOpenAI,
    Floor,
    TimedTwilio,
    install_tracing,
    round_trips,
    trace_one,
)
from bench.stack import bench_stack, summary
from bench.stalls import app_frame, pool_of
from devhost.services import free_port

BUSINESS, OWNER = "+13125550100", "+13125550101"
BATCH_SIZES = (1, 8, 16, 32)
THROUGHPUT_MESSAGES = 192
CHUNK = 250
WARMUP = 40
STALL_SECONDS = 3.0
FIRST_TEXT = "Hi, my kitchen sink drips and the faucet is loose. Can someone come look at it?"

Handler = Callable[[Any], Awaitable[Any]]


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


async def throughput(pipeline: Pipeline, batch: int, m: int) -> dict[str, Any]:
    from shared_code.platform.db import get_pool

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
            where for task in asyncio.all_tasks() if (where := app_frame(task)) is not None
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
    install_tracing()
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
            from shared_code.businesses.store import BusinessCreate, create_business
            from shared_code.platform import queues
            from shared_code.platform.db import get_pool
            from shared_code.platform.settings import reset_settings

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
                    return Floor(
                        ops, redis_client, scratch, session, twilio, openai, sender=BUSINESS
                    )

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
