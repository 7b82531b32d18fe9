"""What to answer a customer: the model when configured, the scripted intake otherwise.

The customer is never left in silence: any model failure (error, timeout, rate limit, empty
answer) falls back to the scripted intake's next question. Model usage is reported even when
the answer was unusable, since the tokens were spent.
"""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from shared_code.assistant import intake, keywords, model
from shared_code.businesses.hours import describe_hours
from shared_code.businesses.store import Business
from shared_code.contracts import UsageRecorded
from shared_code.credits import ledger, pricing
from shared_code.platform.settings import get_settings
from shared_code.platform.work import Work

log = logging.getLogger(__name__)


@dataclass
class ReplyPlan:
    reply: str
    lead: dict[str, str]
    lead_complete: bool = False
    escalate_reason: str | None = None
    close_reason: str | None = None
    auto_responder: bool = False
    usage: list[UsageRecorded] = field(default_factory=list)  # recorded with the reply


def profile(business: Business) -> model.BusinessProfile:
    return model.BusinessProfile(
        name=business.name,
        services=business.services,
        service_area=business.service_area,
        hours_text=describe_hours(business.weekly_hours),
        faq=list(business.faq),
        owner_name=business.owner_name or "",
        booking_url=business.booking_url or "",
    )


def _booking_url_to_offer(business: Business, history: list[dict[str, str]]) -> str:
    """The booking link for the scripted intake to offer, once per conversation: empty when
    the business has none or it was already sent."""
    url = business.booking_url or ""
    if url and any(url in m.get("text", "") for m in history if m.get("role") != "customer"):
        return ""
    return url


def _usage_event(
    business: Business,
    conversation: asyncpg.Record,
    usage: model.ModelUsage,
    reservation: uuid.UUID,
) -> UsageRecorded:
    return UsageRecorded(
        business_id=business.id, conversation_id=conversation["id"], kind="ai",
        call_id=uuid.uuid4(),  # one model call happened once: its own id
        # A response that named no model (garbage) was still a call to the one we asked.
        model=usage.model or get_settings().openai_model,
        reservation_id=reservation, input_tokens=usage.input_tokens,
        cached_tokens=usage.cached_tokens, output_tokens=usage.output_tokens,
        latency_ms=usage.latency_ms,
    )  # fmt: skip


def emergency_words() -> tuple[str, ...]:
    """EMERGENCY_KEYWORDS (comma-separated) or the built-in list."""
    configured = get_settings().emergency_keywords
    words = tuple(w.strip() for w in configured.split(",") if w.strip())
    return words or keywords.DEFAULT_EMERGENCY_WORDS


def emergency_ack(business: Business) -> str:
    who = business.owner_name or business.name
    return (
        f"This sounds urgent. We've alerted {who} right now and they'll contact you as soon as"
        " they can. If anyone is in danger, call 911."
    )


async def compose(
    w: Work,
    business: Business,
    conversation: asyncpg.Record,
    texts: list[str],
    history: list[dict[str, str]],
) -> ReplyPlan:
    lead = dict(conversation["lead"] or {})
    if any(keywords.looks_like_auto_reply(text) for text in texts):
        return ReplyPlan(reply="", lead=lead, auto_responder=True)
    # The scripted turn answers without a model and is the model's fallback; on the AI path it
    # is mostly unused, so it is worked out only when needed.
    # Nothing sent yet in this conversation (the customer texted first): the reply introduces
    # the business and says how to opt out (outbound makes sure of it for any reply).
    first = all(m.get("role") == "customer" for m in history)
    scripted = functools.cache(
        lambda: intake.next_turn(
            lead,
            texts,
            business.name,
            time_zone=business.time_zone,
            now=datetime.now(UTC),
            service_area=business.service_area,
            first=first,
            booking_url=_booking_url_to_offer(business, history),
        )
    )
    escalated = conversation["escalated_at"] is not None
    if escalated and any(keywords.is_emergency(t, emergency_words()) for t in texts):
        fallback = scripted()
        return ReplyPlan(emergency_ack(business), fallback.lead, fallback.complete)
    usage_events: list[UsageRecorded] = []
    if model.is_configured():
        reservation = await _admit(w.conn, business, history)
        if reservation is None:
            await ledger.note_exhausted(w, business.id)
            fallback = scripted()
            return ReplyPlan(fallback.reply, fallback.lead, fallback.complete)
        else:
            try:
                turn = await model.ai_turn(
                    profile(business), lead, history,
                    timeout_seconds=get_settings().assistant_timeout_seconds,
                )  # fmt: skip
            except model.AssistantUnavailable as exc:
                log.warning("model unavailable, scripted reply instead: %s", type(exc).__name__)
                if exc.usage is None:
                    await ledger.release(reservation, w.conn)
                else:
                    usage_events.append(
                        _usage_event(business, conversation, exc.usage, reservation)
                    )
            except Exception:  # no usage event will come to settle the hold: give it back now
                await ledger.release(reservation, w.conn)
                raise
            else:
                usage_events.append(_usage_event(business, conversation, turn.usage, reservation))
                merged = {**lead, **{k: v for k, v in turn.lead_updates.items() if v}}
                reply = turn.reply or ("" if turn.close_reason else scripted().reply)
                return ReplyPlan(
                    reply=reply,
                    lead=merged,
                    lead_complete=intake.next_missing(merged) is None,
                    escalate_reason=turn.escalate_reason,
                    close_reason=turn.close_reason,
                    usage=usage_events,
                )
    fallback = scripted()
    return ReplyPlan(fallback.reply, fallback.lead, fallback.complete, usage=usage_events)


# A generous ceiling per turn: system prompt and tools, the history, two requests of output.
PROMPT_OVERHEAD_TOKENS = 1200
MAX_OUTPUT_TOKENS = 200


async def _admit(
    conn: asyncpg.Connection, business: Business, history: list[dict[str, str]]
) -> uuid.UUID | None:
    """Reserve the most this turn can cost; None when the business lacks the credit."""
    prompt_tokens = PROMPT_OVERHEAD_TOKENS + sum(len(m["text"]) for m in history) // 3
    estimate = pricing.estimate_ai_max(
        get_settings().openai_model, prompt_tokens, MAX_OUTPUT_TOKENS
    )
    return await ledger.reserve(business.id, estimate, conn)
