"""Usage events in, priced usage rows and ledger debits out: exactly once per event id.

Rules, each held by the database:
- one usage row per event id (primary key);
- a batch locks its businesses in id order first, so concurrent batches over the same
  businesses queue up instead of deadlocking;
- each batch debits each business once, for the events it newly inserted, in the statement that
  writes that debit's ledger entry (key `usage:<batch>:<business>`), in the same transaction,
  through the ledger's one balance change (`ledger.balance_change`);
- a batch that takes a business below the low-credit threshold records `nevermiss.credits.low`
  in the same unit of work.

Two ways in, one outcome. A small batch (a single event, usually) is one statement: unnest +
INSERT ... ON CONFLICT DO NOTHING RETURNING, feeding the debit. A large batch (a burst) is
COPYed instead, because an INSERT writes one WAL record per row and COPY one per page: at 5000
rows COPY took the batch from ~0.3x to ~0.5x of a raw COPY's rate (bench/usage_ingest). COPY has
no ON CONFLICT. A burst is new events, so the COPY is tried as it is; if the primary key refuses
it (a redelivered event), the savepoint rolls it back, the ids already recorded are read (exact,
because an event belongs to one business and the business rows are locked) and the others are
COPYed. Should that collide too (an id reused under another business, say) the batch takes the
statement path: the key, not the read, is what keeps one row per event.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from shared_code.contracts import Event, UsageRecorded
from shared_code.credits import pricing
from shared_code.credits.ledger import balance_change, credits_low_event
from shared_code.platform.settings import get_settings
from shared_code.platform.work import Work, work

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/usage_logger"

# From this many events a batch is COPYed (below it the extra round trips cost more than COPY
# saves: measured by bench/usage_ingest at batch sizes 100, 1000 and 5000).
COPY_MIN_BATCH = 500

COLUMNS = (
    "event_id", "business_id", "kind", "model", "input_tokens", "cached_tokens",
    "output_tokens", "segments", "latency_ms", "conversation_id", "reservation_id",
    "cost_micro", "priced_by", "occurred_at", "audio_seconds", "batch_id",
)  # fmt: skip
_RESERVATION, _COST = COLUMNS.index("reservation_id"), COLUMNS.index("cost_micro")


class MalformedUsageEvent(ValueError):
    """Rejected before anything is written; the trigger lets it dead-letter."""


@dataclass(frozen=True)
class PricedUsage:
    event_id: uuid.UUID
    occurred_at: datetime
    data: UsageRecorded
    cost_micro: int
    priced_by: str
    # Its usage_events row in COLUMNS order, batch_id apart: built once, when it is priced.
    row: tuple[Any, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d = self.data
        row = (
            self.event_id, d.business_id, d.kind, d.model, d.input_tokens,
            d.cached_tokens if d.kind == "ai" else None, d.output_tokens, d.segments,
            d.latency_ms, d.conversation_id, d.reservation_id, self.cost_micro, self.priced_by,
            self.occurred_at, d.audio_seconds if d.kind == "transcription" else None,
        )  # fmt: skip
        object.__setattr__(self, "row", row)


def price_event(event_id: str, occurred_at: datetime | None, usage: Event) -> PricedUsage:
    """The usage row of a delivered event (parsed at the door: `contracts.parse_event`).
    Raises MalformedUsageEvent when the event's id is not a uuid (the row's key) or it is not
    a usage event."""
    try:
        eid = uuid.UUID(str(event_id))
    except ValueError as exc:
        raise MalformedUsageEvent(f"usage event {event_id!r} rejected: {exc}") from exc
    if not isinstance(usage, UsageRecorded):
        raise MalformedUsageEvent(f"event {event_id!r} is a {usage.type}, not a usage event")
    if usage.kind == "ai":
        assert usage.model and usage.input_tokens is not None and usage.output_tokens is not None
        price = pricing.price_ai(
            usage.model, usage.input_tokens, usage.cached_tokens, usage.output_tokens
        )
    elif usage.kind == "transcription":
        price = pricing.price_transcription(usage.audio_seconds or 0)
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
    crossed_low: list[uuid.UUID] = field(default_factory=list)  # went below the threshold now


def _debit(threshold: str, batch: str) -> str:
    """The debit, shared by both ways in: the CTEs after `totals` (business_id, total, events)
    and `settled`, which the statement defines first. The balance moves by the ledger's one
    change; its entry is written from the closing balance that change returns, and `crossed`
    is each business it took below the threshold (marked now, unmarked before)."""
    return (
        """
before AS (
    SELECT b.id, b.credits_low_since FROM businesses b JOIN totals t ON t.business_id = b.id
),
debits AS (SELECT business_id, -total AS delta, total, events FROM totals),
"""
        + balance_change("updated", deltas="debits", threshold=threshold)
        + f""",
ledger AS (
    INSERT INTO credit_ledger (business_id, idempotency_key, kind, amount_micro,
                               balance_after_micro, usage_batch_id, usage_events)
    SELECT u.id, 'usage:' || {batch}::uuid || ':' || u.id, 'usage', -u.total, u.balance_micro,
           {batch}::uuid, u.events
    FROM updated u WHERE u.total > 0
    RETURNING 1
),
crossed AS (
    SELECT u.id, u.credits_low_since FROM updated u JOIN before b ON b.id = u.id
    WHERE u.credits_low_since IS NOT NULL AND b.credits_low_since IS NULL
)
"""
    )


_CROSSED = """
    (SELECT count(*) FROM settled) AS settled,
    (SELECT count(*) FROM ledger) AS entries,
    (SELECT coalesce(array_agg(id), '{}') FROM crossed) AS crossed,
    (SELECT coalesce(array_agg(credits_low_since), '{}') FROM crossed) AS crossed_at
"""

# Small batches: insert and debit in one statement; only rows it inserted reach the debit.
_INGEST = (
    """
WITH input AS (
    SELECT * FROM unnest(
        $1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[],
        $8::int[], $9::int[], $10::uuid[], $11::uuid[], $12::bigint[], $13::text[],
        $14::timestamptz[], $15::int[]
    ) AS t(event_id, business_id, kind, model, input_tokens, cached_tokens, output_tokens,
           segments, latency_ms, conversation_id, reservation_id, cost_micro, priced_by,
           occurred_at, audio_seconds)
    WHERE business_id = ANY($17::uuid[])
),
inserted AS (
    INSERT INTO usage_events (event_id, business_id, kind, model, input_tokens, cached_tokens,
        output_tokens, segments, latency_ms, conversation_id, reservation_id, cost_micro,
        priced_by, occurred_at, audio_seconds, batch_id)
    SELECT *, $18::uuid FROM input
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
),"""
    + _debit(threshold="$16", batch="$18")
    + "SELECT (SELECT count(*) FROM inserted) AS inserted,"
    + _CROSSED
)

# Large batches, after the COPY: debit the totals of exactly the rows the COPY wrote.
_DEBIT_COPIED = (
    """
WITH totals AS (
    SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::int[]) AS t(business_id, total, events)
),
settled AS (
    UPDATE credit_reservations SET closed_at = now()
    WHERE id = ANY($4::uuid[]) AND closed_at IS NULL
    RETURNING id
),"""
    + _debit(threshold="$5", batch="$6")
    + "SELECT"
    + _CROSSED
)


def _columns(batch: list[PricedUsage]) -> list[list[Any]]:
    """The statement's parameters: one array per column, batch_id apart."""
    return [list(column) for column in zip(*(u.row for u in batch), strict=True)]


async def ingest(batch: list[PricedUsage]) -> IngestResult:
    """Record a batch of priced usage and debit it, businesses locked in id order, in one unit
    of work: its credits.low events are published after it commits."""
    if not batch:
        return IngestResult()
    async with work(SOURCE) as w:
        result = await _record(w, batch)
    if result.unknown_business:
        log.error("usage for unknown businesses skipped: %s", result.unknown_business)
    return result


async def _record(w: Work, batch: list[PricedUsage]) -> IngestResult:
    conn = w.conn
    # Sets and dicts below key on uuid.int: hashing a UUID object runs Python code, and a
    # burst hashes each event's ids several times.
    owners = {u.row[1].int: u.row[1] for u in batch}
    business_ids = sorted(owners.values())
    threshold = get_settings().credits_low_threshold_micro
    known = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM businesses WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
            business_ids,
        )
    ]
    known_ints = {k.int for k in known}
    row = None
    if len(batch) >= COPY_MIN_BATCH:
        row = await _copy_and_debit(conn, batch, known_ints, threshold)
    if row is None:
        row = await conn.fetchrow(_INGEST, *_columns(batch), threshold, known, uuid.uuid4())
    assert row is not None
    result = IngestResult(
        inserted=row["inserted"],
        duplicates=sum(u.row[1].int in known_ints for u in batch) - row["inserted"],
        unknown_business=[b for b in business_ids if b.int not in known_ints],
        crossed_low=list(row["crossed"]),
    )
    for business_id, since in zip(row["crossed"], row["crossed_at"], strict=True):
        await credits_low_event(w, business_id, since, "low")
    return result


async def _copy_and_debit(
    conn: asyncpg.Connection, batch: list[PricedUsage], known: set[int], threshold: int
) -> dict[str, Any] | None:
    """The large-batch way: COPY the new rows, then debit their totals. None when the COPY
    collided twice (nothing written; the caller takes the statement)."""
    batch_id = uuid.uuid4()
    new = _new_rows(batch, known, set(), batch_id)
    if new.records and not await _copied(conn, new.records):
        log.info("usage batch holds events already recorded: copying the others")
        new = _new_rows(batch, known, await _recorded(conn, batch), batch_id)
        if new.records and not await _copied(conn, new.records):
            log.warning("usage batch collided with rows recorded meanwhile: taking the statement")
            return None
    if not new.records:
        return {"inserted": 0, "crossed": [], "crossed_at": []}
    businesses, totals, counts = zip(*new.per_business.values(), strict=True)
    row = await conn.fetchrow(
        _DEBIT_COPIED, businesses, totals, counts, new.reservations, threshold, batch_id
    )
    assert row is not None
    return {"inserted": len(new.records), **dict(row)}


async def _copied(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> bool:
    """COPY the rows in a savepoint; False (nothing written) if the primary key refuses one."""
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("usage_events", records=records, columns=COLUMNS)
    except asyncpg.UniqueViolationError:
        return False
    return True


async def _recorded(conn: asyncpg.Connection, batch: list[PricedUsage]) -> set[int]:
    """The batch's event ids already in usage_events (as uuid.int)."""
    rows = await conn.fetch(
        # A join, not = ANY: with thousands of ids the planner chose a scan of the table.
        "SELECT u.event_id FROM unnest($1::uuid[]) AS i(id)"
        " JOIN usage_events u ON u.event_id = i.id",
        [u.event_id for u in batch],
    )
    return {r["event_id"].int for r in rows}


@dataclass
class _NewRows:
    records: list[tuple[Any, ...]] = field(default_factory=list)
    # business_id.int -> [business_id, total cost, events]
    per_business: dict[int, list[Any]] = field(default_factory=dict)
    reservations: list[uuid.UUID] = field(default_factory=list)


def _new_rows(
    batch: list[PricedUsage], known: set[int], recorded: set[int], batch_id: uuid.UUID
) -> _NewRows:
    """The rows to COPY: each event once (the first of two copies wins, as ON CONFLICT would),
    not already recorded, of a business that exists; with the totals the debit needs."""
    new = _NewRows()
    seen = set(recorded)
    tail = (batch_id,)
    records, per_business = new.records, new.per_business
    for u in batch:
        row = u.row  # COLUMNS order: event_id, business_id, ... reservation_id, cost_micro, ...
        event_id, business = row[0].int, row[1].int
        if event_id in seen or business not in known:
            continue
        seen.add(event_id)
        records.append(row + tail)
        tally = per_business.get(business)
        if tally is None:
            tally = per_business[business] = [row[1], 0, 0]
        tally[1] += row[_COST]
        tally[2] += 1
        if row[_RESERVATION] is not None:
            new.reservations.append(row[_RESERVATION])
    return new
