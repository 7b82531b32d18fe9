"""The owner steps in: by texting the business number from their registered phone, or by API.

An owner text "#12 On my way" goes to the customer of conversation 12; with one open
conversation the "#12" may be left out. Sending takes the conversation over (the assistant
pauses) until the owner texts "#12 release" (or "resume"/"bot"), closes it ("#12 close"), or goes
quiet for OWNER_IDLE_MINUTES. Everything the customer sent before the owner's text counts as
answered, so a release never makes the assistant answer old messages again.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass

import asyncpg

from shared_code.businesses.store import Business
from shared_code.credits import streaks
from shared_code.messaging import conversations, outbound
from shared_code.platform import events, queues
from shared_code.platform.db import get_pool

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/owner_relay"
RELEASE_WORDS = frozenset({"release", "resume", "bot", "bot on", "assistant"})
CLOSE_WORDS = frozenset({"close", "closed", "done"})
_ADDRESSED = re.compile(r"^\s*#\s*(\d{1,6})\b[\s:,-]*(.*)$", re.DOTALL)


class OwnerActionError(Exception):
    """The owner's request cannot be done; `reason` is safe to show them."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class OwnerResult:
    outcome: str
    conversation_id: uuid.UUID | None
    event_ids: list[uuid.UUID]
    reply_task: dict[str, object] | None = None


async def handle_owner_text(business: Business, sid: str, body: str) -> str:
    """An SMS from the owner's phone to the business number."""
    pool = await get_pool()
    result: OwnerResult | None = None
    async with pool.acquire() as conn, conn.transaction():
        fresh = await conn.fetchval(
            "INSERT INTO inbound_receipts (message_sid, business_id, from_number, kind)"
            " VALUES ($1, $2, $3, 'owner') ON CONFLICT DO NOTHING RETURNING 1",
            sid, business.id, business.owner_phone,
        )  # fmt: skip
        if not fresh:
            return "duplicate"
        try:
            conversation, text = await _target(conn, business, body)
            result = await act(conn, business, conversation, text)
        except OwnerActionError as err:
            ids = await _tell_owner(conn, business, err.reason)
            result = OwnerResult(err.code, None, ids)
    await after_commit(result)
    return result.outcome


async def act(
    conn: asyncpg.Connection, business: Business, conversation: asyncpg.Record, text: str
) -> OwnerResult:
    """Release, close, or relay `text` to the customer (taking the conversation over)."""
    command = text.strip().lower().rstrip(".!")
    ref = conversation["ref"]
    if command in RELEASE_WORDS:
        return await release(conn, business, conversation, notify_owner=True)
    if command in CLOSE_WORDS:
        await conversations.close(conn, conversation["id"])
        ids = await _tell_owner(conn, business, f"#{ref} closed.")
        return OwnerResult("closed", conversation["id"], ids)
    if not text.strip():
        raise OwnerActionError("empty", f"Nothing to send. Text '#{ref} your message'.")
    return await send_as_owner(conn, business, conversation, text)


async def send_as_owner(
    conn: asyncpg.Connection, business: Business, conversation: asyncpg.Record, text: str
) -> OwnerResult:
    taken = await conversations.take_over(conn, conversation["id"])
    if taken is None:
        raise OwnerActionError("closed", f"#{conversation['ref']} is closed.")
    await conn.execute(
        "UPDATE conversations SET replied_through_id = greatest(replied_through_id,"
        " coalesce((SELECT max(id) FROM messages WHERE conversation_id = $1"
        "           AND author = 'customer'), 0)) WHERE id = $1",
        conversation["id"],
    )
    try:
        sent = await outbound.send_text(
            conn, business, to=conversation["customer_phone"], body=text, author="owner",
            kind="owner_reply", conversation_id=conversation["id"], automated=False,
            source=SOURCE,
        )  # fmt: skip
    except outbound.SendBlocked as blocked:
        raise OwnerActionError(
            blocked.reason, f"Not sent to #{conversation['ref']}: {blocked.reason}."
        ) from None
    activity = await streaks.emit_activity(conn, business.id, "owner_reply", sent.sid)
    return OwnerResult("relayed", conversation["id"], [*sent.event_ids, activity])


async def take_over(conn: asyncpg.Connection, conversation: asyncpg.Record) -> OwnerResult:
    taken = await conversations.take_over(conn, conversation["id"])
    if taken is None:
        raise OwnerActionError("closed", "the conversation is closed")
    fact = f"{conversation['id']}:{taken['owner_active_at'].isoformat()}"
    activity = await streaks.emit_activity(conn, taken["business_id"], "takeover", fact)
    return OwnerResult("taken_over", conversation["id"], [activity])


async def release(
    conn: asyncpg.Connection,
    business: Business,
    conversation: asyncpg.Record,
    *,
    notify_owner: bool = False,
) -> OwnerResult:
    """Hand back to the assistant; if the customer wrote since the owner's last text, answer."""
    released = await conversations.release(conn, conversation["id"])
    if released is None:
        raise OwnerActionError("closed", f"#{conversation['ref']} is closed.")
    ids = []
    if notify_owner:
        ids = await _tell_owner(
            conn, business, f"#{conversation['ref']} is back with the assistant."
        )
    unanswered = await conn.fetchval(
        "SELECT max(id) FROM messages WHERE conversation_id = $1 AND author = 'customer'"
        " AND id > $2",
        conversation["id"], released["replied_through_id"],
    )  # fmt: skip
    task = None
    if unanswered:
        task = {
            "kind": "reply",
            "conversation_id": str(conversation["id"]),
            "after_message_id": unanswered,
        }
    return OwnerResult("released", conversation["id"], ids, task)


async def _target(
    conn: asyncpg.Connection, business: Business, body: str
) -> tuple[asyncpg.Record, str]:
    """Which conversation the owner's text is for, and the text without its "#12"."""
    addressed = _ADDRESSED.match(body)
    if addressed:
        ref, text = int(addressed.group(1)), addressed.group(2)
        row = await conn.fetchrow(
            "SELECT * FROM conversations WHERE business_id = $1 AND ref = $2", business.id, ref
        )
        if row is None or row["status"] != "open":
            raise OwnerActionError("unknown_ref", f"No open conversation #{ref}.")
        return row, text
    open_rows = await conn.fetch(
        "SELECT * FROM conversations WHERE business_id = $1 AND status = 'open'"
        " ORDER BY last_activity_at DESC LIMIT 6",
        business.id,
    )
    if len(open_rows) == 1:
        return open_rows[0], body
    if not open_rows:
        raise OwnerActionError("none_open", "No open conversations right now.")
    listing = ", ".join(f"#{r['ref']} {r['customer_phone']}" for r in open_rows[:5])
    raise OwnerActionError(
        "ambiguous",
        f"Several open: {listing}. Start your text with the number,"
        f" e.g. '#{open_rows[0]['ref']} On my way'.",
    )


async def _tell_owner(conn: asyncpg.Connection, business: Business, text: str) -> list[uuid.UUID]:
    if not business.owner_phone:
        return []
    try:
        sent = await outbound.send_text(
            conn, business, to=business.owner_phone, body=text, author="system",
            kind="owner_notice", conversation_id=None, automated=False, source=SOURCE,
        )  # fmt: skip
    except outbound.SendBlocked:
        return []
    return sent.event_ids


async def after_commit(result: OwnerResult) -> None:
    await events.publish_now(result.event_ids)
    if result.reply_task is not None:
        await queues.enqueue(queues.MESSAGES_QUEUE, result.reply_task)
