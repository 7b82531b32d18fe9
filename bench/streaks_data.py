"""The population `bench.streaks` settles: generated in Python, COPYed into PostgreSQL.

What the rows look like and why is in bench/streaks.py's docstring (Setup). Here too: the rules
in Python (`advance`), the ids a settle derives (`grant_key`, `event_id`), and the reset back to
the pre-settle state that the batch-size comparisons start from.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

ZONES = (
    "America/Los_Angeles",
    "America/New_York",
    "Asia/Kolkata",
    "Europe/London",
    "Pacific/Kiritimati",
)
ACTIVE_SHARE = 0.7
HISTORY_DAYS = 2
EVENT_TYPE = "nevermiss.streak.reward_granted"

BUSINESS_COLUMNS = ("id", "name", "phone_number", "time_zone", "created_at", "balance_micro")
STREAK_COLUMNS = (
    "business_id", "next_day", "due_at", "current", "longest", "freezes", "run_days",
)  # fmt: skip
LEDGER_COLUMNS = (
    "business_id", "idempotency_key", "kind", "amount_micro", "balance_after_micro", "note",
)  # fmt: skip
ACTIVITY_COLUMNS = ("business_id", "day", "first_activity_at")


@dataclass(frozen=True)
class Rules:
    every: int
    max_freezes: int
    daily: int
    milestones: dict[int, int]


@dataclass
class Business:
    id: uuid.UUID
    zone: str
    day: date  # the one due day: yesterday in its zone
    current: int
    longest: int
    freezes: int
    run_days: int
    active: bool


Grant = tuple[str, int]  # (kind, amount_micro)
State = tuple[int, int, int, int]  # (current, longest, freezes, run_days)


def advance(state: State, active: bool, rules: Rules) -> tuple[State, list[Grant]]:
    """One settled day, by the rules in the docstring of shared_code/credits/streaks.py."""
    current, longest, freezes, run_days = state
    frozen = not active and current > 0 and freezes > 0
    earns_freeze = active and run_days + 1 >= rules.every
    if active:
        current += 1
    elif not frozen:
        current = 0
    if earns_freeze:
        run_days, freezes = 0, min(freezes + 1, rules.max_freezes)
    elif active:
        run_days += 1
    elif frozen:
        freezes -= 1
    else:
        run_days = 0
    grants: list[Grant] = []
    if active and rules.daily > 0:
        grants.append(("daily", rules.daily))
    if active and rules.milestones.get(current, 0) > 0:
        grants.append((f"milestone:{current}", rules.milestones[current]))
    return (current, max(longest, current), freezes, run_days), grants


def grant_key(business_id: uuid.UUID, day: date, kind: str) -> str:
    return f"streak:{business_id}:{day.isoformat()}:{kind}"


def event_id(key: str) -> uuid.UUID:
    """The outbox id the settle statement derives: md5('<type>|<key>')::uuid."""
    return uuid.UUID(hashlib.md5(f"{EVENT_TYPE}|{key}".encode()).hexdigest())


def make_population(
    n: int, days: dict[str, date], rng: random.Random, rules: Rules
) -> list[Business]:
    businesses = []
    for i in range(n):
        zone = ZONES[i % len(ZONES)]
        roll = rng.random()
        if roll < 0.30:
            current = 0
        elif roll < 0.40:
            current = rules.every - 1  # an active day reaches the 7-day milestone
        elif roll < 0.43:
            current = 29
        elif roll < 0.44:
            current = 99
        else:
            current = rng.randint(1, 120)
        run_days = rng.randint(0, min(current, rules.every - 1))
        if current == rules.every - 1:
            run_days = current  # a fresh run: this active day also earns a freeze
        freezes = rng.randint(0, rules.max_freezes) if current else rng.choice((0, 0, 1))
        businesses.append(
            Business(
                id=uuid.UUID(int=rng.getrandbits(128), version=4),
                zone=zone,
                day=days[zone],
                current=current,
                longest=current + rng.choice((0, 0, rng.randint(1, 40))),
                freezes=freezes,
                run_days=run_days,
                active=rng.random() < ACTIVE_SHARE,
            )
        )
    return businesses


def expected(b: Business, rules: Rules) -> tuple[State, list[Grant]]:
    return advance((b.current, b.longest, b.freezes, b.run_days), b.active, rules)


def closes_at(day: date, zone: ZoneInfo) -> datetime:
    """When `day` ends in `zone` (what streaks.due_at holds): the next local midnight."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


async def load_population(
    conn: asyncpg.Connection,
    businesses: list[Business],
    phone_base: int,
    signup: int,
    created_at: datetime,
    as_of: datetime,
    rng: random.Random,
) -> dict[str, int]:
    """COPY the businesses, their signup entries, streaks and activity; returns row counts."""
    business_rows = [
        (b.id, f"Bench Business {i}", f"+1{phone_base + i}", b.zone, created_at, signup)
        for i, b in enumerate(businesses)
    ]
    ledger_rows = [
        (b.id, f"signup:{b.id}", "adjustment", signup, signup, "signup credit")
        for b in businesses
        if signup
    ]
    zones = {zone: ZoneInfo(zone) for zone in ZONES}
    streak_rows = [
        (b.id, b.day, closes_at(b.day, zones[b.zone]), b.current, b.longest, b.freezes, b.run_days)
        for b in businesses
    ]
    activity_rows = []
    for b in businesses:
        if b.active:
            activity_rows.append((b.id, b.day, as_of - timedelta(hours=12)))
        for back in range(1, HISTORY_DAYS + 1):
            if rng.random() < ACTIVE_SHARE:
                activity_rows.append(
                    (b.id, b.day - timedelta(days=back), as_of - timedelta(hours=12 + 24 * back))
                )
    # The rows are consistent by construction: skip the per-row foreign-key triggers.
    await conn.execute("SET session_replication_role = replica")
    try:
        await conn.copy_records_to_table(
            "businesses", records=business_rows, columns=BUSINESS_COLUMNS
        )
        await conn.copy_records_to_table(
            "credit_ledger", records=ledger_rows, columns=LEDGER_COLUMNS
        )
        await conn.copy_records_to_table("streaks", records=streak_rows, columns=STREAK_COLUMNS)
        await conn.copy_records_to_table(
            "activity_days", records=activity_rows, columns=ACTIVITY_COLUMNS
        )
    finally:
        await conn.execute("SET session_replication_role = DEFAULT")
    return {
        "businesses": len(business_rows),
        "credit_ledger": len(ledger_rows),
        "streaks": len(streak_rows),
        "activity_days": len(activity_rows),
    }


async def quiesce(conn: asyncpg.Connection) -> None:
    # Every table, the bench's own copy of the pre-state too: autovacuum must not pick one up
    # during a timed run.
    await conn.execute("VACUUM ANALYZE")
    await conn.execute("CHECKPOINT")


async def reset(conn: asyncpg.Connection, signup: int) -> None:
    """Back to the pre-settle state of the N businesses (saved in bench_streaks_pre)."""
    await conn.execute("TRUNCATE streaks")
    await conn.execute("INSERT INTO streaks SELECT * FROM bench_streaks_pre")
    await conn.execute("DELETE FROM credit_ledger WHERE kind = 'reward'")
    await conn.execute("TRUNCATE outbox")
    await conn.execute(
        "UPDATE businesses SET balance_micro = $1, credits_low_since = NULL"
        " WHERE balance_micro <> $1",
        signup,
    )
    await quiesce(conn)
