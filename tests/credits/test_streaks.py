"""Streak settlement: calendar days in the business's zone, freezes, milestones, catch-up,
and never a double grant."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import azure.functions as func
import pytest

from shared_code import contracts
from shared_code.credits import streaks, usage_store
from shared_code.platform.db import get_pool
from tests.credits.test_ledger import (
    assert_balances_match_ledgers,
    deliver,
    priced_event,
    usage_event,
)
from tests.helpers import create_business, deliver_events, post

DAILY, M7 = 10_000, 100_000


def local(zone: str, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


# A business is enrolled when it is created (today); scenarios start their streak on a given day.
_START = (
    "UPDATE streaks s SET next_day = $2,"
    " due_at = ($2::date + 1)::timestamp AT TIME ZONE b.time_zone"
    " FROM businesses b WHERE b.id = s.business_id AND s.business_id = $1"
)


async def start(business, first_day: str) -> None:
    pool = await get_pool()
    await pool.execute(_START, business.id, date.fromisoformat(first_day))


async def state(business) -> dict:
    pool = await get_pool()
    row = await pool.fetchrow("SELECT * FROM streaks WHERE business_id = $1", business.id)
    rewards = await pool.fetchval(
        "SELECT coalesce(sum(amount_micro), 0)::bigint FROM credit_ledger"
        " WHERE business_id = $1 AND kind = 'reward'",
        business.id,
    )
    return {**dict(row), "rewards": rewards}


def days(first: str, count: int, skip: tuple[int, ...] = ()) -> list[str]:
    d0 = date.fromisoformat(first)
    return [(d0 + timedelta(days=n)).isoformat() for n in range(count) if n not in skip]


# zone, first day, activity (local wall-clock times), settle at (local), expected
SCENARIOS = [
    pytest.param(
        "America/Los_Angeles", "2026-03-06",
        ["2026-03-06T12:00", "2026-03-07T12:00", "2026-03-08T23:30", "2026-03-09T01:30",
         "2026-03-10T09:00"],
        "2026-03-11T00:30", {"current": 5, "longest": 5, "rewards": 5 * DAILY},
        id="los-angeles-spring-forward-23h-day",
    ),
    pytest.param(
        "America/Los_Angeles", "2026-10-31",
        ["2026-10-31T20:00", "2026-11-01T00:30", "2026-11-01T23:30"],
        "2026-11-02T00:10", {"current": 2, "longest": 2, "rewards": 2 * DAILY},
        id="los-angeles-fall-back-25h-day-counts-once",
    ),
    pytest.param(
        "Pacific/Kiritimati", "2026-01-01", ["2026-01-02T13:00"],
        "2026-01-03T01:00", {"current": 1, "next_day": date(2026, 1, 3)},
        id="kiritimati-utc-plus-14",
    ),
    pytest.param(
        "Pacific/Pago_Pago", "2026-01-01", ["2026-01-01T18:00"],
        "2026-01-02T00:05", {"current": 1, "next_day": date(2026, 1, 2)},
        id="pago-pago-utc-minus-11",
    ),
    pytest.param(
        "Asia/Kolkata", "2026-05-01", ["2026-05-01T23:59", "2026-05-02T00:01"],
        "2026-05-03T00:00", {"current": 2, "rewards": 2 * DAILY},
        id="kolkata-half-hour-offset",
    ),
    pytest.param(
        "Asia/Kolkata", "2026-05-01", [f"{d}T10:00" for d in days("2026-05-01", 6, skip=(3,))],
        "2026-05-07T00:00", {"current": 2, "longest": 3, "freezes": 0},
        id="gap-resets-without-freeze",
    ),
    pytest.param(
        "America/Los_Angeles", "2026-06-01",
        [f"{d}T10:00" for d in days("2026-06-01", 9, skip=(7,))],
        "2026-06-10T00:00",
        {"current": 8, "longest": 8, "freezes": 0, "rewards": 8 * DAILY + M7},
        id="freeze-earned-after-7-then-spent",
    ),
    pytest.param(
        "America/Los_Angeles", "2026-06-01",
        [f"{d}T10:00" for d in days("2026-06-01", 21)],
        "2026-06-22T00:00", {"current": 21, "freezes": 2, "longest": 21},
        id="freezes-capped-at-two",
    ),
    pytest.param(
        "America/Los_Angeles", "2026-06-01",
        [f"{d}T10:00" for d in days("2026-06-01", 21)],
        "2026-06-24T00:00", {"current": 21, "freezes": 0, "longest": 21},
        id="two-missed-days-kept-by-two-freezes",
    ),
    pytest.param(
        "America/Los_Angeles", "2026-06-01",
        [f"{d}T10:00" for d in days("2026-06-01", 21)],
        "2026-06-25T00:00", {"current": 0, "freezes": 0, "longest": 21},
        id="third-missed-day-breaks-after-freezes",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "first", "activity", "settle_at", "expected"), SCENARIOS)
async def test_streak_scenarios(stack, zone, first, activity, settle_at, expected):
    business, _ = await create_business(time_zone=zone)
    await start(business, first)
    for moment in activity:
        await streaks.record_activity(business.id, local(zone, moment))
    await streaks.settle(as_of=local(zone, settle_at))
    got = await state(business)
    assert {k: got[k] for k in expected} == expected


async def test_a_business_is_enrolled_on_its_local_day_of_signup(stack):
    business, _ = await create_business(time_zone="Pacific/Kiritimati")
    pool = await get_pool()
    row = await pool.fetchrow(
        "SELECT s.next_day, s.due_at, s.current, b.created_at FROM streaks s"
        " JOIN businesses b ON b.id = s.business_id WHERE s.business_id = $1",
        business.id,
    )
    zone = ZoneInfo("Pacific/Kiritimati")
    signup_day = row["created_at"].astimezone(zone).date()
    assert row["next_day"] == signup_day and row["current"] == 0
    assert row["due_at"] == datetime.combine(signup_day + timedelta(days=1), time(), zone)


async def test_a_day_is_not_settled_before_it_closes_locally(stack):
    business, _ = await create_business(time_zone="Pacific/Kiritimati")
    await start(business, "2026-01-02")
    await streaks.record_activity(business.id, local("Pacific/Kiritimati", "2026-01-02T10:00"))
    result = await streaks.settle(as_of=local("Pacific/Kiritimati", "2026-01-02T23:59"))
    assert result.days_settled == 0 and (await state(business))["current"] == 0
    result = await streaks.settle(as_of=local("Pacific/Kiritimati", "2026-01-03T00:00"))
    assert result.days_settled == 1 and (await state(business))["current"] == 1


async def test_three_days_of_missed_runs_are_caught_up_in_order(stack):
    business, _ = await create_business(time_zone="America/Los_Angeles")
    await start(business, "2026-06-01")
    for d in days("2026-06-01", 4):
        await streaks.record_activity(business.id, local("America/Los_Angeles", f"{d}T09:00"))
    await streaks.settle(as_of=local("America/Los_Angeles", "2026-06-02T01:00"))
    assert (await state(business))["current"] == 1
    # The timer did not run for three days.
    result = await streaks.settle(as_of=local("America/Los_Angeles", "2026-06-05T01:00"))
    # One pass a missed day, and no empty pass after the last.
    assert result.days_settled == 3 and result.steps == 3 and result.passes == 3
    assert (await state(business))["current"] == 4
    assert (await state(business))["rewards"] == 4 * DAILY


async def test_two_runs_at_once_grant_nothing_twice_and_a_rerun_changes_nothing(stack):
    owners = [
        (await create_business(phone_number=f"+1312555{6000 + n}", time_zone=zone))[0]
        for n, zone in enumerate(["Asia/Kolkata", "America/Los_Angeles", "Pacific/Pago_Pago"] * 3)
    ]
    for business in owners:
        await start(business, "2026-06-01")
        for d in days("2026-06-01", 10):
            await streaks.record_activity(business.id, local(business.time_zone, f"{d}T12:00"))
    as_of = local("UTC", "2026-06-12T12:00")
    runs = await asyncio.gather(*(streaks.settle(as_of=as_of, batch_size=2) for _ in range(3)))
    assert sum(r.days_settled for r in runs) == 9 * 11  # June 1-11 have closed in every zone
    assert sum(r.grants for r in runs) == 9 * (10 + 1)  # ten dailies and the 7-day milestone
    pool = await get_pool()
    snapshot = await pool.fetch("SELECT * FROM streaks ORDER BY business_id")
    ledger_rows = await pool.fetchval("SELECT count(*) FROM credit_ledger")
    rerun = await streaks.settle(as_of=as_of)
    assert rerun.days_settled == 0 and rerun.grants == 0
    assert await pool.fetch("SELECT * FROM streaks ORDER BY business_id") == snapshot
    assert await pool.fetchval("SELECT count(*) FROM credit_ledger") == ledger_rows
    mismatched = await pool.fetchval(
        "SELECT count(*) FROM businesses b WHERE b.balance_micro <> (SELECT coalesce(sum("
        "amount_micro), 0) FROM credit_ledger l WHERE l.business_id = b.id)"
    )
    assert mismatched == 0


async def test_settlement_and_usage_batches_at_once_neither_deadlock_nor_lose_a_debit(stack):
    """Both lock businesses in id order: a settle (small steps, two workers) and usage batches
    in reverse id order over the same businesses all finish, and every balance is its ledger."""
    owners = [
        (await create_business(phone_number=f"+1312555{6100 + n}", time_zone="Asia/Kolkata"))[0]
        for n in range(12)
    ]
    for business in owners:
        await start(business, "2026-06-01")
        for d in days("2026-06-01", 5):
            await streaks.record_activity(business.id, local("Asia/Kolkata", f"{d}T12:00"))
    newest_first = sorted(owners, key=lambda b: b.id, reverse=True)
    batches = [
        [
            priced_event(usage_event(b.id, kind="sms", segments=1))
            for b in newest_first
        ]
        for _ in range(6)
    ]  # fmt: skip
    settled, *ingested = await asyncio.gather(
        streaks.settle(as_of=local("UTC", "2026-06-06T12:00"), batch_size=2, workers=2),
        *(usage_store.ingest(batch) for batch in batches),
    )
    assert settled.days_settled == 12 * 5 and sum(r.inserted for r in ingested) == 6 * 12
    await assert_balances_match_ledgers()  # and each debit is exactly its batch's events
    pool = await get_pool()
    # Each entry's balance_after is the balance its own change produced, in order.
    broken_chain = await pool.fetchval(
        "SELECT count(*) FROM (SELECT balance_after_micro, sum(amount_micro) OVER"
        " (PARTITION BY business_id ORDER BY id) AS running FROM credit_ledger) c"
        " WHERE c.balance_after_micro <> c.running"
    )
    assert broken_chain == 0


async def test_time_zone_change_neither_skips_nor_repeats_a_day(stack):
    business, key = await create_business(time_zone="America/Los_Angeles")
    await start(business, "2026-06-01")
    for d in days("2026-06-01", 3):
        await streaks.record_activity(business.id, local("America/Los_Angeles", f"{d}T10:00"))
    await streaks.settle(as_of=local("America/Los_Angeles", "2026-06-03T01:00"))
    assert (await state(business))["current"] == 2  # June 1 and 2 settled
    pool = await get_pool()
    await pool.execute(
        "UPDATE businesses SET time_zone = 'Asia/Kolkata' WHERE id = $1", business.id
    )
    # June 3 in Kolkata: activity there counts for the new zone's calendar day.
    await streaks.record_activity(business.id, local("Asia/Kolkata", "2026-06-04T10:00"))
    await streaks.settle(as_of=local("Asia/Kolkata", "2026-06-05T00:30"))
    got = await state(business)
    assert got["next_day"] == date(2026, 6, 5) and got["current"] == 4
    assert got["rewards"] == 4 * DAILY
    del key


async def test_a_zone_moved_ahead_settles_when_its_new_day_closes(stack):
    """Kiritimati's June 1 ends 21 hours before Los Angeles's: the move must bring the
    settlement forward (the streak's due_at follows the zone), not wait for LA's midnight."""
    business, _ = await create_business(time_zone="America/Los_Angeles")
    await start(business, "2026-06-01")
    await streaks.record_activity(business.id, local("America/Los_Angeles", "2026-06-01T10:00"))
    pool = await get_pool()
    await pool.execute(
        "UPDATE businesses SET time_zone = 'Pacific/Kiritimati' WHERE id = $1", business.id
    )
    result = await streaks.settle(as_of=local("Pacific/Kiritimati", "2026-06-02T00:30"))
    assert result.days_settled == 1 and (await state(business))["current"] == 1


async def test_activity_event_and_check_in_count_and_account_shows_the_streak(stack):
    business, key = await create_business(time_zone="Asia/Kolkata")
    request = func.HttpRequest(
        "POST", "http://localhost/api/v1/activity", headers={"Authorization": f"Bearer {key}"},
        body=b'{"kind": "check_in"}',
    )  # fmt: skip
    response = await post("record_activity", request)
    assert response.status_code == 202
    [activity] = stack.topic.of_type(contracts.ActivityRecorded.type)
    await deliver_events("streak_activity", [activity], times=3)
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM activity_days") == 1
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    await pool.execute(_START, business.id, today)
    await streaks.settle(as_of=datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=1))
    account_request = func.HttpRequest(
        "GET", "http://localhost/api/v1/account", headers={"Authorization": f"Bearer {key}"},
        body=b"",
    )  # fmt: skip
    account = json.loads((await post("read_account", account_request)).get_body())["account"]
    assert account["streak"]["current"] == 1 and account["streak"]["freezes"] == 0
    assert account["streak"]["next_milestone"] == {"days": 7, "reward_micro": M7, "days_to_go": 6}
    assert account["balance_micro"] == 5_000_000 + DAILY


async def test_milestone_note_reaches_the_owner_and_daily_rewards_do_not(stack):
    business, _ = await create_business(time_zone="America/Los_Angeles")
    await start(business, "2026-06-01")
    for d in days("2026-06-01", 7):
        await streaks.record_activity(business.id, local("America/Los_Angeles", f"{d}T10:00"))
    await streaks.settle(as_of=local("America/Los_Angeles", "2026-06-08T01:00"))
    granted = stack.topic.of_type(contracts.StreakRewardGranted.type)
    assert len(granted) == 8  # seven dailies and one milestone
    await deliver_events("notifications", granted, times=2)
    notes = stack.twilio.to(business.owner_phone)
    assert len(notes) == 1 and "7-day streak" in notes[0]["Body"]


async def test_the_reward_events_the_settlement_writes_are_their_contracts(stack):
    """The statement writes its outbox rows itself (md5 ids): each row must be what the
    contract builds from its payload (id, subject, data), so a consumer that parses the payload
    computes the id it was delivered."""
    business, _ = await create_business(time_zone="America/Los_Angeles")
    await start(business, "2026-06-01")
    for d in days("2026-06-01", 7):
        await streaks.record_activity(business.id, local("America/Los_Angeles", f"{d}T10:00"))
    await streaks.settle(as_of=local("America/Los_Angeles", "2026-06-08T01:00"))
    pool = await get_pool()
    rows = await pool.fetch(
        "SELECT id, source, subject, data FROM outbox WHERE type = $1",
        contracts.StreakRewardGranted.type,
    )
    assert len(rows) == 8  # seven dailies and one milestone
    for row in rows:
        granted = contracts.parse_event(contracts.StreakRewardGranted.type, row["data"])
        assert isinstance(granted, contracts.StreakRewardGranted)
        assert granted.id == row["id"] and granted.subject() == row["subject"]
        assert granted.to_json() == row["data"] and row["source"] == streaks.SOURCE


async def test_a_reward_clears_the_low_credit_mark_only_once_back_above(stack, configure):
    """Rewards change the balance as top-ups do: below the threshold the crossing stands (no
    second signal), back above it is cleared, so the next fall signals again."""
    configure(SIGNUP_CREDIT_MICRO="1005000", CREDITS_LOW_THRESHOLD_MICRO="1000000")
    business, _ = await create_business(time_zone="America/Los_Angeles")
    await start(business, "2026-06-01")
    for d in days("2026-06-01", 2):
        await streaks.record_activity(business.id, local("America/Los_Angeles", f"{d}T10:00"))
    pool = await get_pool()

    async def low_since() -> datetime | None:
        mark = "SELECT credits_low_since FROM businesses WHERE id = $1"
        return await pool.fetchval(mark, business.id)

    await deliver(usage_event(business.id, kind="sms", segments=2))  # 988,400: crossed
    crossed = await low_since()
    assert crossed is not None and len(stack.topic.of_type(contracts.CreditsLow.type)) == 1
    await streaks.settle(as_of=local("America/Los_Angeles", "2026-06-02T01:00"))  # 998,400
    assert await low_since() == crossed
    await streaks.settle(as_of=local("America/Los_Angeles", "2026-06-03T01:00"))  # 1,008,400
    assert await low_since() is None
    await deliver(usage_event(business.id, kind="sms", segments=2))  # 991,800: crossed again
    assert await low_since() is not None
    assert len(stack.topic.of_type(contracts.CreditsLow.type)) == 2
    await assert_balances_match_ledgers()
