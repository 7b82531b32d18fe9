"""Streak settlement: one closed day for N businesses, set-based, beside a per-business loop.

Setup (timed on its own, not part of the target): N businesses (default 1,000,000) are written
straight into real PostgreSQL with COPY, not `create_business`: each with a phone number, one of
five IANA zones (UTC-8 to UTC+14, so "yesterday" is a different date in different zones), the
signup credit as balance and its `signup:<id>` ledger entry, a streak whose `next_day` is
yesterday in its own zone (varied state: 30% at 0, 10% on day 6 so an active day reaches the
7-day milestone, some at 29 and 99, freezes held 0-2, run_days 0-6), and activity on that day
for about 70% of them, plus HISTORY_DAYS earlier days of activity so the table is not just the
day being settled. Foreign-key triggers are off for the setup COPY only (the rows are
consistent by construction); every table is vacuumed, analyzed and checkpointed before timing.

Measured, in one run against real PostgreSQL (bench_stack; EVENTGRID_TOPIC_ENDPOINT is empty,
so publishing is skipped and only the outbox rows are written):

- set-based: `streaks.settle(as_of=now, batch_size=100_000)`, the production path (its default
  STREAK_SETTLE_WORKERS, 2: two connections on halves of the id space), with as_of
  chosen so exactly one day is due for every business. Wall time, days settled (must be N),
  grants and days/s. Then asserted: every business advanced exactly one day; for a random
  sample of CHECK_SAMPLE businesses the streak state, the reward ledger entries (key, amount,
  balance_after) and the outbox ids equal what `advance` (the rules, in Python) computes from
  the pre-state; totals of grants and reward amounts over all N equal the Python totals; and
  balance == sum(ledger) for every business.
- re-run: `settle` again with the same as_of must settle 0 days and change 0 rows: row counts
  of credit_ledger and outbox, a checksum of every streaks and businesses row
  (sum(hashtext(row::text))), and the tuples inserted/updated/deleted in pg_stat_user_tables
  are compared before and after.
- other batch sizes and worker counts: the state is reset to the pre-state (streaks restored
  from a copy, reward entries and outbox deleted, balances restored, vacuumed) and settled
  again with each of COMPARE_RUNS (batch size, workers); each must end in the same state
  checksum as the main run. Each costs a reset and another settle, so they run only when the
  main settle took under
  COMPARE_UNDER_SECONDS (keeps the whole run to a few minutes) or with `--compare`.
- baseline, the naive per-business job: on LOOP_SAMPLE fresh businesses of the same shape
  (added after the set-based runs, into the same tables), one transaction per business:
  SELECT its streak, balance and whether it was active that day (FOR UPDATE), compute the day
  in Python with the same rules, UPDATE streaks (guarded by next_day), UPDATE the balance once,
  INSERT each ledger entry and each outbox row. Timed, extrapolated linearly to N, and its
  end state checked against the Python rules for the whole sample. speedup =
  loop_seconds_extrapolated / set_based_seconds.

Targets (issue): the N = 1,000,000 settle in under 30 s on a 2-core machine, speedup >= 50,
re-run changes 0 rows. Run: `python -m bench.streaks [N] [--compare]` (default N 1000000);
writes bench/results/streaks.json.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from bench.stack import bench_stack

ZONES = (
    "America/Los_Angeles",
    "America/New_York",
    "Asia/Kolkata",
    "Europe/London",
    "Pacific/Kiritimati",
)
MAIN_BATCH = 100_000
COMPARE_RUNS = ((100_000, 1), (50_000, 2))
COMPARE_UNDER_SECONDS = 60.0
LOOP_SAMPLE = 10_000
LOOP_WARMUP = 200
CHECK_SAMPLE = 1_000
ACTIVE_SHARE = 0.7
HISTORY_DAYS = 2
TARGETS = {"settle_seconds_max": 30.0, "speedup_min": 50.0, "rerun_rows_changed": 0}
EVENT_TYPE = "nevermiss.streak.reward_granted"
STATS_FLUSH_SECONDS = 2.0

BUSINESS_COLUMNS = ("id", "name", "phone_number", "time_zone", "created_at", "balance_micro")
STREAK_COLUMNS = (
    "business_id", "next_day", "due_at", "current", "longest", "freezes", "run_days",
)  # fmt: skip
LEDGER_COLUMNS = (
    "business_id", "idempotency_key", "kind", "amount_micro", "balance_after_micro", "note",
)  # fmt: skip
ACTIVITY_COLUMNS = ("business_id", "day", "first_activity_at")

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

_STREAKS_SUM = (
    "SELECT coalesce(sum(hashtext((s.business_id, s.next_day, s.due_at, s.current, s.longest,"
    " s.freezes, s.run_days)::text)::bigint), 0) FROM streaks s"
)


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
    """One settled day, as the module docstring of shared_code/streaks.py states the rules."""
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


def _population(n: int, days: dict[str, date], rng: random.Random, rules: Rules) -> list[Business]:
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


def _expected(b: Business, rules: Rules) -> tuple[State, list[Grant]]:
    return advance((b.current, b.longest, b.freezes, b.run_days), b.active, rules)


def _closes(day: date, zone: ZoneInfo) -> datetime:
    """When `day` ends in `zone` (what streaks.due_at holds): the next local midnight."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


async def _load(
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
        (b.id, b.day, _closes(b.day, zones[b.zone]), b.current, b.longest, b.freezes, b.run_days)
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


async def _quiesce(conn: asyncpg.Connection) -> None:
    # Every table, the bench's own copy of the pre-state too: autovacuum must not pick one up
    # during a timed run.
    await conn.execute("VACUUM ANALYZE")
    await conn.execute("CHECKPOINT")


async def _timed(run: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    gc.collect()
    gc.disable()
    try:
        began = time.perf_counter()
        value = await run()
        return time.perf_counter() - began, value
    finally:
        gc.enable()


async def _fingerprint(conn: asyncpg.Connection) -> dict[str, int]:
    """Counts and checksums of everything a settle writes (settled_at included)."""
    # Other backends flush their table statistics within a second of going idle.
    await asyncio.sleep(STATS_FLUSH_SECONDS)
    await conn.execute("SELECT pg_stat_force_next_flush()")
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM credit_ledger) AS credit_ledger,"
        " (SELECT count(*) FROM outbox) AS outbox,"
        " (SELECT count(*) FROM streaks) AS streaks,"
        " (SELECT sum(hashtext(s::text)::bigint) FROM streaks s) AS streaks_checksum,"
        " (SELECT sum(hashtext((b.id, b.balance_micro, b.credits_low_since)::text)::bigint)"
        "   FROM businesses b) AS balances_checksum,"
        " (SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables"
        "   WHERE relname IN ('streaks', 'businesses', 'credit_ledger', 'outbox',"
        "                     'activity_days')) AS tuples_written"
    )
    assert row is not None
    return {k: int(v) for k, v in row.items()}


async def _state_checksum(conn: asyncpg.Connection) -> dict[str, int]:
    """The outcome of a settle, independent of when it ran (no settled_at, no ledger ids)."""
    row = await conn.fetchrow(
        f"SELECT ({_STREAKS_SUM}) AS streaks,"
        " (SELECT count(*) FROM credit_ledger WHERE kind = 'reward') AS grants,"
        " (SELECT coalesce(sum(amount_micro), 0) FROM credit_ledger WHERE kind = 'reward')"
        "   AS granted_micro,"
        " (SELECT coalesce(sum(hashtext((idempotency_key, amount_micro, balance_after_micro,"
        "   note)::text)::bigint), 0) FROM credit_ledger WHERE kind = 'reward') AS entries,"
        " (SELECT sum(hashtext((id, balance_micro)::text)::bigint) FROM businesses) AS balances,"
        " (SELECT count(*) FROM outbox) AS outbox,"
        " (SELECT coalesce(sum(hashtext((id, data)::text)::bigint), 0) FROM outbox) AS events"
    )
    assert row is not None
    return {k: int(v) for k, v in row.items()}


async def _reset(conn: asyncpg.Connection, signup: int) -> None:
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
    await _quiesce(conn)


async def _check_sample(
    conn: asyncpg.Connection, sample: list[Business], rules: Rules, signup: int
) -> dict[str, int]:
    """Streak state, reward entries and events of `sample` against the Python rules."""
    ids = [b.id for b in sample]
    streaks = {
        r["business_id"]: r
        for r in await conn.fetch("SELECT * FROM streaks WHERE business_id = ANY($1)", ids)
    }
    entries: dict[uuid.UUID, list[tuple[str, int, int]]] = {b: [] for b in ids}
    for r in await conn.fetch(
        "SELECT business_id, idempotency_key, amount_micro, balance_after_micro"
        " FROM credit_ledger WHERE business_id = ANY($1) AND kind = 'reward' ORDER BY id",
        ids,
    ):
        entries[r["business_id"]].append(
            (r["idempotency_key"], r["amount_micro"], r["balance_after_micro"])
        )
    balances = {
        r["id"]: (r["balance_micro"], r["ledger"])
        for r in await conn.fetch(
            "SELECT b.id, b.balance_micro, (SELECT coalesce(sum(amount_micro), 0)"
            " FROM credit_ledger l WHERE l.business_id = b.id)::bigint AS ledger"
            " FROM businesses b WHERE b.id = ANY($1)",
            ids,
        )
    }
    events = {
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM outbox WHERE subject = ANY($1)",
            [f"businesses/{b}/streak" for b in ids],
        )
    }
    off = {"state": 0, "entries": 0, "balance_ne_ledger": 0, "balance_ne_expected": 0}
    zones = {zone: ZoneInfo(zone) for zone in ZONES}
    expected_events = set()
    for b in sample:
        (current, longest, freezes, run_days), grants = _expected(b, rules)
        row = streaks[b.id]
        got = (
            row["current"], row["longest"], row["freezes"], row["run_days"], row["next_day"],
            row["due_at"],
        )  # fmt: skip
        next_day = b.day + timedelta(days=1)
        closes = _closes(next_day, zones[b.zone])
        want_state = (current, longest, freezes, run_days, next_day, closes)
        off["state"] += got != want_state
        balance, want = signup, []
        for kind, amount in sorted(grants):
            balance += amount
            key = grant_key(b.id, b.day, kind)
            want.append((key, amount, balance))
            expected_events.add(event_id(key))
        off["entries"] += sorted(entries[b.id]) != sorted(want)
        off["balance_ne_ledger"] += balances[b.id][0] != balances[b.id][1]
        off["balance_ne_expected"] += balances[b.id][0] != balance
    off["events_missing_or_extra"] = len(events ^ expected_events)
    assert not any(off.values()), off
    return {"checked": len(sample), **off}


async def _check_all(conn: asyncpg.Connection, totals: dict[str, int]) -> dict[str, int]:
    """Over every business: one day advanced, grant totals, balance == sum(ledger)."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM streaks s JOIN bench_streaks_pre p USING (business_id)"
        "   WHERE s.next_day <> p.next_day + 1) AS not_advanced_one_day,"
        " (SELECT count(*) FROM credit_ledger WHERE kind = 'reward') AS grants,"
        " (SELECT coalesce(sum(amount_micro), 0) FROM credit_ledger WHERE kind = 'reward')"
        "   AS granted_micro,"
        " (SELECT count(*) FROM outbox WHERE type = $1) AS events,"
        " (SELECT count(*) FROM businesses b LEFT JOIN (SELECT business_id,"
        "   sum(amount_micro) AS total FROM credit_ledger GROUP BY business_id) l"
        "   ON l.business_id = b.id WHERE b.balance_micro <> coalesce(l.total, 0))"
        "   AS balance_ne_ledger",
        EVENT_TYPE,
    )
    assert row is not None
    got = {k: int(v) for k, v in row.items()}
    assert got["not_advanced_one_day"] == 0, got
    assert got["grants"] == totals["grants"] == got["events"], (got, totals)
    assert got["granted_micro"] == totals["granted_micro"], (got, totals)
    assert got["balance_ne_ledger"] == 0, got
    return got


async def _loop(
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


async def main(n: int, compare: bool = False) -> dict[str, object]:
    async with bench_stack():
        from shared_code.credits import streaks
        from shared_code.platform.db import get_pool
        from shared_code.platform.settings import get_settings

        settings = get_settings()
        assert not settings.eventgrid_topic_endpoint, "publishing must be off for this bench"
        rules = Rules(
            every=settings.streak_freeze_every_days,
            max_freezes=settings.streak_max_freezes,
            daily=settings.streak_daily_reward_micro,
            milestones=dict(settings.milestones),
        )
        signup = settings.signup_credit_micro
        low = settings.credits_low_threshold_micro
        as_of = datetime.now(UTC)
        created_at = as_of - timedelta(days=120)
        rng = random.Random(20_240_612)

        pool = await get_pool()
        # Setup, resets and checks on their own connection, free of the pool's 30 s limit.
        admin = await asyncpg.connect(os.environ["DATABASE_URL"])
        await admin.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
        try:
            pg = {
                name: await admin.fetchval(f"SHOW {name}")
                for name in (
                    "server_version", "fsync", "synchronous_commit", "shared_buffers",
                    "work_mem", "max_wal_size",
                )
            }  # fmt: skip
            # Yesterday in each zone, as PostgreSQL's own zone data has it at as_of.
            today = {
                r["zone"]: r["today"]
                for r in await admin.fetch(
                    "SELECT z AS zone, ($1::timestamptz AT TIME ZONE z)::date AS today"
                    " FROM unnest($2::text[]) AS z",
                    as_of,
                    list(ZONES),
                )
            }
            days = {zone: d - timedelta(days=1) for zone, d in today.items()}

            # --- setup -------------------------------------------------------------------
            began = time.perf_counter()
            population = _population(n, days, rng, rules)
            generate_seconds = time.perf_counter() - began
            began = time.perf_counter()
            loaded = await _load(admin, population, 2_000_000_000, signup, created_at, as_of, rng)
            await admin.execute("CREATE TABLE bench_streaks_pre AS SELECT * FROM streaks")
            await _quiesce(admin)
            load_seconds = time.perf_counter() - began

            totals = {"grants": 0, "granted_micro": 0, "milestones": 0, "frozen": 0, "reset": 0}
            for b in population:
                (current, _, freezes, _), grants = _expected(b, rules)
                totals["grants"] += len(grants)
                totals["granted_micro"] += sum(a for _, a in grants)
                totals["milestones"] += sum(k != "daily" for k, _ in grants)
                totals["frozen"] += not b.active and freezes < b.freezes
                totals["reset"] += not b.active and current == 0 and b.current > 0
            check_sample = rng.sample(population, min(CHECK_SAMPLE, n))

            # --- set-based: the main batch size, on the pristine copy ------------------------
            async def settle(batch: int, workers: int | None = None) -> Any:
                return await streaks.settle(as_of=as_of, batch_size=batch, workers=workers)

            runs: dict[str, dict[str, Any]] = {}
            seconds, result = await _timed(lambda: settle(MAIN_BATCH))
            assert result.days_settled == n, (result.days_settled, n)
            assert result.grants == totals["grants"], (result.grants, totals)
            runs[f"batch_{MAIN_BATCH}_workers_{settings.streak_settle_workers}"] = {
                "seconds": round(seconds, 2),
                "steps": result.steps,
                "passes": result.passes,
                "days_settled": result.days_settled,
                "grants": result.grants,
                "days_per_s": round(n / seconds),
            }
            main_seconds = seconds
            checks = {
                "sample": await _check_sample(admin, check_sample, rules, signup),
                "all": await _check_all(admin, totals),
            }
            main_state = await _state_checksum(admin)

            # --- re-run with the same as_of: nothing due, nothing written ------------------
            before = await _fingerprint(admin)
            rerun_seconds, again = await _timed(lambda: settle(MAIN_BATCH))
            after = await _fingerprint(admin)
            rerun = {
                "seconds": round(rerun_seconds, 3),
                "days_settled": again.days_settled,
                "grants": again.grants,
                "rows_changed": after["tuples_written"] - before["tuples_written"],
                "state_unchanged": before == after,
            }
            assert again.days_settled == 0 and again.grants == 0, rerun
            assert before == after, (before, after)

            # --- other batch sizes, each from the same pre-state ---------------------------
            compare = compare or main_seconds < COMPARE_UNDER_SECONDS
            for batch, workers in COMPARE_RUNS if compare else ():
                await _reset(admin, signup)
                seconds, result = await _timed(functools.partial(settle, batch, workers))
                assert result.days_settled == n and result.grants == totals["grants"], result
                same = await _state_checksum(admin) == main_state
                assert same, f"batch {batch}, {workers} workers ended in another state"
                runs[f"batch_{batch}_workers_{workers}"] = {
                    "seconds": round(seconds, 2),
                    "steps": result.steps,
                    "passes": result.passes,
                    "days_settled": result.days_settled,
                    "grants": result.grants,
                    "days_per_s": round(n / seconds),
                    "same_state_as_main": same,
                }

            # --- baseline: the naive per-business loop on a fresh sample --------------------
            sample = _population(LOOP_WARMUP + LOOP_SAMPLE, days, rng, rules)
            await _load(admin, sample, 3_000_000_000, signup, created_at, as_of, rng)
            await _quiesce(admin)
            warmup, sample = sample[:LOOP_WARMUP], sample[LOOP_WARMUP:]
            async with pool.acquire() as conn:
                await _loop(conn, warmup, as_of, rules, low)
                loop_seconds, loop_settled = await _timed(
                    lambda: _loop(conn, sample, as_of, rules, low)
                )
            assert loop_settled == LOOP_SAMPLE, loop_settled
            loop_check = await _check_sample(admin, sample, rules, signup)
        finally:
            await admin.close()

    extrapolated = loop_seconds / LOOP_SAMPLE * n
    speedup = extrapolated / main_seconds
    return {
        "businesses": n,
        "zones": list(ZONES),
        "as_of": as_of.isoformat(),
        "days_settled": {zone: d.isoformat() for zone, d in days.items()},
        "population": {
            "active_share": ACTIVE_SHARE,
            "history_days": HISTORY_DAYS,
            "expected": totals,
        },
        "setup": {
            "rows": loaded,
            "generate_seconds": round(generate_seconds, 1),
            "copy_and_vacuum_seconds": round(load_seconds, 1),
        },
        "set_based": {
            "batch_size": MAIN_BATCH,
            "seconds": round(main_seconds, 2),
            "days_per_s": round(n / main_seconds),
            "grants": totals["grants"],
            "by_batch_size": runs,
            "batch_sizes_compared": compare
            or f"skipped: main settle took over {COMPARE_UNDER_SECONDS:g} s (--compare forces)",
        },
        "rerun": rerun,
        "loop": {
            "sample": LOOP_SAMPLE,
            "seconds": round(loop_seconds, 2),
            "days_per_s": round(LOOP_SAMPLE / loop_seconds),
            "seconds_extrapolated_to_n": round(extrapolated, 1),
            "check": loop_check,
        },
        "speedup": round(speedup, 1),
        "checks": checks,
        "targets": TARGETS,
        "meets_targets": {
            "settle_seconds": main_seconds < TARGETS["settle_seconds_max"],
            "speedup": speedup >= TARGETS["speedup_min"],
            "rerun_rows_changed": rerun["rows_changed"] == TARGETS["rerun_rows_changed"],
        },
        "machine": {"cpus": os.cpu_count(), **pg},
    }


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(args[0]) if args else 1_000_000
    started = time.perf_counter()
    outcome = asyncio.run(main(count, compare="--compare" in sys.argv))
    outcome["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(outcome, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/streaks.json").write_text(json.dumps(outcome, indent=2))
