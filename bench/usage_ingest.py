"""Usage ingestion through the batch path, beside the raw COPY limit and the naive way.

N usage events (about 70% sms, 30% gpt-4o-mini calls) over 200 businesses are parsed with their
contract (`UsageRecorded`, as the usage logger's door does) and priced with
`usage_store.price_event` before any timing (that throughput is reported on its own), then
written to real PostgreSQL four ways, each timed on its own, from empty tables:

- batch: `usage_store.ingest(batch)`, the production path. It locks the batch's businesses in
  id order, then records the new events and debits each business once, with one ledger entry
  per business for the events it newly inserted. Below `COPY_MIN_BATCH` events that is one
  statement (unnest + INSERT ... ON CONFLICT DO NOTHING RETURNING + debit); from it, the new
  rows are COPYed and one statement debits them (see shared_code/credits/usage_store.py). Run
  sequentially for batch sizes 100, 1000 and 5000; `statement_5000` is 5000 with the COPY way
  switched off, to show what it adds; and 2 concurrent workers take alternate batches of the
  main size (every batch touches nearly all 200 businesses, so the workers contend for the
  same rows: this is the no-deadlock check). The main size is 5000, Event Grid's largest
  delivery batch (maxEventsPerBatch).
- copy (the limit): one `copy_records_to_table` of the same N rows into `bench_copy`,
  created `LIKE usage_events INCLUDING ALL` (same columns, defaults, CHECKs, primary key and
  index; no foreign key, no ledger, no balance). That is the cheapest way PostgreSQL can take
  these rows with the indexes any write path must maintain. `copy_bare` (a table with no
  constraints or indexes) is reported too, as the heap-only ceiling.
- naive: what a per-event handler does without batching: per event, one transaction with
  an INSERT into usage_events (ON CONFLICT DO NOTHING), an UPDATE of the business balance
  and an INSERT into credit_ledger. One commit per event; measured on a sample of fresh
  events and reported as rows/s. `naive_insert_only` (one autocommit INSERT per event into
  a `LIKE usage_events INCLUDING ALL` table, no ledger) is the cheaper per-row baseline that
  REFERENCE.md quotes (~2.8k rows/s); the batch path is compared with both.

Each measurement is repeated ROUNDS times, interleaved so all see the same machine noise;
medians are reported. Between batch runs the ledger is reset (tables truncated, balances back
to the signup credit) and after every run the balances are checked against ones computed in
Python. Then all N events are replayed through the batch path (nothing may change), and the
invariants are asserted: balance == sum of its ledger entries for every business, one usage
row per event, every event with a cost covered by exactly its batch's debit, one ledger entry
per idempotency key, every running balance_after consistent.
Run: `python -m bench.usage_ingest [N]` (default 100000); writes bench/results/.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from bench.stack import bench_stack
from bench.usage_ingest_checks import check_ledger, snapshot
from bench.usage_ingest_data import event_row, raw_events, reset, settle
from bench.usage_ingest_naive import insert_only, naive_handler
from shared_code.credits.usage_store import COLUMNS

BUSINESSES = 200
BATCH_SIZES = (100, 1000, 5000)
MAIN_BATCH = 5000
NAIVE_SAMPLE = 5000
ROUNDS = 3
TARGETS = {"batch_over_copy_min": 0.40, "batch_over_naive_min": 10.0}


async def _timed(run: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    """(seconds, rows) for one run, garbage collection paused as in the other benches."""
    gc.collect()
    gc.disable()
    try:
        began = time.perf_counter()
        rows = await run()
        return time.perf_counter() - began, rows
    finally:
        gc.enable()


def _rate(seconds: float, rows: int) -> float:
    return round(rows / seconds) if seconds > 0 else 0.0


def _median(rates: list[float]) -> float:
    return round(statistics.median(rates))


async def main(n: int) -> dict[str, object]:
    async with bench_stack():
        from shared_code.businesses.store import BusinessCreate, create_business
        from shared_code.contracts import UsageRecorded
        from shared_code.credits import usage_store
        from shared_code.platform.db import get_pool
        from shared_code.platform.phones import to_e164
        from shared_code.platform.settings import get_settings

        signup = get_settings().signup_credit_micro
        business_ids = []
        for i in range(BUSINESSES):
            number = to_e164(f"+1312555{1000 + i:04d}")
            business, _ = await create_business(
                BusinessCreate(
                    name=f"Bench Business {i}", phone_number=number,
                    owner_phone=to_e164(f"+1773555{1000 + i:04d}"), time_zone="America/Chicago",
                )
            )  # fmt: skip
            business_ids.append(business.id)

        rng = random.Random(20_240_611)
        raw = raw_events(n, business_ids, rng)
        raw_naive = raw_events(NAIVE_SAMPLE, business_ids, rng)
        gc.collect()
        began = time.perf_counter()
        priced = [
            usage_store.price_event(eid, at, UsageRecorded.model_validate(data))
            for eid, at, data in raw
        ]
        pricing_seconds = time.perf_counter() - began
        naive = [
            usage_store.price_event(eid, at, UsageRecorded.model_validate(data))
            for eid, at, data in raw_naive
        ]
        del raw, raw_naive
        rows = [event_row(u) for u in priced]
        naive_rows = [event_row(u) for u in naive]

        def expected(*sets: list[usage_store.PricedUsage]) -> tuple[dict[uuid.UUID, int], int]:
            balance = dict.fromkeys(business_ids, signup)
            entries = 0
            for events in sets:
                for u in events:
                    balance[u.data.business_id] -= u.cost_micro
                    entries += u.cost_micro > 0
            return balance, entries

        expected_main, entries_main = expected(priced)
        expected_all, entries_all = expected(priced, naive)

        pool = await get_pool()
        admin: asyncpg.Connection
        async with pool.acquire() as admin:
            settings = {
                name: await admin.fetchval(f"SHOW {name}")
                for name in ("server_version", "fsync", "synchronous_commit", "shared_buffers")
            }
            await admin.execute("CREATE TABLE bench_copy (LIKE usage_events INCLUDING ALL)")
            await admin.execute("CREATE TABLE bench_insert (LIKE usage_events INCLUDING ALL)")
            await admin.execute(
                "CREATE TABLE bench_copy_bare AS SELECT * FROM usage_events WITH NO DATA"
            )

            async def deadlocks() -> int:
                await admin.execute("SELECT pg_stat_force_next_flush()")
                value = await admin.fetchval(
                    "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
                )
                return int(value)

            # Warm-up: connections, prepared statements, genai-prices tables.
            await reset(admin, business_ids)
            await usage_store.ingest(priced[:2000])
            await reset(admin, business_ids)

            async def copy_into(table: str) -> int:
                async with pool.acquire() as conn:
                    await conn.copy_records_to_table(table, records=rows, columns=COLUMNS)
                return len(rows)

            async def sequential(size: int) -> int:
                inserted = 0
                for start in range(0, n, size):
                    inserted += (await usage_store.ingest(priced[start : start + size])).inserted
                return inserted

            async def statement_only(size: int) -> int:
                saved, usage_store.COPY_MIN_BATCH = usage_store.COPY_MIN_BATCH, size + 1
                try:
                    return await sequential(size)
                finally:
                    usage_store.COPY_MIN_BATCH = saved

            async def concurrent(size: int, workers: int = 2) -> int:
                batches = [priced[s : s + size] for s in range(0, n, size)]

                async def worker(k: int) -> int:
                    done = 0
                    for batch in batches[k::workers]:
                        done += (await usage_store.ingest(batch)).inserted
                    return done

                return sum(await asyncio.gather(*(worker(k) for k in range(workers))))

            rates: dict[str, list[float]] = defaultdict(list)
            checks: dict[str, dict[str, int]] = {}
            deadlocks_before = await deadlocks()
            for _ in range(ROUNDS):
                for table, key in (("bench_copy", "copy"), ("bench_copy_bare", "copy_bare")):
                    await admin.execute(f"TRUNCATE {table}")
                    await admin.execute(f"VACUUM ANALYZE {table}")
                    await admin.execute("CHECKPOINT")
                    seconds, count = await _timed(lambda t=table: copy_into(t))
                    rates[key].append(_rate(seconds, count))
                runs: list[tuple[str, Callable[[], Awaitable[int]]]] = [
                    *((f"batch_{size}", lambda s=size: sequential(s)) for size in BATCH_SIZES),
                    (f"statement_{MAIN_BATCH}", lambda: statement_only(MAIN_BATCH)),
                    (f"concurrent_2x{MAIN_BATCH}", lambda: concurrent(MAIN_BATCH)),
                ]
                # The main batch size runs last: its state carries the naive sample and replay.
                runs.sort(key=lambda r: r[0] == f"batch_{MAIN_BATCH}")
                for key, run in runs:
                    await reset(admin, business_ids)
                    seconds, inserted = await _timed(run)
                    assert inserted == n, (key, inserted)
                    rates[key].append(_rate(seconds, n))
                    checks[key] = await check_ledger(admin, expected_main, n, entries_main)
                await settle(admin)
                seconds, count = await _timed(lambda: naive_handler(pool, naive, naive_rows))
                rates["naive"].append(_rate(seconds, count))
                await admin.execute("TRUNCATE bench_insert")
                await settle(admin)
                seconds, count = await _timed(lambda: insert_only(pool, naive_rows))
                rates["naive_insert_only"].append(_rate(seconds, count))
            concurrent_deadlocks = await deadlocks() - deadlocks_before
            checks["after_naive"] = await check_ledger(
                admin, expected_all, n + NAIVE_SAMPLE, entries_all
            )

            # Replay everything through the batch path: nothing may change.
            before = await snapshot(admin)
            await settle(admin)
            replayed = {"inserted": 0, "duplicates": 0, "unknown_business": 0}

            async def replay() -> int:
                for start in range(0, n, MAIN_BATCH):
                    result = await usage_store.ingest(priced[start : start + MAIN_BATCH])
                    replayed["inserted"] += result.inserted
                    replayed["duplicates"] += result.duplicates
                    replayed["unknown_business"] += len(result.unknown_business)
                return n

            replay_seconds, _ = await _timed(replay)
            after = await snapshot(admin)
            unchanged = before == after
            assert replayed["inserted"] == 0 and replayed["duplicates"] == n, replayed
            assert unchanged, (before["counts"], after["counts"])
            checks["final"] = await check_ledger(admin, expected_all, n + NAIVE_SAMPLE, entries_all)

    median = {key: _median(values) for key, values in rates.items()}
    main_rate = median[f"batch_{MAIN_BATCH}"]
    result: dict[str, object] = {
        "events": n,
        "businesses": BUSINESSES,
        "mix": dict(Counter(u.data.kind for u in priced)),
        "priced_by": dict(Counter(u.priced_by for u in priced)),
        "pricing_events_per_s": _rate(pricing_seconds, n),
        "rounds": ROUNDS,
        "rows_per_s_median": median,
        "rows_per_s_by_round": dict(rates),
        "over_copy_by_run": {k: round(v / median["copy"], 3) for k, v in median.items()},
        "batch_size": MAIN_BATCH,
        "batch_over_copy": round(main_rate / median["copy"], 3),
        "batch_over_copy_bare": round(main_rate / median["copy_bare"], 3),
        "batch_over_naive": round(main_rate / median["naive"], 1),
        "batch_over_naive_insert_only": round(main_rate / median["naive_insert_only"], 1),
        "concurrent_deadlocks": concurrent_deadlocks,
        "naive_sample": NAIVE_SAMPLE,
        "replay": {
            **replayed,
            "rows_per_s": _rate(replay_seconds, n),
            "state_unchanged": unchanged,
        },
        "invariants": checks["final"],
        "targets": TARGETS,
        "meets_targets": {
            "batch_over_copy": main_rate / median["copy"] >= TARGETS["batch_over_copy_min"],
            "batch_over_naive": main_rate / median["naive"] >= TARGETS["batch_over_naive_min"],
        },
        "machine": {"cpus": os.cpu_count(), **settings},
    }
    return result


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    started = time.perf_counter()
    outcome = asyncio.run(main(count))
    outcome["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(outcome, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/usage_store.json").write_text(json.dumps(outcome, indent=2))
