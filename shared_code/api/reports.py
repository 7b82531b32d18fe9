"""The funnel report: `GET /api/v1/reports/funnel?from=&to=&group=day|week`, JSON or CSV.

`from` and `to` are local days (YYYY-MM-DD, inclusive) in the business's zone; without them,
the last 30 days up to today. CSV when asked (`Accept: text/csv` or `format=csv`): one row per
period and a `total` row, the columns named as in the JSON. The counting is
`messaging.funnel`'s; this module reads the request and shapes the answer.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from shared_code.api.auth import ApiError, Json, Principal, TextBody, business_for, not_found
from shared_code.businesses.store import get_business
from shared_code.messaging import funnel

MAX_DAYS = 366
CSV_COLUMNS = (
    "period", "missed_calls", "text_backs_sent", "replied", "qualified", "booked", "won",
    "lost", "value_won_micro", "median_seconds_to_first_reply",
    *(f"replied_after_step_{n}" for n in range(funnel.MAX_STEP + 1)),
)  # fmt: skip


def _day(params: dict[str, str], name: str, default: date) -> date:
    raw = params.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "validation_failed", f"{name} must be a date, YYYY-MM-DD") from None


def _range(params: dict[str, str], time_zone: str) -> tuple[date, date, funnel.Group]:
    today = datetime.now(UTC).astimezone(ZoneInfo(time_zone)).date()
    last = _day(params, "to", today)
    first = _day(params, "from", last - timedelta(days=29))
    group = params.get("group", "day")
    if group not in ("day", "week"):
        raise ApiError(422, "validation_failed", "group must be day or week")
    if first > last:
        raise ApiError(422, "validation_failed", "from must not be after to")
    if (last - first).days >= MAX_DAYS:
        raise ApiError(422, "validation_failed", f"at most {MAX_DAYS} days at once")
    return first, last, cast(funnel.Group, group)


def wants_csv(params: dict[str, str], accept: str | None) -> bool:
    return params.get("format") == "csv" or "text/csv" in (accept or "")


def to_csv(report: Json) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in [*report["periods"], report["total"]]:
        by_step: dict[str, Any] = row["replied_after_step"]
        flat = {**row, **{f"replied_after_step_{n}": by_step.get(str(n), 0) for n in range(6)}}
        writer.writerow(["" if flat[c] is None else flat[c] for c in CSV_COLUMNS])
    return out.getvalue()


async def read_funnel(
    principal: Principal, params: dict[str, str], accept: str | None = None
) -> tuple[int, Json | TextBody]:
    business = await get_business(business_for(principal, params))
    if business is None:
        raise not_found("business")
    first, last, group = _range(params, business.time_zone)
    rows = await funnel.calls_in_range(business.id, first, last, business.time_zone)
    report = funnel.aggregate(rows, first, last, business.time_zone, group)
    report["business_id"] = str(business.id)
    if wants_csv(params, accept):
        return 200, TextBody(to_csv(report), "text/csv")
    return 200, report
