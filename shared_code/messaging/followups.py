"""Follow-ups: text again a caller who has not answered our text-back, on the business's
schedule, and stop the moment they answer.

A step is a row in `followup_tasks` (unique per conversation and step): step 1 is scheduled
when the text-back is sent (`schedule_after_sent`, from its `message.sent` event), step n+1
when step n is sent, each counted from the text before it. The follow-ups timer reads the due
steps (`run_due`) and sends each in its own unit of work (`send_step`), which:

1. claims the step (`FOR UPDATE SKIP LOCKED`: a concurrent timer skips it, and it is `sent` or
   `cancelled` by the time that timer could see it again);
2. locks the customer's contact, then the conversation, in the order the inbound text handler
   takes them, so a reply or an opt-out arriving while we decide either committed before our
   read (we see it and cancel) or waits until our text is committed;
3. asks `followup_plan.decide_step` and sends through `outbound.send_after_commit` (the sending
   rules and the loop guard; the intent is keyed per step, a second constraint).

Quiet hours move the step to their end; the timer comes back for it then. A step whose
handling raises (anything but the sending rules' refusal) is tried again a little later each
time and given up after MAX_STEP_ERRORS, with an ERROR log: never retried every minute forever.

A follow-up text that Twilio failed and the outbox sweep retries is decided again first
(`recheck_retry`, from `delivery`): a reply, a takeover, a close or an outcome since cancels
it, and quiet hours hold it.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from shared_code.businesses import contacts, templates
from shared_code.businesses.followup_schedule import steps_of
from shared_code.businesses.hours import quiet_until
from shared_code.businesses.store import Business, get_business
from shared_code.contracts import FollowupSent
from shared_code.messaging import outbound
from shared_code.messaging.followup_plan import (
    Action,
    StepDecision,
    StepFacts,
    after_refusal,
    decide_step,
    due_after,
    followup_fact,
    step_of_fact,
    tidy,
)
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings
from shared_code.platform.work import Work, work

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/followups"
FOLLOWUP_KIND = "followup"
MAX_STEP_ERRORS = 8  # a step that raised this often is given up (about half an hour of tries)


async def schedule_after_sent(message_sid: str) -> str:
    """Schedule the step after the text `message_sid` (a text-back or a follow-up), counted
    from when it was sent; "scheduled", or why not. Idempotent: the step's row is unique."""
    pool = await get_pool()
    async with pool.acquire() as conn:
        text = await conn.fetchrow(
            "SELECT fact_key, kind, business_id, conversation_id, coalesce(sent_at, created_at)"
            " AS sent_at FROM outbound_texts WHERE message_sid = $1",
            message_sid,
        )
        if text is None or text["conversation_id"] is None:
            return "not_ours"
        done = step_of_fact(text["fact_key"], text["kind"])
        if done is None:
            return "not_a_followup_text"
        business = await get_business(text["business_id"], conn)
        if business is None:
            return "no_business"
        steps = steps_of(business.followup_schedule)
        if done >= len(steps):
            return "schedule_done"
        due = due_after(text["sent_at"], steps[done], business.time_zone)
        created = await conn.fetchval(
            "INSERT INTO followup_tasks (business_id, conversation_id, step, anchor_at, due_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (conversation_id, step) DO NOTHING"
            " RETURNING id",
            business.id, text["conversation_id"], done + 1, text["sent_at"], due,
        )  # fmt: skip
    return "scheduled" if created else "duplicate"


async def due_steps(limit: int = 200) -> list[int]:
    """The ids of the steps due now, oldest first (read without locks: `send_step` claims)."""
    pool = await get_pool()
    rows = await pool.fetch(
        "SELECT id FROM followup_tasks WHERE status = 'scheduled' AND due_at <= now()"
        " ORDER BY due_at LIMIT $1",
        limit,
    )
    return [row["id"] for row in rows]


async def run_due(
    limit: int = 200, *, before_send: Callable[[int], Awaitable[None]] | None = None
) -> Counter[str]:
    """The timer's work: every due step, each in its own unit of work. `before_send` runs
    between the read and each step's send (tests put a customer's reply there)."""
    outcomes: Counter[str] = Counter()
    for task_id in await due_steps(limit):
        if before_send is not None:
            await before_send(task_id)
        try:
            outcomes[await send_step(task_id)] += 1
        except Exception:  # one conversation's trouble never stops the others
            log.exception("follow-up %s not handled this run", task_id)
            outcomes[await _count_error(task_id)] += 1
    return outcomes


async def _count_error(task_id: int) -> str:
    """A step raised: try it again after a minute per error so far, or give it up ("error",
    or "cancelled:gave_up" logged at ERROR)."""
    pool = await get_pool()
    row = await pool.fetchrow(
        "UPDATE followup_tasks SET errors = errors + 1,"
        " status = CASE WHEN errors + 1 >= $2 THEN 'cancelled' ELSE status END,"
        " reason = CASE WHEN errors + 1 >= $2 THEN 'gave_up' ELSE reason END,"
        " done_at = CASE WHEN errors + 1 >= $2 THEN now() ELSE done_at END,"
        " due_at = now() + make_interval(mins => errors + 1)"
        " WHERE id = $1 AND status = 'scheduled' RETURNING status, errors, conversation_id",
        task_id, MAX_STEP_ERRORS,
    )  # fmt: skip
    if row is None or row["status"] == "scheduled":
        return "error"
    log.error(
        "follow-up %s (conversation %s) given up after %d errors",
        task_id, row["conversation_id"], row["errors"],
    )  # fmt: skip
    return "cancelled:gave_up"


async def send_step(task_id: int) -> str:
    """Claim, re-check and send (or hold, or cancel) one due step; returns what happened:
    "sent", "held:<reason>", "cancelled:<reason>", or "not_due" (claimed or done elsewhere)."""
    async with work(SOURCE) as w:
        task = await w.conn.fetchrow(
            "SELECT * FROM followup_tasks WHERE id = $1 AND status = 'scheduled'"
            " AND due_at <= now() FOR UPDATE SKIP LOCKED",
            task_id,
        )
        if task is None:
            return "not_due"
        business = await get_business(task["business_id"], w.conn)
        phone = await w.conn.fetchval(
            "SELECT customer_phone FROM conversations WHERE id = $1", task["conversation_id"]
        )
        if business is None or phone is None:
            await _finish(w.conn, task_id, StepDecision(Action.CANCEL, "gone"))
            return "cancelled:gone"
        # Contact first, then the conversation: the inbound text handler's order.
        block = await contacts.block_reason(w.conn, business, phone, lock=True)
        conversation = await w.conn.fetchrow(
            "SELECT * FROM conversations WHERE id = $1 FOR UPDATE", task["conversation_id"]
        )
        assert conversation is not None
        now = datetime.now(UTC)
        facts = await _facts(w.conn, business, task["step"], task["holds"], conversation, block)
        decision = decide_step(facts, now)
        if decision.action is Action.SEND:
            decision = await _send(w, business, task, conversation)
        await _finish(w.conn, task_id, decision)
    if decision.action is Action.SEND:
        return "sent"
    done = "held" if decision.action is Action.HOLD else "cancelled"
    return f"{done}:{decision.reason}"


async def _facts(
    conn: asyncpg.Connection,
    business: Business,
    step: int,
    holds: int,
    conversation: asyncpg.Record,
    block: str | None,
) -> StepFacts:
    replied = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1"
        " AND author = 'customer' AND kind = 'text')",
        conversation["id"],
    )
    settings = get_settings()
    return StepFacts(
        step=step,
        steps_in_schedule=len(steps_of(business.followup_schedule)),
        holds=holds,
        conversation_status=conversation["status"],
        conversation_mode=conversation["mode"],
        paused_reason=conversation["auto_paused_reason"],
        outcome=conversation["outcome"],
        customer_replied=bool(replied),
        block_reason=block,
        quiet_until=quiet_until(
            business.time_zone,
            datetime.now(UTC),
            settings.quiet_hours_start,
            settings.quiet_hours_end,
        ),
    )


async def recheck_retry(
    conn: asyncpg.Connection, business: Business, intent: asyncpg.Record
) -> StepDecision:
    """A follow-up text that failed at Twilio, about to be tried again: what `decide_step`
    says now (the customer replied since, the owner took over, closed it or marked an
    outcome, quiet hours). Read without locks: the sweep holds the intent's claim."""
    step = step_of_fact(intent["fact_key"], FOLLOWUP_KIND)
    conversation = await conn.fetchrow(
        "SELECT * FROM conversations WHERE id = $1", intent["conversation_id"]
    )
    if step is None or conversation is None:
        return StepDecision(Action.CANCEL, "gone")
    holds = await conn.fetchval(
        "SELECT holds FROM followup_tasks WHERE conversation_id = $1 AND step = $2",
        conversation["id"], step,
    )  # fmt: skip
    block = await contacts.block_reason(conn, business, intent["to_number"])
    facts = await _facts(conn, business, step, holds or 0, conversation, block)
    return decide_step(facts, datetime.now(UTC))


def followup_text(business: Business, step: int, caller: str) -> str:
    """Step `step`'s text: the business's `followup_<step>` template with its merge fields."""
    rendered = templates.render(
        f"followup_{step}", business.templates, business_name=business.name,
        owner_name=business.owner_name or "", caller=caller,
        **templates.booking_fields(business.booking_url),
    )  # fmt: skip
    return tidy(rendered)


async def _send(
    w: Work, business: Business, task: asyncpg.Record, conversation: asyncpg.Record
) -> StepDecision:
    step, conversation_id = task["step"], conversation["id"]
    try:
        text_id = await outbound.send_after_commit(
            w, business, to=conversation["customer_phone"],
            body=followup_text(business, step, conversation["customer_phone"]),
            author="system", kind=FOLLOWUP_KIND, fact=followup_fact(conversation_id, step),
            conversation_id=conversation_id, automated=True,
        )  # fmt: skip
    except outbound.SendBlocked as blocked:
        return after_refusal(blocked.reason, task["holds"], datetime.now(UTC))
    await w.conn.execute(
        "UPDATE followup_tasks SET text_id = $2 WHERE id = $1", task["id"], text_id
    )
    w.record(
        FollowupSent(
            business_id=business.id, conversation_id=conversation_id,
            conversation_ref=conversation["ref"], customer=conversation["customer_phone"],
            step=step, text_id=text_id,
        )
    )  # fmt: skip
    return StepDecision(Action.SEND)


async def _finish(conn: asyncpg.Connection, task_id: int, decision: StepDecision) -> None:
    if decision.action is Action.HOLD:
        await conn.execute(
            "UPDATE followup_tasks SET due_at = $2, reason = $3, holds = holds + 1 WHERE id = $1",
            task_id, decision.until, decision.reason,
        )  # fmt: skip
        return
    status = "sent" if decision.action is Action.SEND else "cancelled"
    await conn.execute(
        "UPDATE followup_tasks SET status = $2, reason = nullif($3, ''), done_at = now()"
        " WHERE id = $1",
        task_id, status, decision.reason,
    )  # fmt: skip


async def cancel_pending(conn: asyncpg.Connection, conversation_id: uuid.UUID, reason: str) -> int:
    """Cancel the conversation's scheduled steps (an outcome was recorded); returns how many.
    A step a timer is deciding right now is skipped, not waited for (the caller holds the
    conversation, which that timer locks next: waiting would deadlock): the timer then sees the
    outcome under its lock and cancels the step itself."""
    result = await conn.execute(
        "UPDATE followup_tasks SET status = 'cancelled', reason = $2, done_at = now()"
        " WHERE id IN (SELECT id FROM followup_tasks WHERE conversation_id = $1"
        "   AND status = 'scheduled' FOR UPDATE SKIP LOCKED)",
        conversation_id, reason,
    )  # fmt: skip
    return int(result.split()[-1])


async def steps_of_conversation(conversation_id: uuid.UUID) -> list[asyncpg.Record]:
    """The conversation's follow-up steps (the API and the simulator show them)."""
    pool = await get_pool()
    return await pool.fetch(
        "SELECT step, status, reason, due_at, done_at FROM followup_tasks"
        " WHERE conversation_id = $1 ORDER BY step",
        conversation_id,
    )


async def send_next_now(conversation_id: uuid.UUID) -> tuple[int, str] | None:
    """The owner's "follow up now" (and the simulator's fast-forward): the conversation's next
    scheduled step becomes due and is sent at once, under every rule a timer applies. Returns
    (step, what happened), or None when no step is scheduled."""
    pool = await get_pool()
    row = await pool.fetchrow(
        "UPDATE followup_tasks SET due_at = now() WHERE id = (SELECT id FROM followup_tasks"
        " WHERE conversation_id = $1 AND status = 'scheduled' ORDER BY step LIMIT 1)"
        " RETURNING id, step",
        conversation_id,
    )
    if row is None:
        return None
    return row["step"], await send_step(row["id"])
