"""The credit ledger: usage ingestion, reservations, top-ups, and the low-credit signal.

Rules, each held by the database:
- one usage row per event id (primary key) and one ledger entry per idempotency key (unique);
- a balance changes only in the statement that writes its ledger entries, in one transaction;
- a batch locks its businesses in id order before its one ingest statement, so concurrent
  batches over the same businesses queue up instead of deadlocking;
- a reservation is admitted by one statement that locks the business row and checks
  balance - live reservations >= amount, so concurrent reservations can never overspend.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared_code import events, pricing
from shared_code.db import get_pool
from shared_code.settings import get_settings

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/usage_logger"


class UsageData(BaseModel):
    """The `data` of a `nevermiss.usage.recorded` event. Any cost it carries is ignored."""

    model_config = ConfigDict(extra="ignore")

    business_id: uuid.UUID
    kind: Literal["ai", "sms"]
    model: str | None = Field(default=None, min_length=1, max_length=200)
    input_tokens: int | None = Field(default=None, ge=0, le=10_000_000)
    cached_tokens: int = Field(default=0, ge=0, le=10_000_000)
    output_tokens: int | None = Field(default=None, ge=0, le=10_000_000)
    segments: int | None = Field(default=None, ge=0, le=100)
    latency_ms: int | None = Field(default=None, ge=0)
    conversation_id: uuid.UUID | None = None
    reservation_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _complete(self) -> UsageData:
        if self.kind == "ai":
            if self.model is None or self.input_tokens is None or self.output_tokens is None:
                raise ValueError("an ai usage event needs model, input_tokens and output_tokens")
            if self.cached_tokens > self.input_tokens:
                raise ValueError("cached_tokens cannot exceed input_tokens")
        elif self.segments is None:
            raise ValueError("an sms usage event needs segments")
        return self


class MalformedUsageEvent(ValueError):
    """Rejected before anything is written; the trigger lets it dead-letter."""


@dataclass(frozen=True)
class PricedUsage:
    event_id: uuid.UUID
    occurred_at: datetime
    data: UsageData
    cost_micro: int
    priced_by: str


def price_event(event_id: str, occurred_at: datetime | None, data: Any) -> PricedUsage:
    try:
        eid = uuid.UUID(str(event_id))
        usage = UsageData.model_validate(data)
    except (ValueError, ValidationError) as exc:
        raise MalformedUsageEvent(f"usage event {event_id!r} rejected: {exc}") from exc
    if usage.kind == "ai":
        assert usage.model and usage.input_tokens is not None and usage.output_tokens is not None
        price = pricing.price_ai(
            usage.model, usage.input_tokens, usage.cached_tokens, usage.output_tokens
        )
    else:
        price = pricing.price_sms(usage.segments or 0)
    return PricedUsage(
        eid, occurred_at or datetime.now(UTC), usage, price.cost_micro, price.priced_by
    )


@dataclass
class IngestResult:
    inserted: int = 0
    duplicates: int = 0
    unknown_business: list[uuid.UUID] = field(default_factory=list)
    event_ids: list[uuid.UUID] = field(default_factory=list)  # credits.low events to publish


_INGEST = """
WITH input AS (
    SELECT * FROM unnest(
        $1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[],
        $8::int[], $9::int[], $10::uuid[], $11::uuid[], $12::bigint[], $13::text[],
        $14::timestamptz[]
    ) AS t(event_id, business_id, kind, model, input_tokens, cached_tokens, output_tokens,
           segments, latency_ms, conversation_id, reservation_id, cost_micro, priced_by,
           occurred_at)
    WHERE business_id = ANY($16::uuid[])
),
inserted AS (
    INSERT INTO usage_events (event_id, business_id, kind, model, input_tokens, cached_tokens,
        output_tokens, segments, latency_ms, conversation_id, reservation_id, cost_micro,
        priced_by, occurred_at, batch_id)
    SELECT *, $17::uuid FROM input
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id, business_id, cost_micro, reservation_id
),
settled AS (
    UPDATE credit_reservations r SET closed_at = now()
    FROM inserted i WHERE r.id = i.reservation_id AND r.closed_at IS NULL
    RETURNING r.id
),
totals AS (
    SELECT business_id, sum(cost_micro) AS total, count(*) AS events
    FROM inserted GROUP BY business_id
),
before AS (
    SELECT b.id, b.credits_low_since FROM businesses b JOIN totals t ON t.business_id = b.id
),
updated AS (
    UPDATE businesses b SET
        balance_micro = b.balance_micro - t.total,
        credits_low_since = CASE WHEN b.balance_micro - t.total < $15
                                 THEN coalesce(b.credits_low_since, now()) END
    FROM totals t WHERE b.id = t.business_id
    RETURNING b.id, b.balance_micro AS closing, t.total, t.events, b.credits_low_since
),
ledger AS (
    INSERT INTO credit_ledger (business_id, idempotency_key, kind, amount_micro,
                               balance_after_micro, usage_batch_id, usage_events)
    SELECT u.id, 'usage:' || $17::uuid || ':' || u.id, 'usage', -u.total, u.closing,
           $17::uuid, u.events
    FROM updated u WHERE u.total > 0
    RETURNING 1
)
SELECT
    (SELECT count(*) FROM inserted) AS inserted,
    (SELECT count(*) FROM input) AS known,
    (SELECT count(*) FROM settled) AS settled,
    (SELECT count(*) FROM ledger) AS entries,
    (SELECT coalesce(array_agg(u.id), '{}') FROM updated u JOIN before b ON b.id = u.id
     WHERE u.credits_low_since IS NOT NULL AND b.credits_low_since IS NULL) AS crossed,
    (SELECT coalesce(array_agg(u.credits_low_since), '{}') FROM updated u JOIN before b
     ON b.id = u.id WHERE u.credits_low_since IS NOT NULL AND b.credits_low_since IS NULL)
     AS crossed_at
"""


def _columns(batch: list[PricedUsage]) -> list[list[Any]]:
    return [
        [u.event_id for u in batch],
        [u.data.business_id for u in batch],
        [u.data.kind for u in batch],
        [u.data.model for u in batch],
        [u.data.input_tokens for u in batch],
        [u.data.cached_tokens if u.data.kind == "ai" else None for u in batch],
        [u.data.output_tokens for u in batch],
        [u.data.segments for u in batch],
        [u.data.latency_ms for u in batch],
        [u.data.conversation_id for u in batch],
        [u.data.reservation_id for u in batch],
        [u.cost_micro for u in batch],
        [u.priced_by for u in batch],
        [u.occurred_at for u in batch],
    ]


async def ingest(batch: list[PricedUsage], conn: asyncpg.Connection | None = None) -> IngestResult:
    """Record a batch of priced usage and debit it: one statement, businesses locked in order."""
    if not batch:
        return IngestResult()
    if conn is None:
        pool = await get_pool()
        async with pool.acquire() as acquired:
            result = await ingest(batch, acquired)
        await events.publish_now(result.event_ids)
        return result
    business_ids = sorted({u.data.business_id for u in batch})
    async with conn.transaction():
        known = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM businesses WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
                business_ids,
            )
        ]
        row = await conn.fetchrow(
            _INGEST, *_columns(batch), get_settings().credits_low_threshold_micro, known,
            uuid.uuid4(),
        )  # fmt: skip
        assert row is not None
        result = IngestResult(
            inserted=row["inserted"],
            duplicates=row["known"] - row["inserted"],
            unknown_business=sorted(set(business_ids) - set(known)),
        )
        for business_id, since in zip(row["crossed"], row["crossed_at"], strict=True):
            result.event_ids.append(await _credits_low(conn, business_id, since, "low"))
    if result.unknown_business:
        log.error("usage for unknown businesses skipped: %s", result.unknown_business)
    return result


async def _credits_low(
    conn: asyncpg.Connection, business_id: uuid.UUID, since: datetime, reason: str
) -> uuid.UUID:
    balance = await conn.fetchval("SELECT balance_micro FROM businesses WHERE id = $1", business_id)
    return await events.record_event(
        conn, events.CREDITS_LOW, SOURCE,
        {
            "business_id": str(business_id),
            "balance_micro": balance,
            "threshold_micro": get_settings().credits_low_threshold_micro,
            "reason": reason,
        },
        fact=(str(business_id), reason, since.isoformat()),
        subject=f"businesses/{business_id}/credits",
    )  # fmt: skip


# --- reservations ---------------------------------------------------------------------------

_RESERVE = """
INSERT INTO credit_reservations (id, business_id, amount_micro, expires_at)
SELECT $1, b.id, $3::bigint, now() + make_interval(secs => $4)
FROM businesses b
WHERE b.id = $2 AND b.balance_micro - (
    SELECT coalesce(sum(amount_micro), 0)::bigint FROM credit_reservations
    WHERE business_id = b.id AND closed_at IS NULL AND expires_at > now()
) >= $3::bigint
RETURNING id
"""


async def reserve(
    business_id: uuid.UUID, amount_micro: int, conn: asyncpg.Connection | None = None
) -> uuid.UUID | None:
    """Hold `amount_micro` for a model call; None when the available balance is short.

    The business row is locked by its own statement first: the check then runs with a snapshot
    taken after every earlier reservation for this business committed. (A lock taken inside the
    same statement would leave the live-reservation sum reading the statement's older snapshot,
    which let 18 of 50 concurrent holds through where 10 fit.)
    """
    if conn is None:
        pool = await get_pool()
        async with pool.acquire() as acquired:
            return await reserve(business_id, amount_micro, acquired)
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM businesses WHERE id = $1 FOR UPDATE", business_id)
        reservation_id: uuid.UUID | None = await conn.fetchval(
            _RESERVE, uuid.uuid4(), business_id, amount_micro,
            get_settings().reservation_ttl_seconds,
        )  # fmt: skip
    return reservation_id


async def release(reservation_id: uuid.UUID, conn: asyncpg.Connection | None = None) -> None:
    """Give back a reservation that no usage will settle (the call never spent tokens)."""
    executor = conn if conn is not None else await get_pool()
    await executor.execute(
        "UPDATE credit_reservations SET closed_at = now() WHERE id = $1 AND closed_at IS NULL",
        reservation_id,
    )


async def note_exhausted(conn: asyncpg.Connection, business_id: uuid.UUID) -> uuid.UUID:
    """The assistant fell back for lack of credit: the owner is told, at most once a day.
    Returns the event id for the caller to publish once it has let go of `conn`."""
    async with conn.transaction():
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return await _credits_low(conn, business_id, today, "exhausted")


# --- top-ups and the account ----------------------------------------------------------------


class KeyReused(Exception):
    """The idempotency key was used before for a different request."""


_CREDIT = """
WITH entry AS (
    INSERT INTO credit_ledger (business_id, idempotency_key, kind, amount_micro,
                               balance_after_micro, note)
    SELECT b.id, $2, $4, $3, b.balance_micro + $3, $5
    FROM businesses b WHERE b.id = $1
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING *
),
moved AS (
    UPDATE businesses b SET
        balance_micro = b.balance_micro + e.amount_micro,
        credits_low_since = CASE WHEN b.balance_micro + e.amount_micro < $6
                                 THEN b.credits_low_since END
    FROM entry e WHERE b.id = e.business_id
    RETURNING b.balance_micro
)
SELECT e.*, true AS created FROM entry e
"""


async def credit(
    business_id: uuid.UUID,
    amount_micro: int,
    key: str,
    kind: str = "topup",
    note: str | None = None,
    conn: asyncpg.Connection | None = None,
) -> tuple[dict[str, Any], bool]:
    """Add credit once per idempotency key; returns (entry, created now).

    Raises KeyReused when the key was used for another business or amount, LookupError when
    there is no such business.
    """
    if conn is None:
        pool = await get_pool()
        async with pool.acquire() as acquired:
            return await credit(business_id, amount_micro, key, kind, note, acquired)
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM businesses WHERE id = $1 FOR UPDATE", business_id)
        row = await conn.fetchrow(
            _CREDIT, business_id, key, amount_micro, kind, note,
            get_settings().credits_low_threshold_micro,
        )  # fmt: skip
        if row is not None:
            return dict(row), True
        existing = await conn.fetchrow(
            "SELECT * FROM credit_ledger WHERE idempotency_key = $1", key
        )
    if existing is None:
        raise LookupError(business_id)
    if existing["business_id"] != business_id or existing["amount_micro"] != amount_micro:
        raise KeyReused(key)
    return dict(existing), False


async def account(business_id: uuid.UUID, recent: int = 20) -> dict[str, Any]:
    pool = await get_pool()
    async with pool.acquire() as conn:
        balance = await conn.fetchval(
            "SELECT balance_micro FROM businesses WHERE id = $1", business_id
        )
        reserved = await conn.fetchval(
            "SELECT coalesce(sum(amount_micro), 0)::bigint FROM credit_reservations"
            " WHERE business_id = $1 AND closed_at IS NULL AND expires_at > now()",
            business_id,
        )
        entries = await conn.fetch(
            "SELECT id, kind, amount_micro, balance_after_micro, idempotency_key, usage_events,"
            " note, created_at FROM credit_ledger WHERE business_id = $1 ORDER BY id DESC LIMIT $2",
            business_id, recent,
        )  # fmt: skip
    return {
        "balance_micro": balance,
        "reserved_micro": reserved,
        "available_micro": balance - reserved,
        "recent_entries": [dict(e) for e in entries],
    }
