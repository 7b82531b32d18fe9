"""Webhook deliveries: one per (endpoint, event), signed, retried with backoff, logged.

An event reaches `enqueue_event` (Event Grid, at least once): one `webhook_deliveries` row per
enabled endpoint subscribed to its type, unique per (endpoint, event), holding the exact body
to send; it is attempted at once. `deliver_due` (the timer) claims the deliveries now due with
`FOR UPDATE SKIP LOCKED` in one committed statement (a few per endpoint, so that all of them
fit in the run's budget) that also counts the attempt and leases them for the run: a second
timer skips them, and a worker that dies leaves them for a later run. It then POSTs with no
transaction open, concurrently but one at a time per endpoint (a receiver that hangs delays
only its own deliveries); each POST's lease is renewed when it starts, for one attempt's
length. The outcome is recorded guarded by the attempt number, and every attempt is logged
(`webhook_delivery_attempts`; none for a delivery whose endpoint was deleted meanwhile).

A failure is retried per `retry.RetryPolicy`; the attempt that fails after the window gives the
delivery up. If no delivery to that endpoint succeeded since the window began, the endpoint is
disabled (its other pending deliveries fail with it) and the owner texted once; an endpoint
that is receiving other deliveries stays on and only this delivery fails. A replay (`replay`)
sends the same body under the same `webhook-id`, so a receiver that already has it drops it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg

from shared_code.businesses.store import get_business
from shared_code.contracts import Event
from shared_code.crm_webhooks import endpoints, signing, targets
from shared_code.crm_webhooks.retry import DEFAULT_POLICY, RetryPolicy, next_attempt, succeeded
from shared_code.messaging import outbound
from shared_code.platform.db import get_pool
from shared_code.platform.work import work

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/crm_webhooks"
LEASE_MARGIN = timedelta(seconds=30)
MAX_IN_FLIGHT = 20  # POSTs at once in one run (one per endpoint at most)
MAX_RESPONSE_BYTES = 64 * 1024  # of a receiver's answer: its status is what counts


def body_of(event_id: uuid.UUID, event: Event, now: datetime) -> str:
    """The JSON a receiver gets (Standard Webhooks' shape: type, timestamp, data)."""
    return json.dumps(
        {
            "id": str(event_id),
            "type": endpoints.public_type(event.type),
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "data": event.to_json(),
        },
        separators=(",", ":"),
    )


async def enqueue_event(
    event_id: uuid.UUID, event: Event, policy: RetryPolicy = DEFAULT_POLICY
) -> int:
    """One delivery per subscribed endpoint (a redelivered event adds none); attempts the new
    ones now. Returns how many were created."""
    public = endpoints.public_type(event.type)
    if public not in endpoints.EVENT_TYPES:
        return 0
    body = body_of(event_id, event, datetime.now(UTC))
    pool = await get_pool()
    async with pool.acquire() as conn:
        created = await conn.fetch(
            "INSERT INTO webhook_deliveries (endpoint_id, business_id, event_id, event_type, body)"
            " SELECT e.id, e.business_id, $2, $3, $4 FROM webhook_endpoints e"
            " WHERE e.business_id = $1 AND e.enabled AND $3 = ANY(e.event_types)"
            " ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id",
            event.business_id, event_id, public, body,
        )  # fmt: skip
    if created:
        await deliver_due(policy, only=[row["id"] for row in created])
    return len(created)


# Claims the due deliveries: at most $4 per endpoint (they go one at a time), at most $2 in
# all, oldest first. Each gets its attempt number and a lease covering the whole run ($1);
# the lease is shortened to one attempt's length when its POST starts (`_start`).
_CLAIM = """
WITH picked AS (
    SELECT w.id, w.next_attempt_at FROM webhook_endpoints x
    CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
        WHERE d.endpoint_id = x.id AND d.status = 'pending' AND d.next_attempt_at <= now()
          AND ($3::bigint[] IS NULL OR d.id = ANY($3))
        ORDER BY d.next_attempt_at, d.id LIMIT $4 FOR UPDATE OF d SKIP LOCKED) w
    WHERE x.enabled
    ORDER BY w.next_attempt_at, w.id LIMIT $2)
UPDATE webhook_deliveries d
SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $1)
FROM webhook_endpoints e, picked p
WHERE e.id = d.endpoint_id AND d.id = p.id
RETURNING d.*, e.url, e.secret, p.next_attempt_at AS fell_due_at
"""


async def deliver_due(
    policy: RetryPolicy = DEFAULT_POLICY, *, limit: int = 100, only: list[int] | None = None
) -> Counter[str]:
    """Attempt the deliveries due now (or just `only`, if due); returns outcome counts.

    The POSTs run concurrently (at most MAX_IN_FLIGHT at once, and one at a time per
    endpoint, in the order they fell due), so a slow receiver delays only its own deliveries.
    A run claims at most `policy.per_endpoint()` per endpoint and starts no POST that could
    end after `policy.run_budget_seconds`: what could not start is handed back, due at once,
    for the next run. One delivery's trouble (its endpoint deleted mid-run, a database error)
    is logged and counted as "error"; the others go on."""
    pool = await get_pool()
    claim_lease = policy.run_budget_seconds + policy.timeout_seconds + LEASE_MARGIN.total_seconds()
    claimed = sorted(
        await pool.fetch(_CLAIM, claim_lease, limit, only, policy.per_endpoint()),
        key=lambda row: (row["fell_due_at"], row["id"]),
    )
    outcomes: Counter[str] = Counter()
    if not claimed:
        return outcomes
    last_start = time.monotonic() + policy.run_budget_seconds - policy.timeout_seconds
    lanes: dict[uuid.UUID, asyncio.Semaphore] = {}
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    connector = aiohttp.TCPConnector(resolver=targets.PublicOnlyResolver(), limit=MAX_IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=policy.timeout_seconds)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(delivery: asyncpg.Record) -> str:
            lane = lanes.setdefault(delivery["endpoint_id"], asyncio.Semaphore(1))
            try:
                async with lane, slots:
                    if time.monotonic() > last_start:
                        await _hand_back(delivery)
                        return "deferred"
                    return await _attempt(session, delivery, policy)
            except Exception:
                log.exception("webhook delivery %s not handled this run", delivery["id"])
                return "error"

        for outcome in await asyncio.gather(*(one(delivery) for delivery in claimed)):
            outcomes[outcome] += 1
    return outcomes


async def _start(delivery: asyncpg.Record, policy: RetryPolicy) -> bool:
    """The POST starts now: its lease runs from now for one attempt. False when the delivery
    is no longer this run's (deleted, replayed)."""
    pool = await get_pool()
    started = await pool.fetchval(
        "UPDATE webhook_deliveries SET last_attempt_at = now(),"
        " next_attempt_at = now() + make_interval(secs => $3)"
        " WHERE id = $1 AND attempts = $2 AND status = 'pending' RETURNING 1",
        delivery["id"], delivery["attempts"],
        policy.timeout_seconds + LEASE_MARGIN.total_seconds(),
    )  # fmt: skip
    return bool(started)


async def _hand_back(delivery: asyncpg.Record) -> None:
    """Not attempted this run (out of time): due again at once, the attempt not counted."""
    pool = await get_pool()
    await pool.execute(
        "UPDATE webhook_deliveries SET attempts = attempts - 1, next_attempt_at = now()"
        " WHERE id = $1 AND attempts = $2 AND status = 'pending'",
        delivery["id"], delivery["attempts"],
    )  # fmt: skip


async def _post(session: aiohttp.ClientSession, delivery: asyncpg.Record) -> tuple[int | None, str]:
    """(status, error) of one POST; never raises for the receiver's trouble. At most
    MAX_RESPONSE_BYTES of the receiver's answer are read (its status is what counts)."""
    try:
        targets.check_url(delivery["url"])
    except targets.TargetRefused as refused:
        return None, f"refused: {refused}"
    msg_id = str(delivery["event_id"])
    headers = signing.headers(delivery["secret"], msg_id, int(time.time()), delivery["body"])
    try:
        async with session.post(
            delivery["url"], data=delivery["body"].encode(), headers=headers,
            allow_redirects=False,
        ) as response:  # fmt: skip
            await response.content.read(MAX_RESPONSE_BYTES)
            return response.status, "" if succeeded(response.status) else f"HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]


async def _attempt(
    session: aiohttp.ClientSession, delivery: asyncpg.Record, policy: RetryPolicy
) -> str:
    if not await _start(delivery, policy):
        return "gone"
    started = time.monotonic()
    status, error = await _post(session, delivery)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    now = datetime.now(UTC)
    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():
        # The endpoint (and its deliveries) may have been deleted during the POST.
        logged = await conn.fetchval(
            "INSERT INTO webhook_delivery_attempts (delivery_id, status_code, error, duration_ms)"
            " SELECT $1, $2, nullif($3, ''), $4"
            " WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1) RETURNING id",
            delivery["id"], status, error, elapsed_ms,
        )  # fmt: skip
        if logged is None:
            return "gone"
        if status is not None and succeeded(status):
            await _mark(conn, delivery, "succeeded", status, None, None)
            return "succeeded"
        retry_at = next_attempt(policy, delivery["attempts"], delivery["window_started_at"], now)
        if retry_at is not None:
            await _mark(conn, delivery, "pending", status, error, retry_at)
            return "retry"
        await _mark(conn, delivery, "failed", status, error, None)
    await _give_up(delivery, error)
    return "failed"


async def _mark(
    conn: asyncpg.Connection,
    delivery: asyncpg.Record,
    status: str,
    code: int | None,
    error: str | None,
    retry_at: datetime | None,
) -> None:
    """Record this attempt's outcome, unless a later attempt has been claimed since."""
    await conn.execute(
        "UPDATE webhook_deliveries SET status = $2, last_status_code = $3, last_error = $4,"
        " next_attempt_at = coalesce($5, next_attempt_at),"
        " delivered_at = CASE WHEN $2 = 'succeeded' THEN now() ELSE delivered_at END"
        " WHERE id = $1 AND attempts = $6",
        delivery["id"], status, code, error, retry_at, delivery["attempts"],
    )  # fmt: skip


async def _give_up(delivery: asyncpg.Record, error: str) -> None:
    """The delivery's retry window is over. If the endpoint received anything since that
    window began, it is alive and this one delivery just fails (a body it rejects, say);
    otherwise disable the endpoint, fail what else waits for it and tell the owner (once per
    disabling)."""
    endpoint_id = delivery["endpoint_id"]
    reason = f"deliveries failed for 24 h (last: {error or 'no answer'})"
    async with work(SOURCE) as w:
        alive = await w.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE endpoint_id = $1"
            " AND status = 'succeeded' AND delivered_at >= $2)",
            endpoint_id, delivery["window_started_at"],
        )  # fmt: skip
        if alive:
            log.warning(
                "webhook delivery %s given up after its retry window; endpoint %s kept (it"
                " received other deliveries since)", delivery["id"], endpoint_id,
            )  # fmt: skip
            return
        if not await endpoints.disable(w.conn, endpoint_id, reason):
            return
        await w.conn.execute(
            "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint disabled'"
            " WHERE endpoint_id = $1 AND status = 'pending'",
            endpoint_id,
        )
        business = await get_business(delivery["business_id"], w.conn)
        if business is None or not business.owner_phone:
            return
        note = (
            f"NeverMiss: we stopped sending events to your webhook {delivery['url'][:80]}:"
            " it has failed for 24 hours. Fix it, then turn it back on in the API."
        )
        disabled_at = await w.conn.fetchval(
            "SELECT disabled_at FROM webhook_endpoints WHERE id = $1", endpoint_id
        )
        fact = f"webhook_disabled:{endpoint_id}:{disabled_at.isoformat()}"
        try:
            await outbound.send_after_commit(
                w, business, to=business.owner_phone, body=note, author="system",
                kind="owner_notice", fact=fact,
                conversation_id=None, automated=False,
            )  # fmt: skip
        except outbound.SendBlocked as blocked:
            log.warning("webhook %s disabled; owner not texted: %s", endpoint_id, blocked.reason)
    log.warning("webhook endpoint %s disabled after its retry window", endpoint_id)


async def replay(conn: asyncpg.Connection, delivery_id: int) -> asyncpg.Record | None:
    """Send a delivery again (same body, same webhook-id), with a fresh retry window."""
    return await conn.fetchrow(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(),"
        " window_started_at = now() WHERE id = $1 RETURNING *",
        delivery_id,
    )


_LOGGED = (
    "SELECT d.id, d.event_id, d.event_type, d.status, d.attempts, d.last_status_code,"
    " d.last_error, d.created_at, d.last_attempt_at, d.delivered_at, d.next_attempt_at,"
    " coalesce((SELECT jsonb_agg(jsonb_build_object('at', a.attempted_at, 'status_code',"
    "   a.status_code, 'error', a.error, 'duration_ms', a.duration_ms) ORDER BY a.id)"
    "   FROM webhook_delivery_attempts a WHERE a.delivery_id = d.id), '[]') AS log"
    " FROM webhook_deliveries d"
)


async def list_for(
    conn: asyncpg.Connection, endpoint_id: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    """The endpoint's newest deliveries, each with its attempts (oldest first)."""
    return await conn.fetch(
        f"{_LOGGED} WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2", endpoint_id, limit
    )


async def logged(conn: asyncpg.Connection, delivery_id: int) -> asyncpg.Record | None:
    """One delivery with its attempts, as `list_for` shows it."""
    return await conn.fetchrow(f"{_LOGGED} WHERE d.id = $1", delivery_id)
