"""A business's webhook endpoints: where its events go (URL, secret, event types). All SQL on
`webhook_endpoints` lives here; URLs pass `targets.check_url` before they are saved."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared_code.crm_webhooks import signing

# What a receiver subscribes to (the CloudEvents type without "nevermiss.").
EVENT_TYPES = (
    "call.missed",
    "lead.qualified",
    "voicemail.received",
    "conversation.escalated",
    "conversation.outcome_recorded",
)
MAX_PER_BUSINESS = 10


def public_type(cloud_event_type: str) -> str:
    return cloud_event_type.removeprefix("nevermiss.")


def to_json(row: asyncpg.Record | dict[str, Any], *, with_secret: bool = False) -> dict[str, Any]:
    shown = {
        "id": str(row["id"]),
        "business_id": str(row["business_id"]),
        "url": row["url"],
        "description": row["description"],
        "event_types": list(row["event_types"]),
        "enabled": row["enabled"],
        "disabled_at": row["disabled_at"],
        "disabled_reason": row["disabled_reason"],
        "created_at": row["created_at"],
    }
    if with_secret:
        shown["secret"] = row["secret"]
    return shown


async def create(
    conn: asyncpg.Connection,
    business_id: uuid.UUID,
    url: str,
    event_types: list[str],
    description: str,
) -> asyncpg.Record | None:
    """A new endpoint with a fresh secret; None when the business has MAX_PER_BUSINESS (or is
    gone). The business's row is locked before counting, so two creations at once are counted
    one after the other (FOR NO KEY UPDATE: rows that merely reference the business, a call
    or a message, are not held up)."""
    async with conn.transaction():
        if not await conn.fetchval(
            "SELECT 1 FROM businesses WHERE id = $1 FOR NO KEY UPDATE", business_id
        ):
            return None
        return await conn.fetchrow(
            "INSERT INTO webhook_endpoints (business_id, url, event_types, description, secret)"
            " SELECT $1, $2, $3, $4, $5"
            " WHERE (SELECT count(*) FROM webhook_endpoints WHERE business_id = $1) < $6"
            " RETURNING *",
            business_id, url, event_types, description, signing.new_secret(), MAX_PER_BUSINESS,
        )  # fmt: skip


async def get(conn: asyncpg.Connection, endpoint_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM webhook_endpoints WHERE id = $1", endpoint_id)


async def list_for(conn: asyncpg.Connection, business_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM webhook_endpoints WHERE business_id = $1 ORDER BY created_at", business_id
    )


async def update(
    conn: asyncpg.Connection, endpoint_id: uuid.UUID, values: dict[str, Any]
) -> asyncpg.Record | None:
    """Apply `values` (url, event_types, description, enabled); enabling clears the reason it
    was disabled."""
    enabled = values.pop("enabled", None)
    assignments = [f"{column} = ${i}" for i, column in enumerate(values, start=2)]
    if enabled is True:
        assignments.append("enabled = true, disabled_at = NULL, disabled_reason = NULL")
    elif enabled is False:
        assignments.append(
            "enabled = false, disabled_at = now(), disabled_reason = 'disabled by the owner'"
        )
    if not assignments:
        return await get(conn, endpoint_id)
    return await conn.fetchrow(
        f"UPDATE webhook_endpoints SET {', '.join(assignments)}, updated_at = now()"
        " WHERE id = $1 RETURNING *",
        endpoint_id,
        *values.values(),
    )


async def delete(conn: asyncpg.Connection, endpoint_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM webhook_endpoints WHERE id = $1", endpoint_id)


async def disable(conn: asyncpg.Connection, endpoint_id: uuid.UUID, reason: str) -> bool:
    """Stop delivering to the endpoint; True when this call disabled it."""
    disabled = await conn.fetchval(
        "UPDATE webhook_endpoints SET enabled = false, disabled_at = now(), disabled_reason = $2,"
        " updated_at = now() WHERE id = $1 AND enabled RETURNING 1",
        endpoint_id, reason[:300],
    )  # fmt: skip
    return bool(disabled)


async def subscribed(
    conn: asyncpg.Connection, business_id: uuid.UUID, public_event_type: str
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM webhook_endpoints WHERE business_id = $1 AND enabled"
        " AND $2 = ANY(event_types)",
        business_id, public_event_type,
    )  # fmt: skip
