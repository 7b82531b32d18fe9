"""`/api/v1/webhooks`: a business's CRM webhook endpoints and their delivery log.

`POST` creates one (`url`, `event_types` (default: all), `description`) and answers with its
signing secret, shown this once; `GET` lists or reads (no secret); `PATCH` changes the URL,
types or description, and `enabled: true` turns an endpoint disabled after failing for 24 h
back on; `DELETE` removes it. `GET .../deliveries` is the log (status, attempts, each attempt's
answer); `POST .../deliveries/{id}/replay` sends one again under the same `webhook-id` (409
`endpoint_disabled` while the endpoint is off: turn it back on first).
In Azure the URL must be https and may not reach private or loopback addresses
(`crm_webhooks.targets`): 422 `target_refused`.
"""

from __future__ import annotations

from typing import Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from shared_code.api.auth import (
    ApiError,
    Json,
    Principal,
    business_for,
    not_found,
    owner_only,
    parse_id,
    parse_model,
)
from shared_code.crm_webhooks import deliveries, endpoints, targets
from shared_code.platform.db import get_pool

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
EventType = Literal[
    "call.missed",
    "lead.qualified",
    "voicemail.received",
    "conversation.escalated",
    "conversation.outcome_recorded",
]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000, pattern=NO_NUL)
    event_types: list[EventType] | None = Field(default=None, min_length=1)  # None: all
    description: str = Field(default="", max_length=200, pattern=NO_NUL)


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=8, max_length=2000, pattern=NO_NUL)
    event_types: list[EventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    enabled: bool | None = None


async def _checked_url(url: str) -> str:
    try:
        checked = targets.check_url(url)
        await targets.check_resolves_public(checked)
    except targets.TargetRefused as refused:
        raise ApiError(422, "target_refused", str(refused)) from None
    return checked


async def create_endpoint(
    principal: Principal, params: dict[str, str], body: bytes
) -> tuple[int, Json]:
    owner_only(principal)
    data = parse_model(EndpointCreate, body)
    business_id = business_for(principal, params)
    url = await _checked_url(data.url)
    types: list[str] = sorted(set(data.event_types or endpoints.EVENT_TYPES))
    pool = await get_pool()
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT 1 FROM businesses WHERE id = $1", business_id):
            raise not_found("business")
        row = await endpoints.create(conn, business_id, url, types, data.description)
    if row is None:
        raise ApiError(409, "too_many", f"at most {endpoints.MAX_PER_BUSINESS} endpoints")
    return 201, {"webhook": endpoints.to_json(row, with_secret=True)}


async def list_endpoints(principal: Principal, params: dict[str, str]) -> tuple[int, Json]:
    pool = await get_pool()
    async with pool.acquire() as conn:
        rows = await endpoints.list_for(conn, business_for(principal, params))
    return 200, {"webhooks": [endpoints.to_json(r) for r in rows]}


async def _visible(conn: asyncpg.Connection, principal: Principal, raw_id: str) -> asyncpg.Record:
    row = await endpoints.get(conn, parse_id(raw_id, "webhook"))
    if row is None or not principal.may_touch(row["business_id"]):
        raise not_found("webhook")
    return row


async def read_endpoint(principal: Principal, raw_id: str) -> tuple[int, Json]:
    pool = await get_pool()
    async with pool.acquire() as conn:
        row = await _visible(conn, principal, raw_id)
    return 200, {"webhook": endpoints.to_json(row)}


async def update_endpoint(principal: Principal, raw_id: str, body: bytes) -> tuple[int, Json]:
    owner_only(principal)
    data = parse_model(EndpointPatch, body)
    values = data.model_dump(exclude_none=True)
    if "url" in values:
        values["url"] = await _checked_url(values["url"])
    if "event_types" in values:
        values["event_types"] = sorted(set(values["event_types"]))
    pool = await get_pool()
    async with pool.acquire() as conn:
        row = await _visible(conn, principal, raw_id)
        row = await endpoints.update(conn, row["id"], values)
    assert row is not None
    return 200, {"webhook": endpoints.to_json(row)}


async def delete_endpoint(principal: Principal, raw_id: str) -> tuple[int, Json]:
    owner_only(principal)
    pool = await get_pool()
    async with pool.acquire() as conn:
        row = await _visible(conn, principal, raw_id)
        await endpoints.delete(conn, row["id"])
    return 200, {"deleted": str(row["id"])}


def _delivery_json(row: asyncpg.Record) -> Json:
    shown = dict(row)
    shown["webhook_id"] = str(shown.pop("event_id"))
    return shown


async def list_deliveries(
    principal: Principal, raw_id: str, params: dict[str, str]
) -> tuple[int, Json]:
    try:
        limit = min(max(int(params.get("limit", "50")), 1), 200)
    except ValueError:
        raise ApiError(422, "validation_failed", "limit must be a number") from None
    pool = await get_pool()
    async with pool.acquire() as conn:
        row = await _visible(conn, principal, raw_id)
        rows = await deliveries.list_for(conn, row["id"], limit)
    return 200, {"deliveries": [_delivery_json(r) for r in rows]}


async def replay_delivery(principal: Principal, raw_id: str, raw_delivery: str) -> tuple[int, Json]:
    try:
        delivery_id = int(raw_delivery)
    except ValueError:
        raise not_found("delivery") from None
    pool = await get_pool()
    async with pool.acquire() as conn:
        endpoint = await _visible(conn, principal, raw_id)
        owned = await conn.fetchval(
            "SELECT 1 FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2",
            delivery_id, endpoint["id"],
        )  # fmt: skip
        if not owned:
            raise not_found("delivery")
        if not endpoint["enabled"]:  # nothing would be sent: say so rather than answer 200
            raise ApiError(
                409, "endpoint_disabled", "the endpoint is disabled: turn it back on first"
            )
        await deliveries.replay(conn, delivery_id)
    outcome = await deliveries.deliver_due(only=[delivery_id])
    async with pool.acquire() as conn:
        row = await deliveries.logged(conn, delivery_id)
    if row is None:  # the endpoint was deleted meanwhile
        raise not_found("delivery")
    return 200, {"delivery": _delivery_json(row), "outcome": dict(outcome)}
