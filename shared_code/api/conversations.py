"""Owner and admin API for conversations: list, read with messages, take over, release, send.

Same rules as the business endpoints: an owner key sees only its own business's conversations
(anything else is "not found"); the owner's actions go through `owner_relay`, the same code the
owner's SMS commands use.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared_code.api.auth import ApiError, Json, Principal, parse_json_object, validation_error
from shared_code.businesses.store import get_business
from shared_code.messaging import owner_relay
from shared_code.platform.db import get_pool

STATUSES = ("open", "closed", "all")


class OwnerMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=1600)


def _conversation_json(row: asyncpg.Record) -> Json:
    return {
        "id": str(row["id"]),
        "business_id": str(row["business_id"]),
        "ref": row["ref"],
        "customer_phone": row["customer_phone"],
        "status": row["status"],
        "mode": row["mode"],
        "lead": row["lead"],
        "lead_qualified_at": row["lead_qualified_at"],
        "escalated_at": row["escalated_at"],
        "escalation_reason": row["escalation_reason"],
        "paused_reason": row["auto_paused_reason"],
        "opened_at": row["opened_at"],
        "last_activity_at": row["last_activity_at"],
        "closed_at": row["closed_at"],
    }


def _message_json(row: asyncpg.Record) -> Json:
    return {
        "id": row["id"],
        "direction": row["direction"],
        "author": row["author"],
        "body": row["body"],
        "media": row["media"],
        "status": row["status"],
        "error_code": row["error_code"],
        "segments": row["segments"],
        "at": row["received_at"] or row["created_at"],
    }


async def _visible(
    conn: asyncpg.Connection, principal: Principal, raw_id: str, *, lock: bool = False
) -> asyncpg.Record:
    try:
        conversation_id = uuid.UUID(raw_id)
    except ValueError:
        raise ApiError(404, "not_found", "no such conversation") from None
    row = await conn.fetchrow(
        "SELECT * FROM conversations WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        conversation_id,
    )
    if row is None or not principal.may_touch(row["business_id"]):
        raise ApiError(404, "not_found", "no such conversation")
    return row


async def list_conversations(principal: Principal, params: dict[str, str]) -> tuple[int, Json]:
    status = params.get("status", "open")
    if status not in STATUSES:
        raise ApiError(422, "validation_failed", f"status must be one of {', '.join(STATUSES)}")
    try:
        limit = min(max(int(params.get("limit", "50")), 1), 200)
    except ValueError:
        raise ApiError(422, "validation_failed", "limit must be a number") from None
    business_id = principal.business_id
    if principal.is_admin:
        try:
            business_id = uuid.UUID(params["business_id"])
        except (KeyError, ValueError):
            raise ApiError(422, "validation_failed", "admin keys must pass ?business_id=") from None
    pool = await get_pool()
    rows = await pool.fetch(
        "SELECT * FROM conversations WHERE business_id = $1 AND ($2 = 'all' OR status = $2)"
        " ORDER BY last_activity_at DESC LIMIT $3",
        business_id, status, limit,
    )  # fmt: skip
    return 200, {"conversations": [_conversation_json(r) for r in rows]}


async def read_conversation(principal: Principal, raw_id: str) -> tuple[int, Json]:
    pool = await get_pool()
    async with pool.acquire() as conn:
        row = await _visible(conn, principal, raw_id)
        messages = await conn.fetch(
            "SELECT * FROM messages WHERE conversation_id = $1"
            " ORDER BY coalesce(received_at, created_at), id",
            row["id"],
        )
    return 200, {
        "conversation": _conversation_json(row),
        "messages": [_message_json(m) for m in messages],
    }


async def _owner_action(
    principal: Principal, raw_id: str, action: str, body: bytes = b""
) -> tuple[int, Json]:
    text = ""
    if action == "send":
        try:
            text = OwnerMessage.model_validate(parse_json_object(body)).body
        except ValidationError as exc:
            raise validation_error(exc) from exc
    pool = await get_pool()
    async with pool.acquire() as conn:
        async with conn.transaction():
            row = await _visible(conn, principal, raw_id, lock=True)
            business = await get_business(row["business_id"], conn)
            assert business is not None
            try:
                result: Any
                if action == "takeover":
                    result = await owner_relay.take_over(conn, row)
                elif action == "release":
                    result = await owner_relay.release(conn, business, row)
                else:
                    result = await owner_relay.send_as_owner(conn, business, row, text)
            except owner_relay.OwnerActionError as err:
                status = 409 if err.code in ("closed", "opted_out", "blocked", "landline") else 422
                raise ApiError(status, err.code, err.reason) from None
        fresh = await conn.fetchrow("SELECT * FROM conversations WHERE id = $1", row["id"])
    await owner_relay.after_commit(result)
    return 200, {"conversation": _conversation_json(fresh), "outcome": result.outcome}


async def take_over(principal: Principal, raw_id: str) -> tuple[int, Json]:
    return await _owner_action(principal, raw_id, "takeover")


async def release(principal: Principal, raw_id: str) -> tuple[int, Json]:
    return await _owner_action(principal, raw_id, "release")


async def send_message(principal: Principal, raw_id: str, body: bytes) -> tuple[int, Json]:
    return await _owner_action(principal, raw_id, "send", body)
