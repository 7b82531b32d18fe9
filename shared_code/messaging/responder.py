"""The SMS responder: the `messages` queue's customer tasks.

`InboundText` stores a customer's text once per MessageSid and applies what must happen at once
(opt-out, opt-in, HELP, relay to an owner who took over, escalation on emergency words), then
schedules a `ReplyTask` BURST_WINDOW_SECONDS later. `ReplyTask` answers everything the customer
sent since the last reply in one text, so a burst of three texts gets one answer; only the task
of the newest text does the work, and a lease on the conversation row keeps two workers from ever
composing replies for one conversation at once.

Each handler reads the facts, asks `inbound_decisions` what to do, and does it in one unit of
work (its events and follow-up tasks go out after commit).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import asyncpg

from shared_code.assistant import intake, keywords
from shared_code.assistant.composer import ReplyPlan, compose, emergency_words
from shared_code.assistant.keywords import Intent
from shared_code.businesses import contacts
from shared_code.businesses.store import Business, business_by_number, get_business
from shared_code.contracts import InboundText, ReplyTask
from shared_code.messaging import conversation_events, conversations, messages, outbound
from shared_code.messaging.inbound_decisions import (
    Notice,
    Route,
    decide_inbound,
    decide_route,
    reply_gate,
)
from shared_code.messaging.notices import opt_in_text, opt_out_text, send_notice
from shared_code.messaging.owner_relay import handle_owner_text
from shared_code.platform.phones import try_e164
from shared_code.platform.settings import get_settings
from shared_code.platform.work import Work, work

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/sms_responder"
LEASE_BUSY_RETRY_SECONDS = 1
_NOTICE_TEXTS = {Notice.OPT_OUT: opt_out_text, Notice.OPT_IN: opt_in_text}


async def handle_task(task: InboundText | ReplyTask) -> str:
    if isinstance(task, InboundText):
        return await handle_inbound(task)
    return await handle_reply(task)


async def handle_inbound(text: InboundText) -> str:
    sid = text.message_sid
    to_number = try_e164(text.to_number)
    sender = try_e164(text.from_number)
    business = await business_by_number(to_number) if to_number else None
    if business is None or sender is None:
        log.warning("text %s to %s from %s: no business or sender", sid, to_number, sender)
        return "ignored"
    if sender == business.owner_phone:
        return await handle_owner_text(business, sid, text.body)
    async with work(SOURCE) as w:
        return await _take_customer_text(w, business, sender, text)


async def _take_customer_text(w: Work, business: Business, sender: str, text: InboundText) -> str:
    if not await messages.record_receipt(w.conn, text.message_sid, business.id, sender, "customer"):
        await _requeue_reply_if_unanswered(w, text.message_sid)
        return "duplicate"
    contact = await contacts.lock_contact(w.conn, business.id, sender, texted_us=True)
    match = keywords.classify(text.body, text.opt_out_type)
    plan = decide_inbound(match, contact["opted_out_at"] is not None)
    if not plan.store and plan.intent is not Intent.OPT_OUT:
        log.info("text %s from an opted-out number: recorded, not answered", text.message_sid)
        return plan.outcome
    conversation, message_id = None, None
    if plan.store:
        conversation = await conversations.open_conversation(w.conn, business.id, sender)
        message_id = await messages.store_inbound(
            w.conn, conversation["id"], text.message_sid, text.body,
            [m.to_json() for m in text.media], text.received_at,
        )  # fmt: skip
        conversation_events.received(w, business, conversation, text.message_sid, message_id)
    if plan.intent is Intent.OPT_OUT:
        await contacts.opt_out(w.conn, business.id, sender)
        if conversation is not None:
            await conversations.close(w.conn, conversation["id"])
    elif plan.intent is Intent.OPT_IN:
        await contacts.opt_in(w.conn, business.id, sender)
    if plan.notice is not None:
        await send_notice(
            w, business, sender, conversation, _NOTICE_TEXTS[plan.notice](business),
            fact=f"notice:{text.message_sid}", allow_opted_out=plan.notice is Notice.OPT_OUT,
        )  # fmt: skip
    if plan.outcome:
        return plan.outcome
    assert conversation is not None and message_id is not None
    return await _route_customer_text(w, business, conversation, sender, text, message_id)


async def _requeue_reply_if_unanswered(w: Work, sid: str) -> None:
    """A redelivered text was taken before, but its reply task may never have reached the queue
    (the worker died, or the put failed, after commit). Put it again while the text is still
    unanswered; the reply gate makes a task for an answered text a no-op."""
    unanswered = await messages.unanswered_by_sid(w.conn, sid)
    if unanswered is not None:
        conversation_id, through = unanswered
        w.after_commit(
            ReplyTask(conversation_id=conversation_id, after_message_id=through),
            delay_seconds=int(get_settings().burst_window_seconds),
        )


async def _route_customer_text(
    w: Work,
    business: Business,
    conversation: asyncpg.Record,
    sender: str,
    text: InboundText,
    message_id: int,
) -> str:
    """An ordinary customer text: relay to an active owner, or escalate and schedule the reply.

    `message_id` (the text just stored) is the conversation's newest customer text: customer
    texts are only stored here, under the contact's row lock that this transaction holds, so
    none can have a higher id; the reply task carries it to recognise newer texts.
    """
    emergency = keywords.is_emergency(text.body, emergency_words())
    plan = decide_route(conversation, emergency, datetime.now(UTC))
    if plan.route is Route.RELAY_TO_OWNER:
        # The owner sees it, so it counts as answered: a later release won't re-answer it.
        await conversations.mark_customer_texts_answered(w.conn, conversation["id"])
        relay = f"#{conversation['ref']} {sender}: {text.body}"
        await send_notice(
            w, business, business.owner_phone, conversation, relay, kind="owner_relay",
            fact=f"relay:{text.message_sid}",
        )  # fmt: skip
        return plan.route.value
    if plan.resume_assistant:
        await conversations.release(w.conn, conversation["id"])
    if plan.escalate:
        await conversation_events.escalate(
            w, business, conversation, plan.escalate, text.body, text.message_sid
        )
    w.after_commit(
        ReplyTask(conversation_id=conversation["id"], after_message_id=message_id),
        delay_seconds=int(get_settings().burst_window_seconds),
    )
    return plan.route.value


async def handle_reply(task: ReplyTask) -> str:
    async with work(SOURCE, begin=False) as w:
        claim = await conversations.claim_reply_lease(
            w.conn, task.conversation_id, task.after_message_id
        )
        if claim.superseded(task.after_message_id):
            return "superseded"  # no lease taken: a newer text's task answers all
        if claim.conversation is None:
            # Another worker is composing for this conversation: look again shortly.
            w.after_commit(task, LEASE_BUSY_RETRY_SECONDS)
            return "busy"
        released = False
        try:
            outcome, released = await _reply(
                w, claim.conversation, claim.token, task.after_message_id
            )
        finally:
            if not released:
                await conversations.release_reply_lease(w.conn, task.conversation_id, claim.token)
    # Published after the connection is back (the unit of work's exit): a task never holds one
    # connection and waits for another (with every pooled connection held that way, the worker
    # would hang).
    return outcome


async def _reply(
    w: Work, conversation: asyncpg.Record, token: uuid.UUID, after_id: int
) -> tuple[str, bool]:
    """Compose and send the reply; returns the outcome and whether the lease was given back by
    the reply's own transaction (then the caller need not release it)."""
    pending = await messages.unanswered_customer_texts(
        w.conn, conversation["id"], conversation["replied_through_id"]
    )
    pending_ids = [row["id"] for row in pending]
    skip = reply_gate(conversation, pending_ids, after_id, datetime.now(UTC))
    if skip is not None:
        return skip, False
    business = await get_business(conversation["business_id"], w.conn)
    assert business is not None
    texts = [row["body"] for row in pending]
    history = await messages.history(w.conn, conversation["id"])
    plan = await compose(w, business, conversation, texts, history)
    async with w.transaction():
        # The model calls happened whatever comes next: their usage settles the reservation.
        for usage in plan.usage:
            w.record(usage)
        advanced = await conversations.advance_reply(
            w.conn, conversation["id"], token, max(pending_ids), plan.lead
        )
        if advanced is None:
            return "lost_lease", False
        outcome = await _record_reply(w, business, advanced, plan, texts[-1], conversation["lead"])
    return outcome, True


async def _record_reply(
    w: Work,
    business: Business,
    conversation: asyncpg.Record,
    plan: ReplyPlan,
    last_text: str,
    lead_before: dict[str, str] | None = None,
) -> str:
    """The reply's writes, in its transaction: the text (or the pause), lead and escalation
    events (a qualified lead the customer corrected is sent to the owner again), closing."""
    if plan.auto_responder:
        await conversations.pause_automation(w.conn, conversation["id"], "auto_responder")
        await conversation_events.escalate(
            w, business, conversation, "another auto-responder", last_text
        )
        outcome = "auto_responder"
    else:
        outcome = await _send_reply(w, business, conversation, plan.reply)
    if plan.lead_complete and conversation["lead_qualified_at"] is None:
        await conversation_events.qualify(w, business, conversation, plan.lead)
    elif plan.lead_complete and any(
        (lead_before or {}).get(f) != plan.lead.get(f) for f in intake.FIELDS
    ):
        update = f"#{conversation['ref']} lead updated: {intake.summary(plan.lead)}"[:306]
        fact = f"lead_update:{conversation['id']}:{conversation['replied_through_id']}"
        await send_notice(
            w, business, business.owner_phone, conversation, update, kind="owner_alert", fact=fact
        )
    if plan.escalate_reason and conversation["escalated_at"] is None:
        await conversation_events.escalate(
            w, business, conversation, plan.escalate_reason, last_text
        )
    if plan.close_reason:
        await conversations.close(w.conn, conversation["id"])
    return outcome


async def _send_reply(w: Work, business: Business, conversation: asyncpg.Record, reply: str) -> str:
    try:
        await outbound.send_after_commit(
            w, business, to=conversation["customer_phone"], body=reply, author="assistant",
            kind="reply", conversation_id=conversation["id"], automated=True,
            fact=f"reply:{conversation['id']}:{conversation['replied_through_id']}",
        )  # fmt: skip
    except outbound.SendBlocked as blocked:
        if blocked.reason == "loop_guard":
            await conversations.pause_automation(w.conn, conversation["id"], "loop_guard")
            await conversation_events.escalate(
                w, business, conversation, "too many automated replies", reply
            )
        return f"blocked_{blocked.reason}"
    return "replied"
