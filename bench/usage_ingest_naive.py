"""The baselines `bench.usage_ingest` compares the batch path with: the naive way, per event.

What each does and why is in bench/usage_ingest.py's docstring (naive).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from shared_code.credits.usage_store import COLUMNS

if TYPE_CHECKING:
    from shared_code.credits.usage_store import PricedUsage

_NAIVE_USAGE = f"""
INSERT INTO usage_events ({", ".join(COLUMNS)})
VALUES ({", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))})
ON CONFLICT (event_id) DO NOTHING RETURNING 1
"""
_NAIVE_DEBIT = (
    "UPDATE businesses SET balance_micro = balance_micro - $2 WHERE id = $1 RETURNING balance_micro"
)
_NAIVE_ENTRY = (
    "INSERT INTO credit_ledger (business_id, idempotency_key, kind, amount_micro,"
    " balance_after_micro, usage_batch_id, usage_events) VALUES ($1, $2, 'usage', $3, $4, $5, 1)"
)
_INSERT_ONLY = f"""
INSERT INTO bench_insert ({", ".join(COLUMNS)})
VALUES ({", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))})
"""


async def naive_handler(
    pool: asyncpg.Pool, naive: list[PricedUsage], naive_rows: list[tuple]
) -> int:
    """Per event, one transaction: the usage row, the balance debit and, if it costs, its entry."""
    async with pool.acquire() as conn:
        for u, row in zip(naive, naive_rows, strict=True):
            async with conn.transaction():
                if await conn.fetchval(_NAIVE_USAGE, *row) is None:
                    continue
                after = await conn.fetchval(_NAIVE_DEBIT, u.data.business_id, u.cost_micro)
                if u.cost_micro > 0:
                    await conn.execute(
                        _NAIVE_ENTRY, u.data.business_id, f"usage:{u.event_id}",
                        -u.cost_micro, after, u.event_id,
                    )  # fmt: skip
    return len(naive_rows)


async def insert_only(pool: asyncpg.Pool, naive_rows: list[tuple]) -> int:
    """One autocommit INSERT per event into bench_insert, no ledger."""
    async with pool.acquire() as conn:
        for row in naive_rows:
            await conn.execute(_INSERT_ONLY, *row)
    return len(naive_rows)
