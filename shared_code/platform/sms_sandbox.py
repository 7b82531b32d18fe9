"""The local SMS sandbox: what the app "sent" while no Twilio account is configured."""

from __future__ import annotations

from typing import Any

from shared_code.platform.db import get_pool


async def list_messages(after_id: int = 0, limit: int = 200) -> list[dict[str, Any]]:
    pool = await get_pool()
    rows = await pool.fetch(
        "SELECT id, sid, to_number, from_number, body, created_at FROM sandbox_messages"
        " WHERE id > $1 ORDER BY id LIMIT $2",
        after_id,
        limit,
    )
    return [{**dict(row), "created_at": row["created_at"].isoformat()} for row in rows]
