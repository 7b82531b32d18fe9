"""Many conversations answered at once must not exhaust the connection pool: no task holds one
connection while waiting for another."""

from __future__ import annotations

import asyncio

from tests.helpers import create_business, drain_messages_queue, text_in


async def _burst_of_customers(stack, n: int) -> None:
    business, _ = await create_business()
    customers = [f"+1312200{n_:04d}" for n_ in range(n)]
    for customer in customers:
        await text_in(customer, business.phone_number, "my sink is leaking")
    await asyncio.wait_for(drain_messages_queue(concurrently=True), timeout=60)
    assert all(len(stack.twilio.to(c)) == 1 for c in customers)


async def test_thirty_two_replies_at_once_with_the_scripted_intake(stack):
    await _burst_of_customers(stack, 32)


async def test_thirty_two_replies_at_once_with_the_model_and_credit_holds(stack, configure):
    configure(OPENAI_API_KEY=stack.openai.api_key)
    await _burst_of_customers(stack, 32)


async def test_thirty_two_replies_at_once_in_the_sandbox(stack, configure):
    configure(TWILIO_ACCOUNT_SID="")
    from shared_code.platform.db import get_pool

    business, _ = await create_business()
    for n in range(32):
        await text_in(f"+1312200{n:04d}", business.phone_number, "hello")
    await asyncio.wait_for(drain_messages_queue(concurrently=True), timeout=60)
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(DISTINCT to_number) FROM sandbox_messages") == 32
