"""What `bench.streaks` checks after a settle, and the fingerprints it compares.

A sample against the Python rules, totals over every business, the counts and checksums the
re-run must leave unchanged, and the end state every batch size must reach. What is compared
and when is in bench/streaks.py's docstring (set-based, re-run, other batch sizes).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import asyncpg

from bench.streaks_data import (
    EVENT_TYPE,
    ZONES,
    Business,
    Rules,
    closes_at,
    event_id,
    expected,
    grant_key,
)

STATS_FLUSH_SECONDS = 2.0

_STREAKS_SUM = (
    "SELECT coalesce(sum(hashtext((s.business_id, s.next_day, s.due_at, s.current, s.longest,"
    " s.freezes, s.run_days)::text)::bigint), 0) FROM streaks s"
)


async def fingerprint(conn: asyncpg.Connection) -> dict[str, int]:
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


async def state_checksum(conn: asyncpg.Connection) -> dict[str, int]:
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


async def check_against_rules(
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
        (current, longest, freezes, run_days), grants = expected(b, rules)
        row = streaks[b.id]
        got = (
            row["current"], row["longest"], row["freezes"], row["run_days"], row["next_day"],
            row["due_at"],
        )  # fmt: skip
        next_day = b.day + timedelta(days=1)
        closes = closes_at(next_day, zones[b.zone])
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


async def check_every_business(conn: asyncpg.Connection, totals: dict[str, int]) -> dict[str, int]:
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
