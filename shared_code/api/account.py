"""The account resource, money and streaks: the account (balance, reserved, recent entries,
streak), usage by day, model and kind (JSON or CSV), admin top-ups with an idempotency key, and
the owner's check-ins."""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared_code.api.auth import (
    SOURCE,
    ApiError,
    Json,
    Principal,
    TextBody,
    admin_only,
    business_for,
    not_found,
    parse_model,
)
from shared_code.businesses.store import Business, get_business
from shared_code.credits import ledger, streaks, usage_report
from shared_code.platform.work import work


class TopUp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_micro: int = Field(gt=0, le=10_000_000_000)
    idempotency_key: str = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=500)


class Activity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(default="check_in", pattern="^(check_in|lead_marked)$")


async def _existing(business_id: uuid.UUID) -> Business:
    business = await get_business(business_id)
    if business is None:
        raise not_found("business")
    return business


async def read_account(principal: Principal, params: dict[str, str]) -> tuple[int, Json]:
    business_id = (await _existing(business_for(principal, params))).id
    account = await ledger.account(business_id)
    return 200, {"account": {**account, "streak": await streaks.summary(business_id)}}


async def record_activity(
    principal: Principal, params: dict[str, str], body: bytes
) -> tuple[int, Json]:
    """An owner check-in (or a lead marked by hand): counts toward today's streak."""
    business_id = (await _existing(business_for(principal, params))).id
    activity = parse_model(Activity, body or b"{}")
    async with work(SOURCE) as w:  # a check-in is its own fact: a fresh id every time
        event_id = w.record(
            streaks.activity_recorded(business_id, activity.kind, str(uuid.uuid4()))
        )
    return 202, {"event_id": str(event_id), "kind": activity.kind}


def _day(params: dict[str, str], name: str) -> date | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "validation_failed", f"{name} must be YYYY-MM-DD") from None


async def read_usage(principal: Principal, params: dict[str, str]) -> tuple[int, Json | TextBody]:
    """Usage by the business's local day; with no `to`, up to its today (in its zone), with no
    `from`, the 30 days before `to`."""
    business = await _existing(business_for(principal, params))
    start, end = usage_report.report_range(
        business.time_zone, datetime.now(UTC), _day(params, "from"), _day(params, "to")
    )
    if end < start or (end - start).days > 366:
        raise ApiError(422, "validation_failed", "from..to must be a range of at most 366 days")
    lines = await usage_report.usage_by_day(business.id, business.time_zone, start, end)
    usage = [{**dataclasses.asdict(line), "day": line.day.isoformat()} for line in lines]
    if params.get("format") == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=usage_report.COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(usage)
        return 200, TextBody(out.getvalue(), "text/csv")
    return 200, {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "time_zone": business.time_zone,
        "usage": usage,
        "total_cost_micro": sum(line.cost_micro for line in lines),
    }


async def top_up(principal: Principal, raw_id: str, body: bytes) -> tuple[int, Json]:
    admin_only(principal, "add credit")
    business_id = business_for(principal, raw_id)
    request = parse_model(TopUp, body)
    try:
        async with work(SOURCE) as w:
            entry, created = await ledger.credit(
                business_id, request.amount_micro, f"topup:{request.idempotency_key}", "topup",
                request.note, conn=w.conn,
            )  # fmt: skip
    except ledger.KeyReused:
        raise ApiError(
            409, "idempotency_key_reused", "this idempotency_key was used for another top-up"
        ) from None
    except LookupError:
        raise not_found("business") from None
    return (201 if created else 200), {"entry": entry, "replayed": not created}
