"""The baseline `bench.streaks` times: the naive per-business job.

One transaction per business, the day computed in Python with the same rules; see
bench/streaks.py's docstring (baseline) for how it is sampled, timed and extrapolated.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from bench.streaks_data import EVENT_TYPE, Business, Rules, advance, event_id, grant_key

# What the naive per-business job runs, one transaction per business.
_LOOP_READ = """
SELECT s.next_day, s.current, s.longest, s.freezes, s.run_days, b.balance_micro,
       ($2::timestamptz AT TIME ZONE b.time_zone)::date AS today,
       EXISTS (SELECT 1 FROM activity_days a
               WHERE a.business_id = s.business_id AND a.day = s.next_day) AS active
FROM streaks s JOIN businesses b ON b.id = s.business_id
WHERE s.business_id = $1
FOR UPDATE
"""
_LOOP_STREAK = """
UPDATE streaks SET current = $3, longest = $4, freezes = $5, run_days = $6,
    next_day = next_day + 1, settled_at = now(),
    due_at = (next_day + 2)::timestamp AT TIME ZONE (SELECT time_zone FROM businesses WHERE id = $1)
WHERE business_id = $1 AND next_day = $2
"""
_LOOP_BALANCE = """
UPDATE businesses SET balance_micro = balance_micro + $2,
    credits_low_since = CASE WHEN balance_micro + $2 < $3 THEN credits_low_since END
WHERE id = $1 RETURNING balance_micro
"""
_LOOP_ENTRY = """
INSERT INTO credit_ledger (business_id, idempotency_key, kind, amount_micro,
                           balance_after_micro, note)
VALUES ($1, $2, 'reward', $3, $4, $5)
"""
_LOOP_EVENT = """
INSERT INTO outbox (id, type, source, subject, data) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO NOTHING
"""


async def naive_loop(
    conn: asyncpg.Connection, sample: list[Business], as_of: datetime, rules: Rules, low: int
) -> int:
    """The naive per-business job: read, compute in Python, write; one transaction each."""
    settled = 0
    for b in sample:
        async with conn.transaction():
            row = await conn.fetchrow(_LOOP_READ, b.id, as_of)
            if row is None or row["next_day"] >= row["today"]:
                continue
            day = row["next_day"]
            state = (row["current"], row["longest"], row["freezes"], row["run_days"])
            (current, longest, freezes, run_days), grants = advance(state, row["active"], rules)
            status = await conn.execute(
                _LOOP_STREAK, b.id, day, current, longest, freezes, run_days
            )
            if status != "UPDATE 1":
                continue
            settled += 1
            if not grants:
                continue
            total = sum(amount for _, amount in grants)
            balance = await conn.fetchval(_LOOP_BALANCE, b.id, total, low) - total
            for kind, amount in sorted(grants):
                balance += amount
                key = grant_key(b.id, day, kind)
                note = f"streak {kind} (day {current}, {day})"
                await conn.execute(_LOOP_ENTRY, b.id, key, amount, balance, note)
                await conn.execute(
                    _LOOP_EVENT, event_id(key), EVENT_TYPE, "/nevermiss/streak_rewards",
                    f"businesses/{b.id}/streak",
                    {"business_id": str(b.id), "day": day.isoformat(), "kind": kind,
                     "amount_micro": amount, "streak": current},
                )  # fmt: skip
    return settled
