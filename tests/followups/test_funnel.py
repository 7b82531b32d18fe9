"""The funnel report against an independent recount over a generated month.

A month of missed calls (November 2026 in Chicago: it crosses the DST change, and calls just
outside the month fall on either side of local midnight) is written straight into the raw
tables, with replies (some after follow-ups, some between two of them, some voicemails that
are not replies), text-backs Twilio refused or that never arrived, callers who call again into
the same conversation, leads, outcomes and money. The report, by day and by week, JSON and CSV,
must equal what this test counts itself, in plain Python, from the rows as stored.
"""

from __future__ import annotations

import csv
import io
import json
import random
import secrets
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import azure.functions as func

from shared_code.platform.db import get_pool
from tests.api.helpers import assert_error
from tests.helpers import create_business, post

ZONE = ZoneInfo("America/Chicago")
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)


async def _text(conn, business, conversation_id, fact, kind, to, at, status="sent") -> int:
    """Our text as stored: the intent and its conversation message. `status` is the intent's
    ("failed": Twilio refused it) or, "undelivered"/"failed_callback", what a status callback
    said of a text Twilio took."""
    intent_status = "failed" if status == "failed" else "sent"
    message_status = {"failed_callback": "failed", "failed": "failed"}.get(status, status)
    message_id = await conn.fetchval(
        "INSERT INTO messages (conversation_id, direction, author, body, status, created_at)"
        " VALUES ($1, 'outbound', 'system', 'hi', $2, $3) RETURNING id",
        conversation_id, message_status, at,
    )  # fmt: skip
    return await conn.fetchval(
        "INSERT INTO outbound_texts (fact_key, business_id, conversation_id, message_id,"
        " to_number, from_number, body, author, kind, automated, source, status, created_at,"
        " sent_at) VALUES ($1, $2, $3, $4, $5, $6, 'hi', 'system', $7, true, '/test', $8, $9,"
        " CASE WHEN $8 = 'sent' THEN $9::timestamptz END) RETURNING id",
        fact, business.id, conversation_id, message_id, to, business.phone_number, kind,
        intent_status, at,
    )  # fmt: skip


async def _call(conn, business, sid, phone, at, *, missed, status, conversation_id) -> None:
    await conn.execute(
        "INSERT INTO calls (call_sid, business_id, from_number, to_number, source,"
        " missed, text_back_status, conversation_id, received_at)"
        " VALUES ($1, $2, $3, $4, 'dial-status', $5, $6, $7, $8)",
        sid, business.id, phone, business.phone_number, missed, status, conversation_id, at,
    )  # fmt: skip


async def generate_month(business, rng: random.Random, calls: int = 160) -> None:
    """Missed calls and what followed. Besides the plain cases: text-backs Twilio refused or
    that a status callback said never arrived (missed calls, not text-backs), callers who
    call again into the conversation their first call opened (with or without a text-back of
    its own: the conversation counts once), and replies that come between two follow-ups
    (the later step is sent anyway: the reply counts after the earlier one)."""
    pool = await get_pool()
    start = datetime(2026, 10, 31, 20, 0, tzinfo=ZONE)  # a few hours before the month
    span = (datetime(2026, 12, 1, 4, 0, tzinfo=ZONE) - start).total_seconds()
    async with pool.acquire() as conn, conn.transaction():
        for n in range(calls):
            at = start + timedelta(seconds=rng.uniform(0, span))
            sid, phone = "CA" + secrets.token_hex(16), f"+1312555{n:04d}"
            missed = rng.random() < 0.9
            texted = missed and rng.random() < 0.8
            conversation_id = None
            if texted:
                conversation_id = await conn.fetchval(
                    "INSERT INTO conversations (business_id, customer_phone, origin_call_sid,"
                    " opened_at, status) VALUES ($1, $2, $3, $4, 'closed') RETURNING id",
                    business.id, phone, sid, at,
                )  # fmt: skip
            status = "sent" if texted else rng.choice(["suppressed_cooldown", "not_missed"])
            await _call(
                conn, business, sid, phone, at, missed=missed,
                status=status if missed else "not_missed", conversation_id=conversation_id,
            )  # fmt: skip
            if not texted:
                continue
            sent_at = at + timedelta(seconds=rng.randint(2, 20))
            delivery = rng.choices(
                ["sent", "delivered", "failed", "undelivered", "failed_callback"],
                weights=[5, 10, 2, 1, 1],
            )[0]
            await _text(
                conn, business, conversation_id, f"text_back:{sid}", "text_back", phone, sent_at,
                delivery,
            )  # fmt: skip
            for again in range(rng.choice([0, 0, 0, 1, 2])):  # the caller calls again
                later = at + timedelta(hours=rng.uniform(1, 60))
                second = "CA" + secrets.token_hex(16)
                with_text = rng.random() < 0.4
                await _call(
                    conn, business, second, phone, later, missed=True,
                    status="sent" if with_text else "suppressed_open_conversation",
                    conversation_id=conversation_id,
                )  # fmt: skip
                if with_text:
                    await _text(
                        conn, business, conversation_id, f"text_back:{second}", "text_back",
                        phone, later + timedelta(seconds=5 + again),
                        rng.choice(["sent", "failed"]),
                    )  # fmt: skip
            if rng.random() < 0.3:  # a voicemail from the call: not a reply to our text
                await conn.execute(
                    "INSERT INTO messages (conversation_id, direction, author, body, kind,"
                    " received_at) VALUES ($1, 'inbound', 'customer', 'vm', 'voicemail', $2)",
                    conversation_id, at,
                )  # fmt: skip
            followed = rng.choice([0, 0, 1, 2, 3])
            clock = sent_at
            step_times = []
            for step in range(1, followed + 1):
                clock += timedelta(minutes=30 if step == 1 else 1440 * step)
                step_times.append(clock)
                text_id = await _text(
                    conn, business, conversation_id, f"followup:{conversation_id}:{step}",
                    "followup", phone, clock,
                )  # fmt: skip
                await conn.execute(
                    "INSERT INTO followup_tasks (business_id, conversation_id, step, anchor_at,"
                    " due_at, status, text_id) VALUES ($1, $2, $3, $4, $4, 'sent', $5)",
                    business.id, conversation_id, step, clock, text_id,
                )  # fmt: skip
            if rng.random() < 0.55:
                first = clock + timedelta(seconds=rng.randint(30, 7200))
                if step_times and rng.random() < 0.3:  # between two texts of ours
                    before = rng.randrange(len(step_times))
                    first = (sent_at, *step_times)[before] + timedelta(seconds=rng.randint(5, 600))
                for k in range(rng.randint(1, 3)):
                    await conn.execute(
                        "INSERT INTO messages (conversation_id, direction, author, body,"
                        " received_at) VALUES ($1, 'inbound', 'customer', 'yes', $2)",
                        conversation_id, first + timedelta(minutes=5 * k),
                    )  # fmt: skip
                if rng.random() < 0.6:
                    await conn.execute(
                        "UPDATE conversations SET lead_qualified_at = $2 WHERE id = $1",
                        conversation_id, first + timedelta(minutes=20),
                    )  # fmt: skip
            outcome = rng.choice([None, None, "booked", "won", "won", "lost", "spam"])
            if outcome:
                value = rng.randint(50, 5000) * 1_000_000 + rng.randint(0, 99) * 10_000
                await conn.execute(
                    "UPDATE conversations SET outcome = $2, outcome_value_micro = $3 WHERE id = $1",
                    conversation_id, outcome, value if outcome == "won" else None,
                )  # fmt: skip


async def recount(business, group: str) -> dict[str, dict]:
    """The funnel, counted here from the raw rows (no SQL beyond SELECT *)."""
    pool = await get_pool()
    calls = await pool.fetch("SELECT * FROM calls WHERE business_id = $1", business.id)
    convs = {r["id"]: r for r in await pool.fetch("SELECT * FROM conversations")}
    messages = await pool.fetch("SELECT * FROM messages")
    texts = await pool.fetch("SELECT * FROM outbound_texts")
    tasks = await pool.fetch("SELECT * FROM followup_tasks")
    message_status = {m["id"]: m["status"] for m in messages}
    first_reply: dict = {}
    for m in messages:
        if m["author"] == "customer" and m["kind"] == "text":
            at = m["received_at"] or m["created_at"]
            first_reply[m["conversation_id"]] = min(first_reply.get(m["conversation_id"], at), at)
    text_back = {t["fact_key"]: t for t in texts}

    def reached(call) -> bool:  # the text-back went to Twilio and nothing said it failed
        text = text_back.get(f"text_back:{call['call_sid']}")
        return (
            call["missed"] and call["text_back_status"] == "sent"
            and call["conversation_id"] in convs and text is not None
            and text["status"] == "sent"
            and message_status.get(text["message_id"]) not in ("failed", "undelivered", "canceled")
        )  # fmt: skip

    owner_call: dict = {}  # conversation -> the first call texted back into it
    for c in sorted(calls, key=lambda c: (c["received_at"], c["call_sid"])):
        if reached(c):
            owner_call.setdefault(c["conversation_id"], c["call_sid"])
    sent_steps = defaultdict(list)
    for t in tasks:
        if t["status"] == "sent":
            sent_steps[t["conversation_id"]].append(
                (t["step"], next(x["sent_at"] for x in texts if x["id"] == t["text_id"]))
            )
    out: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    waits: dict[str, list] = defaultdict(list)
    for c in calls:
        day = c["received_at"].astimezone(ZONE).date()
        if not c["missed"] or not FIRST <= day <= LAST:
            continue
        period = (day - timedelta(days=day.weekday()) if group == "week" else day).isoformat()
        for key in (period, "total"):
            out[key]["missed_calls"] += 1
        if not reached(c):
            continue
        for key in (period, "total"):
            out[key]["text_backs_sent"] += 1
        conv = convs[c["conversation_id"]]
        if owner_call[conv["id"]] != c["call_sid"]:
            continue  # a later call into a conversation an earlier call counts
        replied_at = first_reply.get(conv["id"])
        for key in (period, "total"):
            row = out[key]
            if replied_at is not None:
                row["replied"] += 1
                waited = (
                    replied_at - text_back[f"text_back:{c['call_sid']}"]["sent_at"]
                ).total_seconds()
                waits[key].append(max(0.0, waited))
                before = [s for s, at in sent_steps[conv["id"]] if at < replied_at]
                row[f"replied_after_step_{max(before, default=0)}"] += 1
            row["qualified"] += conv["lead_qualified_at"] is not None
            row["booked"] += conv["outcome"] in ("booked", "won")
            row["won"] += conv["outcome"] == "won"
            row["lost"] += conv["outcome"] == "lost"
            if conv["outcome"] == "won":
                row["value_won_micro"] += conv["outcome_value_micro"]
    for key, values in waits.items():
        out[key]["median_seconds_to_first_reply"] = int(statistics.median_low(values))
    return out


COUNTS = (
    "missed_calls", "text_backs_sent", "replied", "qualified", "booked", "won", "lost",
    "value_won_micro", "median_seconds_to_first_reply",
)  # fmt: skip


def funnel_request(key: str, headers: dict | None = None, **params: str) -> func.HttpRequest:
    return func.HttpRequest(
        "GET", "http://localhost/api/v1/reports/funnel",
        headers={"Authorization": f"Bearer {key}", **(headers or {})}, params=params, body=b"",
    )  # fmt: skip


def as_expected(row: dict) -> dict:
    flat = {k: row[k] for k in COUNTS}
    for step, n in row["replied_after_step"].items():
        flat[f"replied_after_step_{step}"] = n
    return {k: v for k, v in flat.items() if v}  # zeros and nulls: absent in the recount


async def test_the_funnel_matches_an_independent_recount_over_a_month(stack):
    business, key = await create_business(time_zone="America/Chicago")
    other, _ = await create_business(name="Other", phone_number="+13125550177")
    await generate_month(business, random.Random(15))
    await generate_month(other, random.Random(16), calls=20)  # never counted for `business`

    for group in ("day", "week"):
        response = await post(
            "funnel_report",
            funnel_request(key, **{"from": "2026-11-01", "to": "2026-11-30", "group": group}),
        )
        assert response.status_code == 200, response.get_body()
        report = json.loads(response.get_body())
        expected = await recount(business, group)
        got = {p["period"]: as_expected(p) for p in [*report["periods"], report["total"]]}
        want = {k: {c: n for c, n in v.items() if n} for k, v in expected.items()}
        got = {k: v for k, v in got.items() if v}
        assert set(got) == set(want)
        for period, counts in want.items():
            differ = {
                k: (got[period].get(k), n) for k, n in counts.items() if got[period].get(k) != n
            }
            assert got[period] == counts, (period, differ)
        assert len(report["periods"]) == (30 if group == "day" else 6)  # Nov 1 is a Sunday
    assert expected["total"]["won"] > 5 and expected["total"]["replied_after_step_2"] > 0
    # The cases the review found miscounted are in the month, and counted as above.
    pool = await get_pool()
    refused = await pool.fetchval(
        "SELECT count(*) FROM calls c JOIN outbound_texts t ON t.fact_key = 'text_back:'"
        " || c.call_sid LEFT JOIN messages m ON m.id = t.message_id WHERE c.business_id = $1"
        " AND c.text_back_status = 'sent' AND (t.status = 'failed' OR m.status IN"
        " ('failed', 'undelivered'))",
        business.id,
    )  # fmt: skip
    shared = await pool.fetchval(
        "SELECT count(*) FROM (SELECT conversation_id FROM calls WHERE business_id = $1"
        " AND conversation_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) x",
        business.id,
    )
    assert refused > 5 and shared > 5
    assert expected["total"]["text_backs_sent"] < sum(
        1 for c in await pool.fetch("SELECT * FROM calls WHERE business_id = $1", business.id)
        if c["text_back_status"] == "sent" and FIRST <= c["received_at"].astimezone(ZONE).date()
        <= LAST
    )  # fmt: skip

    response = await post(
        "funnel_report",
        funnel_request(key, {"Accept": "text/csv"}, **{"from": "2026-11-01", "to": "2026-11-30"}),
    )
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_body().decode())))
    assert len(rows) == 31 and rows[-1]["period"] == "total"
    totals = await recount(business, "day")
    assert int(rows[-1]["value_won_micro"]) == totals["total"]["value_won_micro"]
    assert int(rows[-1]["replied_after_step_0"]) == totals["total"]["replied_after_step_0"]


async def test_the_funnel_checks_its_parameters(stack):
    _business, key = await create_business()
    for params in ({"from": "2026-13-01"}, {"group": "month"},
                   {"from": "2026-11-02", "to": "2026-11-01"},
                   {"from": "2024-01-01", "to": "2026-01-01"}):  # fmt: skip
        response = await post("funnel_report", funnel_request(key, **params))
        assert_error(
            response.status_code, json.loads(response.get_body()), 422, "validation_failed"
        )
    response = await post("funnel_report", funnel_request(key, format="csv"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
