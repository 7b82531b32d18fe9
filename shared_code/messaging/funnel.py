"""The recovery funnel: missed calls -> texted back -> replied -> qualified -> booked -> won.

A cohort report: each missed call counts in the period of its local day (the business's zone),
and everything after it (the reply, the lead, the outcome) counts with it, whenever it came.
So a period's numbers only ever shrink from left to right, and they reconcile with the raw
rows: a missed call is a `calls` row with `missed`; texted back means its text-back
(`outbound_texts` keyed `text_back:<CallSid>`, the call's `text_back_status` 'sent') reached
Twilio (`sent`) and no status callback said it failed, was undelivered or canceled (a text-back
Twilio refused is a missed call, not a text-back); replied means its conversation has a
customer text (a voicemail is not a reply); qualified is `lead_qualified_at`; booked is an
outcome of booked or won; won carries its value in micro-USD. A conversation's reply, lead
and outcome count once, with the first texted-back call in it (a later call into the same
conversation is a missed call, and a text-back if it got one, but never a second win). Time
to first reply runs from that text-back's send to the customer's first text (the lower median,
so it is a time that happened). "Replied after step n" is the last follow-up step sent before
that first reply (0: the text-back itself).

`calls_in_range` reads one row per missed call; `aggregate` (pure) buckets and counts them.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from shared_code.platform.db import get_pool

Group = Literal["day", "week"]
MAX_STEP = 5


def local_bounds(first: date, last: date, time_zone: str) -> tuple[datetime, datetime]:
    """UTC instants of local midnight starting `first` and local midnight after `last`."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


# Messages' statuses that say a text never reached the customer (Twilio's status callbacks).
NOT_DELIVERED = ("failed", "undelivered", "canceled")

_ROWS = """
WITH texted AS (
    SELECT c.call_sid, c.conversation_id, c.received_at,
           coalesce(t.sent_at, t.created_at) AS text_back_at
    FROM calls c
    JOIN outbound_texts t ON t.fact_key = 'text_back:' || c.call_sid AND t.status = 'sent'
    LEFT JOIN messages m ON m.id = t.message_id
    WHERE c.business_id = $1 AND c.missed AND c.text_back_status = 'sent'
      AND c.conversation_id IS NOT NULL AND c.received_at < $3
      AND (m.status IS NULL OR m.status <> ALL($4::text[]))),
first_texted AS (
    SELECT DISTINCT ON (conversation_id) call_sid, conversation_id, text_back_at FROM texted
    ORDER BY conversation_id, received_at, call_sid)
SELECT c.call_sid, c.received_at, x.call_sid IS NOT NULL AS texted,
       f.call_sid IS NOT NULL AS owns_conversation,
       v.lead_qualified_at IS NOT NULL AS qualified, v.outcome, v.outcome_value_micro,
       f.text_back_at, r.first_reply_at,
       (SELECT max(fu.step) FROM followup_tasks fu JOIN outbound_texts o ON o.id = fu.text_id
         WHERE fu.conversation_id = v.id AND fu.status = 'sent'
           AND coalesce(o.sent_at, o.created_at) < r.first_reply_at) AS steps_before_reply
FROM calls c
LEFT JOIN texted x ON x.call_sid = c.call_sid
LEFT JOIN first_texted f ON f.call_sid = c.call_sid
LEFT JOIN conversations v ON v.id = f.conversation_id
LEFT JOIN LATERAL (
    SELECT min(coalesce(m.received_at, m.created_at)) AS first_reply_at FROM messages m
    WHERE m.conversation_id = v.id AND m.author = 'customer' AND m.kind = 'text') r ON true
WHERE c.business_id = $1 AND c.missed AND c.received_at >= $2 AND c.received_at < $3
ORDER BY c.received_at
"""


async def calls_in_range(
    business_id: uuid.UUID, first: date, last: date, time_zone: str
) -> list[dict[str, Any]]:
    """One row per missed call received on local days `first`..`last`, with what followed."""
    start, end = local_bounds(first, last, time_zone)
    pool = await get_pool()
    rows = await pool.fetch(_ROWS, business_id, start, end, list(NOT_DELIVERED))
    return [dict(row) for row in rows]


@dataclass
class Bucket:
    period: date
    missed_calls: int = 0
    text_backs_sent: int = 0
    replied: int = 0
    qualified: int = 0
    booked: int = 0
    won: int = 0
    lost: int = 0
    value_won_micro: int = 0
    reply_seconds: list[float] = field(default_factory=list)
    replied_after_step: list[int] = field(default_factory=lambda: [0] * (MAX_STEP + 1))

    def add(self, row: Mapping[str, Any]) -> None:
        self.missed_calls += 1
        if not row["texted"]:
            return
        self.text_backs_sent += 1
        if not row.get("owns_conversation", True):  # its conversation counts with an earlier call
            return
        if row["first_reply_at"] is not None:
            self.replied += 1
            if row["text_back_at"] is not None:
                waited = (row["first_reply_at"] - row["text_back_at"]).total_seconds()
                self.reply_seconds.append(max(0.0, waited))
            self.replied_after_step[min(row["steps_before_reply"] or 0, MAX_STEP)] += 1
        self.qualified += bool(row["qualified"])
        outcome = row["outcome"]
        self.booked += outcome in ("booked", "won")
        self.won += outcome == "won"
        self.lost += outcome == "lost"
        if outcome == "won":
            self.value_won_micro += row["outcome_value_micro"] or 0

    def to_json(self, label: str | None = None) -> dict[str, Any]:
        median = statistics.median_low(self.reply_seconds) if self.reply_seconds else None
        return {
            "period": label or self.period.isoformat(),
            "missed_calls": self.missed_calls,
            "text_backs_sent": self.text_backs_sent,
            "replied": self.replied,
            "qualified": self.qualified,
            "booked": self.booked,
            "won": self.won,
            "lost": self.lost,
            "value_won_micro": self.value_won_micro,
            "median_seconds_to_first_reply": None if median is None else int(median),
            "replied_after_step": {
                str(step): n for step, n in enumerate(self.replied_after_step) if n
            },
        }


def period_of(day: date, group: Group) -> date:
    return day - timedelta(days=day.weekday()) if group == "week" else day


def aggregate(
    rows: Iterable[Mapping[str, Any]], first: date, last: date, time_zone: str, group: Group
) -> dict[str, Any]:
    """Bucket the missed calls by local day or week (Monday), every period present, and total."""
    zone = ZoneInfo(time_zone)
    buckets: dict[date, Bucket] = {}
    day = first
    while day <= last:
        period = period_of(day, group)
        buckets.setdefault(period, Bucket(period))
        day += timedelta(days=1)
    total = Bucket(first)
    for row in rows:
        local_day = row["received_at"].astimezone(zone).date()
        buckets[period_of(local_day, group)].add(row)
        total.add(row)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "group": group,
        "time_zone": time_zone,
        "periods": [buckets[p].to_json() for p in sorted(buckets)],
        "total": total.to_json("total"),
    }
