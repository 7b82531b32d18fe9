"""A conversation's follow-ups: `GET /api/v1/conversations/{id}/followups` lists its steps
(scheduled, sent, cancelled and why); `POST .../followups/next` sends the next scheduled step
now, under the same rules as the timer (a customer who replied, opted out or was taken over
gets nothing). The simulator uses it to fast-forward a 30-minute wait."""

from __future__ import annotations

import asyncpg

from shared_code.api.auth import Json, Principal, not_found, parse_id
from shared_code.messaging import followups, inbox
from shared_code.platform.db import get_pool


async def _visible(principal: Principal, raw_id: str) -> asyncpg.Record:
    pool = await get_pool()
    async with pool.acquire() as conn:
        row = await inbox.conversation(conn, parse_id(raw_id, "conversation"))
    if row is None or not principal.may_touch(row["business_id"]):
        raise not_found("conversation")
    return row


async def list_steps(principal: Principal, raw_id: str) -> tuple[int, Json]:
    row = await _visible(principal, raw_id)
    steps = await followups.steps_of_conversation(row["id"])
    return 200, {"conversation_id": str(row["id"]), "followups": [dict(s) for s in steps]}


async def send_next(principal: Principal, raw_id: str) -> tuple[int, Json]:
    row = await _visible(principal, raw_id)
    done = await followups.send_next_now(row["id"])
    steps = [dict(s) for s in await followups.steps_of_conversation(row["id"])]
    if done is None:
        return 200, {"step": None, "outcome": "nothing_scheduled", "followups": steps}
    return 200, {"step": done[0], "outcome": done[1], "followups": steps}
