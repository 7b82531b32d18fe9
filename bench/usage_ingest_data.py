"""The events `bench.usage_ingest` writes, and the tables it resets between runs.

What the events are and why is in bench/usage_ingest.py's docstring.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg


def raw_events(n: int, business_ids: list[uuid.UUID], rng: random.Random) -> list[tuple]:
    now = datetime.now(UTC)
    events = []
    for _ in range(n):
        data: dict[str, Any] = {"business_id": str(rng.choice(business_ids))}
        if rng.random() < 0.7:
            data |= {"kind": "sms", "segments": rng.randint(1, 3)}
        else:
            prompt = rng.randint(300, 6000)
            data |= {
                "kind": "ai",
                "model": "gpt-4o-mini",
                "input_tokens": prompt,
                "cached_tokens": rng.choice((0, 0, prompt // 2, prompt - prompt % 128)),
                "output_tokens": rng.randint(20, 600),
                "latency_ms": rng.randint(300, 4000),
                "conversation_id": str(uuid.uuid4()),
            }
        occurred = now - timedelta(seconds=rng.randint(0, 30 * 86400))
        events.append((str(uuid.uuid4()), occurred, data))
    return events


def event_row(u: Any) -> tuple:
    """The usage_events row for a PricedUsage, column for column as `usage_ingest` writes it;
    batch_id is the event's own id: one event per batch, as the naive handler debits."""
    return (*u.row, u.event_id)


async def reset(conn: asyncpg.Connection, business_ids: list[uuid.UUID]) -> None:
    """Empty the ledger and give every business its signup credit again, as create_business."""
    from shared_code.credits import ledger
    from shared_code.platform.settings import get_settings

    await conn.execute("TRUNCATE credit_ledger, usage_events")
    await conn.execute("DELETE FROM outbox")
    await conn.execute("UPDATE businesses SET balance_micro = 0, credits_low_since = NULL")
    signup = get_settings().signup_credit_micro
    for bid in business_ids:
        await ledger.credit(bid, signup, f"signup:{bid}", "adjustment", "signup credit", conn=conn)
    # Not ANALYZE on the emptied tables: plans cached while they look empty (the foreign-key
    # checks' among them) then scan them whole on every row as they grow, until autoanalyze.
    await conn.execute("VACUUM ANALYZE businesses")
    await conn.execute("CHECKPOINT")


async def settle(conn: asyncpg.Connection) -> None:
    await conn.execute("VACUUM ANALYZE businesses, usage_events, credit_ledger")
    await conn.execute("CHECKPOINT")
