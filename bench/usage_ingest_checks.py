"""What `bench.usage_ingest` asserts after every run, and the state the replay must not change.

The invariants are listed in bench/usage_ingest.py's docstring.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg


async def check_ledger(
    conn: asyncpg.Connection, expected: dict[uuid.UUID, int], events: int, entries: int
) -> dict[str, int]:
    """Assert the ledger invariants against figures computed in Python; returns the counts."""
    rows = await conn.fetch(
        "SELECT b.id, b.balance_micro, coalesce(sum(l.amount_micro), 0)::bigint AS ledger"
        " FROM businesses b LEFT JOIN credit_ledger l ON l.business_id = b.id GROUP BY b.id"
    )
    off_ledger = sum(r["balance_micro"] != r["ledger"] for r in rows)
    off_expected = sum(r["balance_micro"] != expected[r["id"]] for r in rows)
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM usage_events) AS usage_events,"
        " (SELECT count(*) FROM credit_ledger WHERE kind = 'usage') AS usage_entries,"
        " (SELECT count(*) FROM credit_ledger) AS entries,"
        " (SELECT count(DISTINCT idempotency_key) FROM credit_ledger) AS distinct_keys,"
        " (SELECT count(*) FROM credit_ledger l LEFT JOIN (SELECT batch_id, business_id,"
        "   sum(cost_micro) AS cost FROM usage_events GROUP BY 1, 2) u"
        "   ON u.batch_id = l.usage_batch_id AND u.business_id = l.business_id"
        "   WHERE l.kind = 'usage' AND -l.amount_micro IS DISTINCT FROM u.cost) AS wrong_amount,"
        " (SELECT count(*) FROM (SELECT DISTINCT batch_id, business_id FROM usage_events"
        "   WHERE cost_micro > 0) u LEFT JOIN credit_ledger l ON l.usage_batch_id = u.batch_id"
        "   AND l.business_id = u.business_id WHERE l.id IS NULL) AS undebited,"
        " (SELECT count(*) FROM (SELECT balance_after_micro, sum(amount_micro) OVER"
        "   (PARTITION BY business_id ORDER BY id) AS running FROM credit_ledger) c"
        "   WHERE c.balance_after_micro <> c.running) AS broken_chain"
    )
    assert counts is not None
    result = {
        "businesses_balance_ne_ledger_sum": off_ledger,
        "businesses_balance_ne_expected": off_expected,
        **dict(counts),
    }
    assert off_ledger == 0 and off_expected == 0, result
    # One debit per business per batch now, so count coverage rather than entries.
    assert counts["usage_events"] == events and counts["undebited"] == 0, result
    del entries
    assert counts["entries"] == counts["distinct_keys"], result
    assert counts["wrong_amount"] == 0 and counts["broken_chain"] == 0, result
    return result


async def snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    balances = await conn.fetch(
        "SELECT id, balance_micro, credits_low_since FROM businesses ORDER BY id"
    )
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM usage_events) AS usage_events,"
        " (SELECT count(*) FROM credit_ledger) AS credit_ledger,"
        " (SELECT max(id) FROM credit_ledger) AS max_ledger_id,"
        " (SELECT count(*) FROM outbox) AS outbox"
    )
    return {"balances": [tuple(r) for r in balances], "counts": dict(counts or {})}
