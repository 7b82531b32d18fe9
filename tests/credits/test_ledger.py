"""Usage pricing, the credit ledger and admission: exact, once, and never overspent."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from genai_prices import Usage, calc_price

from shared_code import contracts
from shared_code.contracts import UsageRecorded
from shared_code.credits import ledger, pricing, usage_store
from shared_code.credits.usage_batches import UsageNotRecorded
from shared_code.platform.db import get_pool
from tests.helpers import app_function, cloud_event, create_business

SIGNUP = 5_000_000


async def assert_balances_match_ledgers() -> None:
    pool = await get_pool()
    rows = await pool.fetch(
        "SELECT b.id, b.balance_micro, coalesce(sum(l.amount_micro), 0) AS ledger"
        " FROM businesses b LEFT JOIN credit_ledger l ON l.business_id = b.id GROUP BY b.id"
    )
    assert rows and all(r["balance_micro"] == r["ledger"] for r in rows), rows
    # Each usage debit is exactly the events its batch newly recorded for that business.
    mismatched = await pool.fetch(
        "SELECT l.id FROM credit_ledger l WHERE l.kind = 'usage' AND -l.amount_micro <> ("
        " SELECT sum(u.cost_micro) FROM usage_events u"
        " WHERE u.batch_id = l.usage_batch_id AND u.business_id = l.business_id)"
    )
    assert mismatched == []
    undebited = await pool.fetchval(
        "SELECT count(*) FROM usage_events u WHERE u.cost_micro > 0 AND NOT EXISTS ("
        " SELECT 1 FROM credit_ledger l WHERE l.usage_batch_id = u.batch_id"
        " AND l.business_id = u.business_id)"
    )
    assert undebited == 0


async def reserve(business_id: uuid.UUID, amount_micro: int) -> uuid.UUID | None:
    pool = await get_pool()
    async with pool.acquire() as conn:
        return await ledger.reserve(business_id, amount_micro, conn)


async def release(reservation_id: uuid.UUID) -> None:
    pool = await get_pool()
    async with pool.acquire() as conn:
        await ledger.release(reservation_id, conn)


async def top_up(business_id: uuid.UUID, amount_micro: int, key: str) -> tuple[dict, bool]:
    pool = await get_pool()
    async with pool.acquire() as conn:
        return await ledger.credit(business_id, amount_micro, key, conn=conn)


def priced_event(event: dict) -> usage_store.PricedUsage:
    """An event as the usage logger prices it, once its door has parsed it."""
    return usage_store.price_event(event["id"], None, UsageRecorded.model_validate(event["data"]))


def usage_event(business_id, **data) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "source": "/nevermiss/sms_responder",
        "type": contracts.UsageRecorded.type,
        "specversion": "1.0",
        "time": datetime.now(UTC).isoformat(),
        "data": {"business_id": str(business_id), **data},
    }


def ai(business_id, model="gpt-4o-mini", inp=1000, cached=0, out=500, **extra) -> dict:
    return usage_event(
        business_id, kind="ai", model=model, input_tokens=inp, cached_tokens=cached,
        output_tokens=out, **extra,
    )  # fmt: skip


async def deliver(event: dict) -> None:
    await app_function("usage_logger")(cloud_event(event))


def genai_micro(model: str, inp: int, cached: int, out: int) -> int:
    usd = calc_price(
        Usage(input_tokens=inp, cache_read_tokens=cached, output_tokens=out), model,
        provider_id="openai",
    ).total_price  # fmt: skip
    return int((usd * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize(
    ("model", "inp", "cached", "out", "published"),
    [
        ("gpt-4o-mini", 1000, 0, 500, 450),  # $0.15/M in, $0.60/M out
        ("gpt-4o-mini", 1000, 200, 500, 435),  # 200 cached at $0.075/M
        ("gpt-4.1", 1000, 0, 500, 6000),  # $2/M in, $8/M out
        ("gpt-4.1", 1000, 400, 500, 5400),  # 400 cached at $0.50/M
    ],
)
def test_ai_prices_match_genai_prices_in_micro_usd(model, inp, cached, out, published):
    price = pricing.price_ai(model, inp, cached, out)
    assert price.cost_micro == genai_micro(model, inp, cached, out) == published
    assert price.priced_by == "genai-prices"


def test_unknown_model_is_priced_by_the_fallback_and_flagged_never_free():
    price = pricing.price_ai("my-private-finetune", 1000, 0, 500)
    assert price.priced_by == "fallback" and price.cost_micro == 5_000 + 7_500


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1", "my-private-finetune"])
def test_the_reservation_estimate_is_a_ceiling_for_any_prompt(model):
    for tokens in (1, 255, 256, 257, 1200, 4099):
        ceiling = pricing.estimate_ai_max(model, tokens, 200)
        assert ceiling >= 2 * pricing.price_ai(model, tokens, 0, 200).cost_micro > 0


def test_the_reservation_estimate_follows_a_change_of_fallback_rates(configure):
    before = pricing.estimate_ai_max("my-private-finetune", 1000, 200)
    configure(FALLBACK_INPUT_PRICE_PER_MTOK_MICRO="50000000")
    assert pricing.estimate_ai_max("my-private-finetune", 1000, 200) > before


def test_sms_is_priced_per_segment():
    assert pricing.price_sms(3).cost_micro == 3 * 8300


async def test_each_event_three_times_concurrently_is_one_row_and_one_debit(stack):
    business, _ = await create_business()
    batch = [ai(business.id) for _ in range(5)] + [
        usage_event(business.id, kind="sms", segments=2) for _ in range(5)
    ]
    await asyncio.gather(*(deliver(e) for e in batch for _ in range(3)))
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM usage_events") == 10
    expected = 5 * 450 + 5 * 2 * 8300
    debited = await pool.fetchval(
        "SELECT -sum(amount_micro) FROM credit_ledger WHERE kind = 'usage'"
    )
    assert debited == expected  # in as many debits as batches; each event in exactly one
    balance = await pool.fetchval("SELECT balance_micro FROM businesses")
    assert balance == SIGNUP - expected
    await assert_balances_match_ledgers()


async def test_cost_in_the_event_is_ignored(stack):
    business, _ = await create_business()
    await deliver(usage_event(business.id, kind="sms", segments=1, cost_micro=1, price=0))
    pool = await get_pool()
    assert await pool.fetchval("SELECT cost_micro FROM usage_events") == 8300


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "ai", "input_tokens": 10, "output_tokens": 5},  # no model
        {"kind": "sms"},  # no segments
        {"kind": "fax", "segments": 1},
        {"kind": "ai", "model": "gpt-4o-mini", "input_tokens": -1, "output_tokens": 5},
        {"kind": "ai", "model": "gpt-4o-mini", "input_tokens": 10, "cached_tokens": 11,
         "output_tokens": 5},
        {"kind": "sms", "segments": "many"},
        {"kind": "ai", "model": "gpt\x00", "input_tokens": 10, "output_tokens": 5},
        {"kind": "sms", "segments": 1, "latency_ms": 2**31},
    ],
)  # fmt: skip
async def test_malformed_events_are_rejected_and_nothing_written(stack, data):
    business, _ = await create_business()
    with pytest.raises(usage_store.MalformedUsageEvent):
        await deliver(usage_event(business.id, **data))
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM usage_events") == 0
    assert await pool.fetchval("SELECT balance_micro FROM businesses") == SIGNUP


async def test_event_without_business_or_with_a_bad_id_is_rejected(stack):
    await create_business()
    bad_id = ai(uuid.uuid4())
    bad_id["id"] = "not-a-uuid"
    with pytest.raises(usage_store.MalformedUsageEvent):
        await deliver(bad_id)
    with pytest.raises(usage_store.MalformedUsageEvent):
        await deliver(usage_event("nope", kind="sms", segments=1))
    with pytest.raises(UsageNotRecorded):
        await deliver(ai(uuid.uuid4()))  # well-formed, unknown business
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM usage_events") == 0


async def test_fifty_concurrent_reservations_never_overspend(stack, configure):
    configure(SIGNUP_CREDIT_MICRO="10000")
    business, _ = await create_business()
    results = await asyncio.gather(*(reserve(business.id, 1000) for _ in range(50)))
    assert sum(r is not None for r in results) == 10
    account = await ledger.account(business.id)
    assert account["reserved_micro"] == 10_000 and account["available_micro"] == 0


async def test_usage_settles_its_reservation_and_unused_ones_expire(stack, configure):
    configure(SIGNUP_CREDIT_MICRO="10000", RESERVATION_TTL_SECONDS="10")
    business, _ = await create_business()
    held = await reserve(business.id, 4000)
    assert (await ledger.account(business.id))["reserved_micro"] == 4000
    await deliver(ai(business.id, reservation_id=str(held)))
    account = await ledger.account(business.id)
    assert account["reserved_micro"] == 0 and account["balance_micro"] == 10_000 - 450
    stale = await reserve(business.id, 9000)
    assert stale is not None and await reserve(business.id, 1000) is None
    pool = await get_pool()
    await pool.execute("UPDATE credit_reservations SET expires_at = now() - interval '1 second'")
    assert await reserve(business.id, 9000) is not None  # the stale hold expired
    await release(held)  # releasing a settled reservation changes nothing
    await assert_balances_match_ledgers()


async def test_concurrent_batches_over_the_same_businesses_do_not_deadlock(stack):
    owners = [await create_business(phone_number=f"+1312555{7000 + n}") for n in range(6)]
    ids = [b.id for b, _ in owners]

    def batch(order):
        return [priced_event(ai(ids[i])) for i in order]

    orders = [list(range(6)), list(reversed(range(6))), [3, 1, 5, 0, 4, 2]] * 4
    batches = [batch(order) for order in orders]  # 12 batches of distinct events
    results = await asyncio.gather(*(usage_store.ingest(b) for b in batches))
    assert sum(r.inserted for r in results) == 72
    replay = await asyncio.gather(*(usage_store.ingest(b) for b in batches))
    assert sum(r.inserted for r in replay) == 0 and sum(r.duplicates for r in replay) == 72
    pool = await get_pool()
    balances = [
        r["balance_micro"] for r in await pool.fetch("SELECT balance_micro FROM businesses")
    ]
    assert balances == [SIGNUP - 12 * 450] * 6
    await assert_balances_match_ledgers()


async def test_credits_low_fires_once_per_crossing(stack, configure):
    configure(SIGNUP_CREDIT_MICRO="1010000", CREDITS_LOW_THRESHOLD_MICRO="1000000")
    business, _ = await create_business()
    for _ in range(3):  # 8300 each: crosses below $1.00 on the second
        await deliver(usage_event(business.id, kind="sms", segments=1))
    assert len(stack.topic.of_type(contracts.CreditsLow.type)) == 1
    await top_up(business.id, 50_000, "topup:t1")  # back above the threshold
    await deliver(usage_event(business.id, kind="sms", segments=10))
    lows = stack.topic.of_type(contracts.CreditsLow.type)
    assert len(lows) == 2 and lows[1]["data"]["balance_micro"] < 1_000_000
    await assert_balances_match_ledgers()


async def test_top_up_is_idempotent_per_key(stack):
    business, _ = await create_business()
    first, created = await top_up(business.id, 2_000_000, "topup:abc")
    again, created_again = await top_up(business.id, 2_000_000, "topup:abc")
    assert created and not created_again and first["id"] == again["id"]
    with pytest.raises(ledger.KeyReused):
        await top_up(business.id, 3_000_000, "topup:abc")
    assert (await ledger.account(business.id))["balance_micro"] == SIGNUP + 2_000_000
    await assert_balances_match_ledgers()
