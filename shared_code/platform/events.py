"""CloudEvents through a transactional outbox.

A state change and the events it causes are written in one transaction (`write_events`, called
by the unit of work at commit, or `outbox_insert_sql` composed into a statement of its own);
after commit they are published (`publish_now`), and the outbox timer re-publishes whatever that
missed (`flush_outbox`). Event ids are derived from the fact they report (`contracts.event_id`),
so a retry of the same work produces the same id and consumers can dedupe on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from shared_code.contracts import Event
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings

if TYPE_CHECKING:
    from azure.core.messaging import CloudEvent
    from azure.eventgrid.aio import EventGridPublisherClient

log = logging.getLogger(__name__)

_publisher: EventGridPublisherClient | None = None
_publisher_loop: asyncio.AbstractEventLoop | None = None


def outbox_insert_sql(first: int, only_if: str = "true") -> str:
    """The one INSERT of events into the outbox, as SQL taking parameters $first..$first+4 (see
    `outbox_params`), for a statement that composes it with its own writes (as a CTE, so the
    events commit with them): rows go in only when `only_if` holds. Returns the ids written now."""
    ids, types, source, subjects, datas = (f"${first + k}" for k in range(5))
    return (
        "INSERT INTO outbox (id, type, source, subject, data)"
        f" SELECT id, type, {source}, subject, data::jsonb"
        f" FROM unnest({ids}::uuid[], {types}::text[], {subjects}::text[], {datas}::text[])"
        f" AS e(id, type, subject, data) WHERE {only_if}"
        " ON CONFLICT (id) DO NOTHING RETURNING id"
    )


def outbox_params(source: str, new_events: Sequence[Event]) -> list[Any]:
    return [
        [e.id for e in new_events],
        [e.type for e in new_events],
        source,
        [e.subject() for e in new_events],
        [json.dumps(e.to_json()) for e in new_events],  # as the pool's jsonb codec would
    ]


async def write_events(
    conn: asyncpg.Connection, source: str, new_events: Sequence[Event]
) -> list[uuid.UUID]:
    """Write `new_events` to the outbox in one INSERT inside the caller's transaction (the unit
    of work calls this at commit). Returns the ids of the rows written now: an event whose id is
    already there (a redelivered fact) was recorded, and published or left for the timer, by
    the delivery that first wrote it."""
    rows = await conn.fetch(outbox_insert_sql(1), *outbox_params(source, new_events))
    return [row["id"] for row in rows]


def _get_publisher() -> EventGridPublisherClient | None:
    global _publisher, _publisher_loop
    settings = get_settings()
    if not settings.eventgrid_topic_endpoint:
        return None
    loop = asyncio.get_running_loop()
    if _publisher is None or _publisher_loop is not loop:
        # On the first publish, not at import: a worker that only answers webhooks never
        # publishes, and azure-eventgrid is a cold start's cost.
        from azure.eventgrid.aio import EventGridPublisherClient

        from shared_code.platform import azure_identity

        # The topic key locally (devhost's topic); the managed identity in Azure, where the
        # topic refuses keys (EventGrid Data Sender; azure_identity).
        _publisher = EventGridPublisherClient(
            settings.eventgrid_topic_endpoint,
            azure_identity.eventgrid_credential(settings),
            retry_total=1,
            connection_timeout=2,
            read_timeout=5,
        )
        _publisher_loop = loop
    return _publisher


async def close_publisher() -> None:
    global _publisher, _publisher_loop
    publisher, _publisher, _publisher_loop = _publisher, None, None
    if publisher is not None:
        await publisher.close()


def _to_cloud_event(row: asyncpg.Record) -> CloudEvent:
    from azure.core.messaging import CloudEvent  # loaded with the publisher that sends it

    occurred: datetime = row["occurred_at"]
    return CloudEvent(
        source=row["source"],
        type=row["type"],
        data=row["data"],
        subject=row["subject"],
        id=str(row["id"]),
        time=occurred,
    )


async def _send(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> bool:
    """Publish `rows` and mark the outcome on each; True when the topic accepted them."""
    ids = [row["id"] for row in rows]
    publisher = _get_publisher()
    if publisher is None:
        return False
    try:
        await publisher.send([_to_cloud_event(row) for row in rows])
    except Exception as exc:  # any failure leaves the events for the outbox timer
        log.warning("event publish failed for %d events: %s", len(ids), type(exc).__name__)
        await conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, claimed_until = NULL"
            " WHERE id = ANY($1)",
            ids,
            _describe(exc),
        )
        return False
    await conn.execute(
        "UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL"
        " WHERE id = ANY($1)",
        ids,
    )
    return True


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    prefix = f"HTTP {status} " if status else ""
    return f"{prefix}{type(exc).__name__}: {str(exc)[:300]}"


PUBLISH_CHUNK = 500  # Event Grid takes at most 1 MB and 5,000 events per request


async def publish_now(ids: list[uuid.UUID]) -> bool:
    """Publish just-committed events. Never raises: the outbox timer retries what fails."""
    if not ids or _get_publisher() is None:
        return not ids
    try:
        pool = await get_pool()
        async with pool.acquire() as conn:
            for start in range(0, len(ids), PUBLISH_CHUNK):
                rows = await conn.fetch(
                    "SELECT * FROM outbox WHERE id = ANY($1) AND published_at IS NULL"
                    " ORDER BY occurred_at",
                    ids[start : start + PUBLISH_CHUNK],
                )
                if rows and not await _send(conn, rows):
                    return False
        return True
    except Exception:
        log.exception("publishing %d events after commit failed; outbox will retry", len(ids))
        return False


async def flush_outbox(batch_size: int = 100, max_batches: int = 50) -> int:
    """Publish events still unpublished after the grace period; returns how many went out.

    Rows are claimed by one autocommit statement (SKIP LOCKED, a lease of CLAIM_SECONDS), then
    published with no transaction open: overlapping runs (or a run racing `publish_now`) never
    block each other, and a duplicate publish is harmless because the id is stable.
    """
    grace = get_settings().outbox_republish_after_seconds
    published = 0
    pool = await get_pool()
    for _ in range(max_batches):
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "UPDATE outbox SET claimed_until = now() + make_interval(secs => $3)"
                " WHERE id IN (SELECT id FROM outbox WHERE published_at IS NULL"
                "   AND occurred_at <= now() - make_interval(secs => $1)"
                "   AND (claimed_until IS NULL OR claimed_until < now())"
                "   ORDER BY occurred_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
                " RETURNING *",
                grace, batch_size, CLAIM_SECONDS,
            )  # fmt: skip
            rows = sorted(rows, key=lambda row: row["occurred_at"])
            if not rows or not await _send(conn, rows):
                return published
            published += len(rows)
    return published


CLAIM_SECONDS = 60  # longer than one publish can take (its client's timeouts: 2 s + 5 s, 1 retry)
