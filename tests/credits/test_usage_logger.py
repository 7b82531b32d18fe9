"""The usage logger function: a burst of invocations shares batches, each learns its outcome."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared_code.credits import usage_store
from shared_code.credits.usage_batches import UsageNotRecorded
from shared_code.platform.db import get_pool
from tests.credits.test_ledger import (
    SIGNUP,
    ai,
    assert_balances_match_ledgers,
    deliver,
    usage_event,
)
from tests.helpers import create_business


async def usage_entries() -> int:
    pool = await get_pool()
    return int(await pool.fetchval("SELECT count(*) FROM credit_ledger WHERE kind = 'usage'"))


async def test_a_burst_of_invocations_is_written_in_shared_batches(stack):
    business, _ = await create_business()
    burst = [ai(business.id) for _ in range(60)]
    await asyncio.gather(*(deliver(e) for e in burst))
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM usage_events") == 60
    assert await pool.fetchval("SELECT balance_micro FROM businesses") == SIGNUP - 60 * 450
    # One debit per batch for the one business: 60 would mean one write per invocation.
    assert await usage_entries() < 10
    await assert_balances_match_ledgers()


async def test_a_burst_delivered_three_times_at_once_records_each_event_once(stack):
    business, _ = await create_business()
    burst = [usage_event(business.id, kind="sms", segments=1) for _ in range(30)]
    await asyncio.gather(*(deliver(e) for e in burst * 3))
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM usage_events") == 30
    assert await pool.fetchval("SELECT balance_micro FROM businesses") == SIGNUP - 30 * 8300
    await assert_balances_match_ledgers()


async def test_an_unknown_business_fails_only_its_own_invocation(stack):
    business, _ = await create_business()
    stranger = ai(uuid.uuid4())
    burst = [ai(business.id) for _ in range(10)]
    outcomes = await asyncio.gather(
        *(deliver(e) for e in [*burst[:5], stranger, *burst[5:]]), return_exceptions=True
    )
    assert [type(o) for o in outcomes] == [type(None)] * 5 + [UsageNotRecorded] + [type(None)] * 5
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM usage_events") == 10
    await assert_balances_match_ledgers()


async def test_a_batch_that_fails_is_retried_event_by_event(stack, monkeypatch):
    """A write that fails for one event (injected here) must not fail the events batched
    with it: the batch is retried one event at a time and only that event's invocation fails."""
    business, _ = await create_business()
    burst = [ai(business.id) for _ in range(12)]
    poison = uuid.UUID(burst[7]["id"])
    real_ingest = usage_store.ingest

    async def failing_for_poison(batch):
        if any(u.event_id == poison for u in batch):
            raise RuntimeError("this event cannot be written")
        return await real_ingest(batch)

    monkeypatch.setattr(usage_store, "ingest", failing_for_poison)
    outcomes = await asyncio.gather(*(deliver(e) for e in burst), return_exceptions=True)
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, Exception)]
    assert failed == [7] and "cannot be written" in str(outcomes[7])
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM usage_events") == 11
    await assert_balances_match_ledgers()


@pytest.mark.parametrize("times", [1, 2])
async def test_a_lone_event_is_written_at_once(stack, times):
    """No waiting for company: the first event of a quiet period goes in its own batch."""
    business, _ = await create_business()
    for _ in range(times):
        await deliver(ai(business.id))
    assert await usage_entries() == times
