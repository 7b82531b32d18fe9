"""Usage by day: what a business spent, per local day, kind (ai, sms) and model.

Read from `usage_events`, the priced usage log that `usage_store` writes; a day is a calendar
day in the business's zone, as everywhere else, so the report's days match the ledger's. That
holds for the default range too: "today" is the business's today, not the server's (a business
east of UTC is already on tomorrow's date for part of the server's day).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared_code.platform.db import get_pool


@dataclass(frozen=True)
class UsageLine:
    """One (day, kind, model) group; token and segment sums are 0 where the kind has none."""

    day: date
    kind: str
    model: str  # "" for texts
    events: int
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    segments: int
    cost_micro: int


COLUMNS = tuple(f.name for f in fields(UsageLine))
DEFAULT_DAYS = 30  # a range with no start: this many days before its end


def report_range(
    time_zone: str, now: datetime, start: date | None = None, end: date | None = None
) -> tuple[date, date]:
    """The days a report covers: `end` defaults to today in `time_zone` at `now` (an aware
    time), `start` to DEFAULT_DAYS before the end."""
    if end is None:
        end = now.astimezone(ZoneInfo(time_zone)).date()
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    return start, end


_BY_DAY = """
SELECT (occurred_at AT TIME ZONE $2)::date AS day, kind, coalesce(model, '') AS model,
       count(*) AS events, coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(cached_tokens), 0)::bigint AS cached_tokens,
       coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
       coalesce(sum(segments), 0)::bigint AS segments, sum(cost_micro)::bigint AS cost_micro
FROM usage_events
WHERE business_id = $1 AND (occurred_at AT TIME ZONE $2)::date BETWEEN $3 AND $4
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


async def usage_by_day(
    business_id: uuid.UUID, time_zone: str, start: date, end: date
) -> list[UsageLine]:
    """Days `start`..`end` inclusive in `time_zone`, ordered by day, kind and model."""
    pool = await get_pool()
    rows = await pool.fetch(_BY_DAY, business_id, time_zone, start, end)
    return [UsageLine(**{column: row[column] for column in COLUMNS}) for row in rows]
