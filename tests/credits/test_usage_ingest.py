"""Batch ingest: the statement way and the COPY way record and debit exactly the same."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from shared_code.credits import ledger, usage_store
from shared_code.platform.db import get_pool
from tests.credits.test_ledger import (
    SIGNUP,
    ai,
    assert_balances_match_ledgers,
    priced_event,
    reserve,
    usage_event,
)
from tests.helpers import create_business

WAYS = {"statement": 10**9, "copy": 1}


@pytest.fixture(params=sorted(WAYS))
def way(request, monkeypatch) -> str:
    """Run the test once per way in: COPY_MIN_BATCH decides which one a batch takes."""
    monkeypatch.setattr(usage_store, "COPY_MIN_BATCH", WAYS[request.param])
    return str(request.param)


def priced(events: list[dict]) -> list[usage_store.PricedUsage]:
    return [priced_event(e) for e in events]


async def balances(*business_ids: uuid.UUID) -> list[int]:
    pool = await get_pool()
    return [
        await pool.fetchval("SELECT balance_micro FROM businesses WHERE id = $1", b)
        for b in business_ids
    ]


async def test_a_mixed_batch_records_new_events_once_and_skips_the_rest(stack, way, caplog):
    """Already recorded, repeated within the batch, unknown business: each handled alike."""
    (a, _), (b, _) = await create_business(), await create_business(phone_number="+13125557001")
    earlier = priced([ai(a.id) for _ in range(3)])
    assert (await usage_store.ingest(earlier)).inserted == 3
    fresh = priced([ai(a.id, inp=2000) for _ in range(4)] + [
        usage_event(b.id, kind="sms", segments=2) for _ in range(5)
    ])  # fmt: skip
    stranger = priced([usage_event(uuid.uuid4(), kind="sms", segments=1)])
    batch = earlier + fresh + fresh[:2] + stranger

    result = await usage_store.ingest(batch)

    assert "collided" not in caplog.text  # the COPY way skipped them itself
    assert result.inserted == 9 and result.duplicates == 5
    assert result.unknown_business == [stranger[0].data.business_id]
    a_cost = 3 * 450 + 4 * usage_store.pricing.price_ai("gpt-4o-mini", 2000, 0, 500).cost_micro
    assert await balances(a.id, b.id) == [SIGNUP - a_cost, SIGNUP - 5 * 2 * 8300]
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM usage_events") == 12
    # One debit per business for this batch, each equal to the events it newly inserted.
    assert await pool.fetchval("SELECT count(*) FROM credit_ledger WHERE kind = 'usage'") == 3
    await assert_balances_match_ledgers()

    replay = await usage_store.ingest(batch)
    assert replay.inserted == 0 and replay.duplicates == 14
    assert await balances(a.id, b.id) == [SIGNUP - a_cost, SIGNUP - 5 * 2 * 8300]


async def test_concurrent_overlapping_batches_record_each_event_once(stack, way):
    """Three workers take the same events in different orders: one row, one debit each."""
    owners = [await create_business(phone_number=f"+1312555{7100 + n}") for n in range(4)]
    events = priced([ai(b.id) for b, _ in owners for _ in range(30)])
    orders = [events, events[::-1], events[60:] + events[:60]]
    results = await asyncio.gather(*(usage_store.ingest(o) for o in orders))
    assert sum(r.inserted for r in results) == 120
    assert sum(r.duplicates for r in results) == 240
    assert await balances(*(b.id for b, _ in owners)) == [SIGNUP - 30 * 450] * 4
    await assert_balances_match_ledgers()


async def test_a_batch_settles_the_reservations_its_events_carry(stack, way, configure):
    configure(SIGNUP_CREDIT_MICRO="10000")
    business, _ = await create_business()
    held = await reserve(business.id, 9000)
    assert held is not None and await reserve(business.id, 2000) is None
    await usage_store.ingest(priced([ai(business.id, reservation_id=str(held))]))
    assert (await ledger.account(business.id))["reserved_micro"] == 0
    assert await reserve(business.id, 2000) is not None


async def test_a_batch_crossing_the_low_threshold_signals_once(stack, way, configure):
    configure(SIGNUP_CREDIT_MICRO="1010000", CREDITS_LOW_THRESHOLD_MICRO="1000000")
    business, _ = await create_business()
    first = await usage_store.ingest(priced([usage_event(business.id, kind="sms", segments=2)]))
    pool = await get_pool()
    lows = "SELECT count(*) FROM outbox WHERE type = 'nevermiss.credits.low'"
    assert first.crossed_low == [business.id] and await pool.fetchval(lows) == 1
    second = await usage_store.ingest(priced([usage_event(business.id, kind="sms", segments=2)]))
    assert second.crossed_low == [] and await pool.fetchval(lows) == 1


_FOREIGN_ROW = (
    "INSERT INTO usage_events (event_id, business_id, kind, segments, cost_micro, priced_by,"
    " occurred_at, batch_id) VALUES ($1, $2, 'sms', 1, 8300, 'sms-rate', now(), gen_random_uuid())"
)


async def _copy_waits_on_a_lock(pool, ingesting: asyncio.Task) -> None:
    while not await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE 'COPY%usage_events%'"
    ):
        assert not ingesting.done(), ingesting.result()
        await asyncio.sleep(0.01)


async def _owner_of(event_id: uuid.UUID) -> list[uuid.UUID]:
    pool = await get_pool()
    rows = await pool.fetch("SELECT business_id FROM usage_events WHERE event_id = $1", event_id)
    return [r["business_id"] for r in rows]


async def test_a_refused_copy_reads_what_is_recorded_and_copies_the_rest(
    stack, caplog, monkeypatch
):
    """An id being written under another business (whose lock the batch does not hold) when
    the COPY starts: the primary key refuses the COPY, the read then sees the id, and the other
    events are COPYed."""
    monkeypatch.setattr(usage_store, "COPY_MIN_BATCH", 1)
    (a, _), (b, _) = await create_business(), await create_business(phone_number="+13125557002")
    batch = priced([ai(a.id) for _ in range(5)])
    pool = await get_pool()
    async with pool.acquire() as other:
        writer = other.transaction()
        await writer.start()
        await other.execute(_FOREIGN_ROW, batch[2].event_id, b.id)
        with caplog.at_level(logging.INFO, logger=usage_store.__name__):
            ingesting = asyncio.create_task(usage_store.ingest(batch))
            await _copy_waits_on_a_lock(pool, ingesting)
            await writer.commit()
            result = await ingesting
    assert "already recorded" in caplog.text and "collided" not in caplog.text
    assert result.inserted == 4 and result.duplicates == 1
    assert await balances(a.id) == [SIGNUP - 4 * 450]
    assert await _owner_of(batch[2].event_id) == [b.id]  # the other writer's row, untouched


async def test_a_copy_refused_twice_takes_the_statement_and_still_records_once(
    stack, caplog, monkeypatch
):
    """A second id appears under another business between the read and the second COPY: the
    key refuses that too, and the statement way records the rest without either."""
    monkeypatch.setattr(usage_store, "COPY_MIN_BATCH", 1)
    (a, _), (b, _) = await create_business(), await create_business(phone_number="+13125557002")
    batch = priced([ai(a.id) for _ in range(5)])
    pool = await get_pool()
    async with pool.acquire() as first, pool.acquire() as second:
        writer = first.transaction()
        await writer.start()
        await first.execute(_FOREIGN_ROW, batch[1].event_id, b.id)
        late = second.transaction()
        await late.start()
        await second.execute(_FOREIGN_ROW, batch[3].event_id, b.id)
        with caplog.at_level(logging.INFO, logger=usage_store.__name__):
            ingesting = asyncio.create_task(usage_store.ingest(batch))
            await _copy_waits_on_a_lock(pool, ingesting)  # the first COPY, on batch[1]
            await writer.commit()
            await asyncio.sleep(0.2)
            await _copy_waits_on_a_lock(pool, ingesting)  # the second, on batch[3]
            await late.commit()
            result = await ingesting
    assert "already recorded" in caplog.text and "collided" in caplog.text
    assert result.inserted == 3 and result.duplicates == 2
    assert await balances(a.id) == [SIGNUP - 3 * 450]
    assert await _owner_of(batch[1].event_id) == [b.id] == await _owner_of(batch[3].event_id)
