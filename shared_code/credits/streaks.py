"""Streak rewards: owners who act every day earn credits.

A day is a calendar day in the business's own IANA zone (DST days are 23 or 25 hours long and
still one day). Activity is recorded once per business and local day. Settlement advances each
business's streak one *closed* day at a time (`next_day` < the local date now), a batch of
businesses in one set-based statement per step, so missed timer runs are caught up pass by pass
and a re-run finds nothing due. Each step's state change is guarded by `next_day`, and every
grant has a ledger idempotency key of business, day and kind: two runs at once can never grant
twice.

Rules per settled day: active -> streak + 1, and every STREAK_FREEZE_EVERY_DAYS active days earn
a freeze (at most STREAK_MAX_FREEZES held); missed -> a held freeze is spent and the streak kept
(a frozen day does not add to it), otherwise the streak resets. Active days earn the daily
reward, and reaching a milestone earns its bonus. The grants move the balance through the
ledger's one balance change (`ledger.balance_change`), and each is announced by a
`nevermiss.streak.reward_granted` the statement writes to the outbox itself.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared_code.contracts import ActivityRecorded
from shared_code.credits.ledger import balance_change
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings
from shared_code.platform.work import work

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/streak_rewards"


def activity_recorded(
    business_id: uuid.UUID, kind: str, about: str, at: datetime | None = None
) -> ActivityRecorded:
    """A qualifying owner action, for the caller's unit of work to record:
    `w.record(activity_recorded(...))`. `about` is the action's own id (a sid, a key): the same
    action reported twice is one event. Raises pydantic's ValidationError for an unknown kind."""
    return ActivityRecorded.model_validate(
        {
            "business_id": business_id,
            "kind": kind,
            "occurred_at": at or datetime.now(UTC),
            "about": about,
        }
    )


async def record_activity(business_id: uuid.UUID, occurred_at: datetime) -> bool:
    """One row per business and local day (the zone the business has now); True if new.
    A time without a zone is UTC."""
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    pool = await get_pool()
    inserted = await pool.fetchval(
        "INSERT INTO activity_days (business_id, day, first_activity_at)"
        " SELECT id, ($2::timestamptz AT TIME ZONE time_zone)::date, $2 FROM businesses"
        " WHERE id = $1 ON CONFLICT DO NOTHING RETURNING 1",
        business_id, occurred_at,
    )  # fmt: skip
    return bool(inserted)


# One step: where the next `batch` streaks due (by due_at) after `cursor` end, up to `until`
# (the worker's share); an index scan of streaks_pkey that stops at the limit. The step is then
# the id range (cursor, end]: only its bounds travel, never its ids.
_STEP_END = """
SELECT business_id FROM (
    SELECT business_id FROM streaks
    WHERE business_id > $2 AND business_id <= $3 AND due_at <= $1
    ORDER BY business_id LIMIT $4
) step
ORDER BY business_id DESC LIMIT 1
"""

# Per step transaction: its sorts and CTEs stay in memory instead of spilling to disk, and the
# planner prices a random page as the cached, SSD-backed read it is (its default, 4, made it
# scan a million businesses rather than look up the step's businesses by key).
_STEP_SETTINGS = "SET LOCAL work_mem = '64MB'; SET LOCAL random_page_cost = 1.1"

_SETTLE_ONE_DAY = (
    """
WITH due AS (
    -- The step's range, due in the business's own zone. A range, not the id list: the planner
    -- scans it by index. A join to activity, not EXISTS: the planner copied an EXISTS into
    -- every CASE below.
    -- Each business is locked as it is read, in id order as the usage ingest locks them, so a
    -- settlement and an ingest can never deadlock. No SKIP LOCKED: a business held by an ingest
    -- is waited for (briefly) and then read as committed, so the balance below is exact. A
    -- streak a concurrent run advanced meanwhile fails `advanced`'s next_day guard.
    SELECT s.business_id, s.next_day AS day, s.current, s.freezes, s.run_days,
           b.balance_micro, b.time_zone, a.business_id IS NOT NULL AS active
    FROM streaks s
    JOIN businesses b ON b.id = s.business_id
    LEFT JOIN activity_days a ON a.business_id = s.business_id AND a.day = s.next_day
    WHERE s.business_id > $1 AND s.business_id <= $9 AND s.due_at <= $8
      AND b.id > $1 AND b.id <= $9  -- the range on both sides: two index range scans
      AND s.next_day < ($8::timestamptz AT TIME ZONE b.time_zone)::date
    ORDER BY b.id
    FOR UPDATE OF b
),
decided AS (
    SELECT d.*, (NOT d.active AND d.current > 0 AND d.freezes > 0) AS frozen,
           (d.active AND d.run_days + 1 >= $2) AS earns_freeze
    FROM due d
),
next AS (
    SELECT d.business_id, d.day, d.active, d.frozen, d.balance_micro, d.time_zone,
        CASE WHEN d.active THEN d.current + 1 WHEN d.frozen THEN d.current ELSE 0 END AS current,
        CASE WHEN d.earns_freeze THEN 0 WHEN d.active THEN d.run_days + 1
             WHEN d.frozen THEN d.run_days ELSE 0 END AS run_days,
        CASE WHEN d.earns_freeze THEN least(d.freezes + 1, $3)
             WHEN d.frozen THEN d.freezes - 1 ELSE d.freezes END AS freezes
    FROM decided d
),
advanced AS (
    UPDATE streaks s SET current = n.current, longest = greatest(s.longest, n.current),
        freezes = n.freezes, run_days = n.run_days, next_day = s.next_day + 1, settled_at = now(),
        due_at = (s.next_day + 2)::timestamp AT TIME ZONE n.time_zone
    FROM next n WHERE s.business_id = n.business_id AND s.next_day = n.day
    RETURNING s.business_id, n.day, n.active, n.current, n.balance_micro,
              s.due_at <= $8 AS due_again  -- another closed day waits: the run needs a pass more
),
grants AS (
    SELECT a.business_id, a.day, a.current, a.balance_micro, 'daily' AS grant_kind,
           $4::bigint AS amount
    FROM advanced a WHERE a.active AND $4::bigint > 0
    UNION ALL
    SELECT a.business_id, a.day, a.current, a.balance_micro, 'milestone:' || m.days, m.amount
    FROM advanced a JOIN unnest($5::int[], $6::bigint[]) AS m(days, amount) ON m.days = a.current
    WHERE a.active AND m.amount > 0
),
keyed AS (
    -- The balance was read under the business lock, so balance_after is exact.
    SELECT g.*, 'streak:' || g.business_id || ':' || g.day || ':' || g.grant_kind AS key,
           g.balance_micro
             + sum(g.amount) OVER (PARTITION BY g.business_id ORDER BY g.grant_kind) AS after
    FROM grants g
),
entries AS (
    INSERT INTO credit_ledger (business_id, idempotency_key, kind, amount_micro,
                               balance_after_micro, note)
    SELECT business_id, key, 'reward', amount, after,
           'streak ' || grant_kind || ' (day ' || current || ', ' || day || ')'
    FROM keyed
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING business_id, amount_micro, idempotency_key
),
granted AS (SELECT business_id, sum(amount_micro) AS delta FROM entries GROUP BY business_id),
"""
    + balance_change("credited", deltas="granted", threshold="$7")
    + """,
announced AS (
    -- Every grant of a day advanced just now. Its ledger entry is new unless the day was
    -- granted before (a rewound streak); then the event id, derived from the grant's key, is
    -- the one already announced with that entry: ON CONFLICT skips it (outbox rows are kept,
    -- never pruned), and consumers dedupe on the id.
    INSERT INTO outbox (id, type, source, subject, data)
    SELECT md5('nevermiss.streak.reward_granted|' || k.key)::uuid,
           'nevermiss.streak.reward_granted', '/nevermiss/streak_rewards',
           'businesses/' || k.business_id || '/streak',
           jsonb_build_object('business_id', k.business_id, 'day', k.day, 'kind', k.grant_kind,
                              'amount_micro', k.amount, 'streak', k.current)
    FROM keyed k
    ON CONFLICT (id) DO NOTHING
    RETURNING id
)
SELECT (SELECT count(*) FROM advanced) AS settled,
       (SELECT count(*) FROM advanced WHERE due_again) AS due_again,
       (SELECT count(*) FROM entries) AS grants,
       (SELECT count(*) FROM credited) AS credited,
       (SELECT coalesce(array_agg(id), '{}') FROM announced) AS announced
"""
)

_UUID_SPACE = 1 << 128


@dataclass
class SettleResult:
    days_settled: int = 0
    grants: int = 0
    steps: int = 0
    passes: int = 0

    def add(self, other: SettleResult) -> None:
        self.days_settled += other.days_settled
        self.grants += other.grants
        self.steps += other.steps
        self.passes = max(self.passes, other.passes)


def shares(workers: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Split the id space into `workers` ranges (after, until]; ids are random, so the shares
    are even. The first starts at the nil uuid, which no business has."""
    bounds = [_UUID_SPACE * k // workers for k in range(workers + 1)]
    return [
        (uuid.UUID(int=max(bounds[k] - 1, 0)), uuid.UUID(int=bounds[k + 1] - 1))
        for k in range(workers)
    ]


async def settle(
    as_of: datetime | None = None, batch_size: int = 100_000, workers: int | None = None
) -> SettleResult:
    """Settle every closed, unsettled local day of every business, oldest first.

    The businesses are split into `workers` id ranges settled at once on their own connections
    (PostgreSQL runs each statement on one core; the ranges share no rows). Each worker walks
    its range in id order, `batch_size` businesses a step, one day for each; a pass that left
    a business with another closed day due is followed by another, so days missed by earlier
    runs are caught up one per pass (a run that missed nothing makes one pass). Each worker's
    grants are announced once its steps have committed.
    """
    settings = get_settings()
    as_of = as_of or datetime.now(UTC)
    await get_pool()  # made once here, before the workers ask for it at the same moment
    result = SettleResult()
    parts = await asyncio.gather(
        *(
            _settle_share(as_of, after, until, batch_size)
            for after, until in shares(workers or settings.streak_settle_workers)
        )
    )
    for part in parts:
        result.add(part)
    return result


async def _settle_share(
    as_of: datetime, after: uuid.UUID, until: uuid.UUID, batch_size: int
) -> SettleResult:
    settings = get_settings()
    milestones = settings.milestones
    result = SettleResult()
    # One unit of work per worker, a transaction per step: the reward events each step's
    # statement wrote are published after the worker's last step.
    async with work(SOURCE, begin=False) as w:
        conn = w.conn
        while True:
            result.passes += 1
            cursor, due_again = after, 0
            while True:
                async with w.transaction():
                    await conn.execute(_STEP_SETTINGS)
                    end = await conn.fetchval(_STEP_END, as_of, cursor, until, batch_size)
                    if end is None:
                        break
                    row = await conn.fetchrow(
                        _SETTLE_ONE_DAY, cursor, settings.streak_freeze_every_days,
                        settings.streak_max_freezes, settings.streak_daily_reward_micro,
                        list(milestones), list(milestones.values()),
                        settings.credits_low_threshold_micro, as_of, end,
                    )  # fmt: skip
                    assert row is not None
                    w.recorded_in_sql(row["announced"])
                cursor = end
                result.steps += 1
                result.days_settled += row["settled"]
                result.grants += row["grants"]
                due_again += row["due_again"]
            if not due_again:
                return result


async def summary(business_id: uuid.UUID) -> dict[str, Any]:
    """Current and longest streak, freezes held, and the next milestone (for the account)."""
    pool = await get_pool()
    row = await pool.fetchrow("SELECT * FROM streaks WHERE business_id = $1", business_id)
    current = row["current"] if row else 0
    upcoming = sorted(d for d in get_settings().milestones if d > current)
    next_milestone = None
    if upcoming:
        days = upcoming[0]
        next_milestone = {
            "days": days,
            "reward_micro": get_settings().milestones[days],
            "days_to_go": days - current,
        }
    return {
        "current": current,
        "longest": row["longest"] if row else 0,
        "freezes": row["freezes"] if row else 0,
        "settled_through": (row["next_day"] - timedelta(days=1)).isoformat() if row else None,
        "next_milestone": next_milestone,
    }
