"""The SMS responder: the `messages` queue processor.

Two kinds of task share the queue. `inbound` stores a customer's text once per MessageSid and
applies what must happen at once (opt-out, opt-in, HELP, relay to an owner who took over,
escalation on emergency words), then schedules a `reply` task BURST_WINDOW_SECONDS later.
`reply` answers everything the customer sent since the last reply in one text, so a burst of
three texts gets one answer; only the task of the newest text does the work, and a lease on the
conversation row keeps two workers from ever composing replies for one conversation at once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from shared_code.assistant import keywords
from shared_code.assistant.composer import compose, emergency_words
from shared_code.businesses import contacts
from shared_code.businesses.store import Business, business_by_number, get_business
from shared_code.messaging import conversation_events, conversations, outbound
from shared_code.messaging.notices import help_text, opt_in_text, opt_out_text, send_notice
from shared_code.messaging.owner_alerts import alert_owner
from shared_code.messaging.owner_relay import handle_owner_text
from shared_code.platform import events, queues
from shared_code.platform.db import get_pool
from shared_code.platform.phones import try_e164
from shared_code.platform.settings import get_settings

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/sms_responder"
LEASE_BUSY_RETRY_SECONDS = 1


async def handle_task(payload: dict[str, Any]) -> str:
    kind = payload.get("kind")
    if kind == "inbound":
        return await handle_inbound(payload)
    if kind == "reply":
        return await handle_reply(payload)
    if kind == "alert":  # an owner note held through quiet hours
        return await alert_owner(
            str(payload["event_id"]), str(payload["event_type"]), payload["data"]
        )
    raise ValueError(f"unknown messages task kind {kind!r}")


async def handle_inbound(payload: dict[str, Any]) -> str:
    sid = str(payload["message_sid"])
    to_number = try_e164(payload.get("to"))
    sender = try_e164(payload.get("from"))
    business = await business_by_number(to_number) if to_number else None
    if business is None or sender is None:
        log.warning("text %s to %s from %s: no business or sender", sid, to_number, sender)
        return "ignored"
    if sender == business.owner_phone:
        return await handle_owner_text(business, sid, str(payload.get("body", "")))

    body = str(payload.get("body", ""))
    match = keywords.classify(body)
    event_ids: list[uuid.UUID] = []
    reply_task: dict[str, Any] | None = None
    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():
        fresh = await conn.fetchval(
            "INSERT INTO inbound_receipts (message_sid, business_id, from_number, kind)"
            " VALUES ($1, $2, $3, 'customer') ON CONFLICT DO NOTHING RETURNING 1",
            sid, business.id, sender,
        )  # fmt: skip
        if not fresh:
            return "duplicate"
        contact = await contacts.lock_contact(conn, business.id, sender)
        opted_out = contact["opted_out_at"] is not None
        if match.intent is keywords.Intent.OPT_IN and not opted_out:
            match = keywords.KeywordMatch(keywords.Intent.NONE, False)  # "yes" mid-intake

        conversation, message_id = None, None
        if not opted_out or match.intent is keywords.Intent.OPT_IN:
            conversation = await conversations.open_conversation(conn, business.id, sender)
        elif match.intent is not keywords.Intent.OPT_OUT:
            log.info("text %s from an opted-out number: recorded, not answered", sid)
            return "opted_out"
        if conversation is not None:
            message_id = await _store_inbound(conn, conversation["id"], sid, body, payload)
            event_ids.append(
                await conversation_events.received(conn, business, conversation, sid, message_id)
            )

        if match.intent is keywords.Intent.OPT_OUT:
            await contacts.opt_out(conn, business.id, sender)
            if conversation is not None:
                await conversations.close(conn, conversation["id"])
            if not match.exact_keyword and not opted_out:  # Twilio confirms its own keywords
                event_ids += await send_notice(
                    conn, business, sender, conversation, opt_out_text(business),
                    allow_opted_out=True,
                )  # fmt: skip
            outcome = "opted_out_now"
        elif match.intent is keywords.Intent.OPT_IN:
            await contacts.opt_in(conn, business.id, sender)
            if not match.exact_keyword:
                event_ids += await send_notice(
                    conn, business, sender, conversation, opt_in_text(business)
                )
            outcome = "opted_in"
        elif match.intent is keywords.Intent.HELP:
            event_ids += await send_notice(
                conn, business, sender, conversation, help_text(business)
            )
            outcome = "help"
        else:
            assert conversation is not None and message_id is not None
            outcome, reply_task = await _route_customer_text(
                conn, business, conversation, sender, body, message_id, event_ids
            )
    await events.publish_now(event_ids)
    if reply_task is not None:
        await queues.enqueue(
            queues.MESSAGES_QUEUE,
            reply_task,
            delay_seconds=int(get_settings().burst_window_seconds),
        )
    return outcome


async def _route_customer_text(
    conn: asyncpg.Connection,
    business: Business,
    conversation: asyncpg.Record,
    sender: str,
    body: str,
    message_id: int,
    event_ids: list[uuid.UUID],
) -> tuple[str, dict[str, Any] | None]:
    """An ordinary customer text: relay to an active owner, escalate, or schedule the reply.

    `message_id` (the text just stored) is the conversation's newest customer text: customer
    texts are only stored here, under the contact's row lock that this transaction holds, so
    none can have a higher id; the reply task carries it to recognise newer texts.
    """
    now = datetime.now(UTC)
    if conversations.owner_is_active(conversation, now):
        # The owner sees it, so it counts as answered: a later release won't re-answer it.
        await conn.execute(
            "UPDATE conversations SET replied_through_id = greatest(replied_through_id,"
            " (SELECT max(id) FROM messages WHERE conversation_id = $1 AND author = 'customer'))"
            " WHERE id = $1",
            conversation["id"],
        )
        relay = f"#{conversation['ref']} {sender}: {body}"
        event_ids += await send_notice(
            conn, business, business.owner_phone, conversation, relay, kind="owner_relay"
        )
        return "relayed_to_owner", None
    if conversation["mode"] == "owner":  # the owner went idle: the assistant resumes
        await conversations.release(conn, conversation["id"])
    emergency = keywords.is_emergency(body, emergency_words())
    if emergency and conversation["escalated_at"] is None:
        event_ids.append(
            await conversation_events.escalate(
                conn, business, conversation, f"emergency: {emergency}", body
            )
        )
    return "reply_scheduled", {
        "kind": "reply",
        "conversation_id": str(conversation["id"]),
        "after_message_id": message_id,
    }


async def handle_reply(payload: dict[str, Any]) -> str:
    conversation_id = uuid.UUID(str(payload["conversation_id"]))
    after_id = int(payload["after_message_id"])
    pool = await get_pool()
    async with pool.acquire() as conn:
        claim = await conversations.claim_reply_lease(conn, conversation_id, after_id)
        if claim.superseded(after_id):
            return "superseded"  # no lease taken: a newer text's task answers all
        if claim.conversation is None:
            # Another worker is composing for this conversation: look again shortly.
            await queues.enqueue(queues.MESSAGES_QUEUE, payload, LEASE_BUSY_RETRY_SECONDS)
            return "busy"
        released = False
        try:
            outcome, event_ids, released = await _reply(
                conn, claim.conversation, claim.token, after_id
            )
        finally:
            if not released:
                await conversations.release_reply_lease(conn, conversation_id, claim.token)
    # Published after the connection is back: a task never holds one connection and waits for
    # another (with every pooled connection held that way, the worker would hang).
    await events.publish_now(event_ids)
    return outcome


async def _reply(
    conn: asyncpg.Connection, conversation: asyncpg.Record, token: uuid.UUID, after_id: int
) -> tuple[str, list[uuid.UUID], bool]:
    """Compose and send the reply; returns the outcome, the events to publish, and whether the
    lease was given back by the reply's own transaction (then the caller need not release it)."""
    if conversation["status"] != "open" or conversation["auto_paused_reason"]:
        return "paused", [], False
    if conversations.owner_is_active(conversation, datetime.now(UTC)):
        return "owner_active", [], False
    pending = await conn.fetch(
        "SELECT id, body FROM messages WHERE conversation_id = $1 AND author = 'customer'"
        " AND id > $2 ORDER BY coalesce(received_at, created_at), id",
        conversation["id"], conversation["replied_through_id"],
    )  # fmt: skip
    if not pending:
        return "nothing_new", [], False
    latest = max(row["id"] for row in pending)
    if latest > after_id:
        return "superseded", [], False  # a newer text's task will answer them all
    business = await get_business(conversation["business_id"], conn)
    assert business is not None
    texts = [row["body"] for row in pending]
    history = await conversations.history(conn, conversation["id"])
    plan = await compose(conn, business, conversation, texts, history)

    event_ids: list[uuid.UUID] = list(plan.event_ids)
    async with conn.transaction():
        # The lease goes back with this commit (the row stays locked until then, so no other
        # worker can claim it before the reply is recorded).
        advanced = await conn.fetchrow(
            "UPDATE conversations SET replied_through_id = $3, lead = $4,"
            f" last_activity_at = now(), {conversations.LEASE_RELEASED_SQL}"
            " WHERE id = $1 AND reply_lease_token = $2 AND replied_through_id < $3 RETURNING *",
            conversation["id"], token, latest, plan.lead,
        )  # fmt: skip
        if advanced is None:
            return "lost_lease", event_ids, False
        event_ids += [
            await events.record_event(
                conn,
                events.USAGE_RECORDED,
                SOURCE,
                usage,
                fact=("ai", usage["call_id"]),
                subject=f"businesses/{business.id}/ai",
            )
            for usage in plan.usage_events
        ]
        if plan.auto_responder:
            await conn.execute(
                "UPDATE conversations SET auto_paused_reason = 'auto_responder' WHERE id = $1",
                conversation["id"],
            )
            event_ids.append(
                await conversation_events.escalate(
                    conn, business, advanced, "another auto-responder", texts[-1]
                )
            )
            outcome = "auto_responder"
        else:
            outcome = await _send_reply(conn, business, advanced, plan.reply, event_ids)
        if plan.lead_complete and advanced["lead_qualified_at"] is None:
            event_ids.append(await conversation_events.qualify(conn, business, advanced, plan.lead))
        if plan.escalate_reason and advanced["escalated_at"] is None:
            event_ids.append(
                await conversation_events.escalate(
                    conn, business, advanced, plan.escalate_reason, texts[-1]
                )
            )
        if plan.close_reason:
            await conversations.close(conn, conversation["id"])
    return outcome, event_ids, True


async def _send_reply(
    conn: asyncpg.Connection,
    business: Business,
    conversation: asyncpg.Record,
    reply: str,
    event_ids: list[uuid.UUID],
) -> str:
    try:
        sent = await outbound.send_text(
            conn, business, to=conversation["customer_phone"], body=reply, author="assistant",
            kind="reply", conversation_id=conversation["id"], automated=True, source=SOURCE,
        )  # fmt: skip
    except outbound.SendBlocked as blocked:
        if blocked.reason == "loop_guard":
            await conn.execute(
                "UPDATE conversations SET auto_paused_reason = 'loop_guard' WHERE id = $1",
                conversation["id"],
            )
            event_ids.append(
                await conversation_events.escalate(
                    conn, business, conversation, "too many automated replies", reply
                )
            )
        return f"blocked_{blocked.reason}"
    event_ids += sent.event_ids
    return "replied"


async def _store_inbound(
    conn: asyncpg.Connection,
    conversation_id: uuid.UUID,
    sid: str,
    body: str,
    payload: dict[str, Any],
) -> int:
    """Store the customer's text and mark the conversation active (one statement)."""
    received = payload.get("received_at")
    message_id: int = await conn.fetchval(
        "WITH touched AS (UPDATE conversations SET last_activity_at = now() WHERE id = $1)"
        " INSERT INTO messages (conversation_id, direction, author, body, message_sid, media,"
        " received_at) VALUES ($1, 'inbound', 'customer', $2, $3, $4, $5) RETURNING id",
        conversation_id, body, sid, payload.get("media") or [],
        datetime.fromisoformat(received) if received else datetime.now(UTC),
    )  # fmt: skip
    return message_id
