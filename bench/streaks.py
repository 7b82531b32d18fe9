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
import json
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.stack import bench_stack
from bench.streaks_checks import (
    check_against_rules,
    check_every_business,
    fingerprint,
    state_checksum,
)
from bench.streaks_data import (
    ACTIVE_SHARE,
    HISTORY_DAYS,
    ZONES,
    Rules,
    expected,
    load_population,
    make_population,
    quiesce,
    reset,
)
from bench.streaks_naive import naive_loop

MAIN_BATCH = 100_000
COMPARE_RUNS = ((100_000, 1), (50_000, 2))
COMPARE_UNDER_SECONDS = 60.0
LOOP_SAMPLE = 10_000
LOOP_WARMUP = 200
CHECK_SAMPLE = 1_000
TARGETS = {"settle_seconds_max": 30.0, "speedup_min": 50.0, "rerun_rows_changed": 0}


async def _timed(run: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    gc.collect()
    gc.disable()
    try:
        began = time.perf_counter()
        value = await run()
        return time.perf_counter() - began, value
    finally:
        gc.enable()


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
            population = make_population(n, days, rng, rules)
            generate_seconds = time.perf_counter() - began
            began = time.perf_counter()
            loaded = await load_population(
                admin, population, 2_000_000_000, signup, created_at, as_of, rng
            )
            await admin.execute("CREATE TABLE bench_streaks_pre AS SELECT * FROM streaks")
            await quiesce(admin)
            load_seconds = time.perf_counter() - began

            totals = {"grants": 0, "granted_micro": 0, "milestones": 0, "frozen": 0, "reset": 0}
            for b in population:
                (current, _, freezes, _), grants = expected(b, rules)
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
                "sample": await check_against_rules(admin, check_sample, rules, signup),
                "all": await check_every_business(admin, totals),
            }
            main_state = await state_checksum(admin)

            # --- re-run with the same as_of: nothing due, nothing written ------------------
            before = await fingerprint(admin)
            rerun_seconds, again = await _timed(lambda: settle(MAIN_BATCH))
            after = await fingerprint(admin)
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
                await reset(admin, signup)
                seconds, result = await _timed(functools.partial(settle, batch, workers))
                assert result.days_settled == n and result.grants == totals["grants"], result
                same = await state_checksum(admin) == main_state
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
            sample = make_population(LOOP_WARMUP + LOOP_SAMPLE, days, rng, rules)
            await load_population(admin, sample, 3_000_000_000, signup, created_at, as_of, rng)
            await quiesce(admin)
            warmup, sample = sample[:LOOP_WARMUP], sample[LOOP_WARMUP:]
            async with pool.acquire() as conn:
                await naive_loop(conn, warmup, as_of, rules, low)
                loop_seconds, loop_settled = await _timed(
                    lambda: naive_loop(conn, sample, as_of, rules, low)
                )
            assert loop_settled == LOOP_SAMPLE, loop_settled
            loop_check = await check_against_rules(admin, sample, rules, signup)
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
