"""Owner and admin API for money: the account (balance, reserved, recent entries), usage by
day, model and kind (JSON or CSV), and admin top-ups with an idempotency key."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared_code.api.auth import (
    ApiError,
    Json,
    Principal,
    TextBody,
    parse_json_object,
    validation_error,
)
from shared_code.businesses.store import get_business
from shared_code.credits import ledger, streaks
from shared_code.platform import events
from shared_code.platform.db import get_pool

USAGE_COLUMNS = (
    "day", "kind", "model", "events", "input_tokens", "cached_tokens", "output_tokens",
    "segments", "cost_micro",
)  # fmt: skip


class TopUp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_micro: int = Field(gt=0, le=10_000_000_000)
    idempotency_key: str = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=500)


def _business_for(principal: Principal, params: dict[str, str]) -> uuid.UUID:
    if not principal.is_admin:
        assert principal.business_id is not None
        return principal.business_id
    try:
        return uuid.UUID(params["business_id"])
    except (KeyError, ValueError):
        raise ApiError(422, "validation_failed", "admin keys must pass ?business_id=") from None


async def read_account(principal: Principal, params: dict[str, str]) -> tuple[int, Json]:
    business_id = _business_for(principal, params)
    if await get_business(business_id) is None:
        raise ApiError(404, "not_found", "no such business")
    account = await ledger.account(business_id)
    return 200, {"account": {**account, "streak": await streaks.summary(business_id)}}


class Activity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(default="check_in", pattern="^(check_in|lead_marked)$")


async def record_activity(
    principal: Principal, params: dict[str, str], body: bytes
) -> tuple[int, Json]:
    """An owner check-in (or a lead marked by hand): counts toward today's streak."""
    business_id = _business_for(principal, params)
    if await get_business(business_id) is None:
        raise ApiError(404, "not_found", "no such business")
    try:
        activity = Activity.model_validate(parse_json_object(body or b"{}"))
    except ValidationError as exc:
        raise validation_error(exc) from exc
    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():
        event_id = await streaks.emit_activity(conn, business_id, activity.kind, str(uuid.uuid4()))
    await events.publish_now([event_id])
    return 202, {"event_id": str(event_id), "kind": activity.kind}


def _day(params: dict[str, str], name: str, default: date) -> date:
    raw = params.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "validation_failed", f"{name} must be YYYY-MM-DD") from None


async def read_usage(principal: Principal, params: dict[str, str]) -> tuple[int, Json | TextBody]:
    business_id = _business_for(principal, params)
    business = await get_business(business_id)
    if business is None:
        raise ApiError(404, "not_found", "no such business")
    today = date.today()
    start = _day(params, "from", today - timedelta(days=30))
    end = _day(params, "to", today)
    if end < start or (end - start).days > 366:
        raise ApiError(422, "validation_failed", "from..to must be a range of at most 366 days")
    pool = await get_pool()
    rows = await pool.fetch(
        "SELECT (occurred_at AT TIME ZONE $2)::date AS day, kind, coalesce(model, '') AS model,"
        " count(*) AS events, coalesce(sum(input_tokens), 0)::bigint AS input_tokens,"
        " coalesce(sum(cached_tokens), 0)::bigint AS cached_tokens,"
        " coalesce(sum(output_tokens), 0)::bigint AS output_tokens,"
        " coalesce(sum(segments), 0)::bigint AS segments, sum(cost_micro)::bigint AS cost_micro"
        " FROM usage_events WHERE business_id = $1"
        " AND (occurred_at AT TIME ZONE $2)::date BETWEEN $3 AND $4"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        business_id, business.time_zone, start, end,
    )  # fmt: skip
    usage = [{c: (r[c].isoformat() if c == "day" else r[c]) for c in USAGE_COLUMNS} for r in rows]
    if params.get("format") == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=USAGE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(usage)
        return 200, TextBody(out.getvalue(), "text/csv")
    total = sum(int(u["cost_micro"]) for u in usage)
    return 200, {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "time_zone": business.time_zone,
        "usage": usage,
        "total_cost_micro": total,
    }


async def top_up(principal: Principal, raw_id: str, body: bytes) -> tuple[int, Json]:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "only an admin key may add credit")
    try:
        business_id = uuid.UUID(raw_id)
    except ValueError:
        raise ApiError(404, "not_found", "no such business") from None
    try:
        request = TopUp.model_validate(parse_json_object(body))
    except ValidationError as exc:
        raise validation_error(exc) from exc
    try:
        entry, created = await ledger.credit(
            business_id, request.amount_micro, f"topup:{request.idempotency_key}", "topup",
            request.note,
        )  # fmt: skip
    except ledger.KeyReused:
        raise ApiError(
            409, "idempotency_key_reused", "this idempotency_key was used for another top-up"
        ) from None
    except LookupError:
        raise ApiError(404, "not_found", "no such business") from None
    return (201 if created else 200), {"entry": entry, "replayed": not created}
