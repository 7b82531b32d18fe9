"""Every text the app sends, through one door: the rules and the intent.

`send_after_commit` runs inside the caller's unit of work (`platform.work`). It refuses
(SendBlocked) a text to a number that opted out, is blocked, is a known landline or
undeliverable, or is the business's own; automated texts also pass the loop guard (at most
MAX_AUTOMATED_PER_HOUR per conversation per hour) and wait while the business's sending is
paused. A text that passes is written as an intent (`outbound_texts`, unique per fact: a
redelivered decision finds it and adds nothing) and, in a conversation, as a pending message,
in the caller's transaction. `delivery.deliver` sends it after commit, with no transaction open,
and marks it; what the caller decided (an owner alert, a closed conversation) never depends on
Twilio accepting the text.

The first text of a conversation, whoever writes it (the scripted intake, the model, the owner),
names the business and says how to opt out (`identified`), once: only when nothing was sent in
the conversation before. An automated text is shortened to stay within its segment budget (at
least two); the owner's words are sent whole.
"""

from __future__ import annotations

import logging
import uuid

import asyncpg

from shared_code.businesses import templates
from shared_code.businesses.store import Business
from shared_code.messaging import delivery, messages, send_rules
from shared_code.platform.settings import get_settings
from shared_code.platform.sms_segments import count_segments
from shared_code.platform.work import Work

log = logging.getLogger(__name__)

MAX_BODY = 1600
# Texts that are worth nothing late: Twilio drops them if still queued after SMS_VALIDITY_SECONDS.
TIME_SENSITIVE_KINDS = frozenset({"text_back", "reply", "owner_alert", "owner_relay", "followup"})


# Texts to the customer that may open a conversation (the text-back carries its own template).
FIRST_MESSAGE_KINDS = frozenset({"reply", "owner_reply"})


def identified(body: str, business_name: str, *, shorten: bool) -> str:
    """`body` naming the business and saying how to opt out; with `shorten`, cut (at a word)
    so that this adds no segment beyond max(its own count, 2)."""

    def wrap(text: str) -> str:
        return templates.first_message(text, business_name)

    text = wrap(body)
    budget = max(count_segments(body).segments, 2)
    while shorten and count_segments(text).segments > budget and len(body) > 20:
        head = body.removesuffix("...")[:-8].rsplit(" ", 1)[0].rstrip(" ,;:-")
        body = f"{head}..."
        text = wrap(body)
    return text


async def _texted_before(conn: asyncpg.Connection, conversation_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1"
            " AND direction = 'outbound')",
            conversation_id,
        )
    )


class SendBlocked(Exception):
    """A rule forbids this text; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _loop_guard(conn: asyncpg.Connection, conversation_id: uuid.UUID) -> None:
    recent = await messages.automated_in_last_hour(conn, conversation_id)
    if recent >= get_settings().max_automated_per_hour:
        raise SendBlocked("loop_guard")


async def send_after_commit(
    w: Work,
    business: Business,
    *,
    to: str,
    body: str,
    author: str,
    kind: str,
    fact: str,
    conversation_id: uuid.UUID | None,
    automated: bool,
    allow_opted_out: bool = False,
    background: bool = False,
) -> int:
    """Decide one text under the rules and commit it as an intent in `w`; it is sent after
    commit. `fact` names what the text is for (one text per fact, however often the decision
    is redelivered): e.g. `text_back:<CallSid>`. Returns the intent's id; raises SendBlocked.
    With `background`, the send after commit is started and not waited for (the web sign-in
    answers in the same time whether a text went out); the sweep (`send_unsent`) is its net."""
    body = body.strip()[:MAX_BODY]
    if not body:
        raise SendBlocked("empty")
    reason = await send_rules.refusal(
        w.conn, business, to, kind=kind, automated=automated, allow_opted_out=allow_opted_out
    )
    if reason is not None:
        raise SendBlocked(reason)
    if automated and conversation_id is not None:
        await _loop_guard(w.conn, conversation_id)
    if (
        conversation_id is not None
        and kind in FIRST_MESSAGE_KINDS
        and not await _texted_before(w.conn, conversation_id)
    ):
        body = identified(body, business.name, shorten=automated)[:MAX_BODY]
    segments = count_segments(body)
    validity = get_settings().sms_validity_seconds if kind in TIME_SENSITIVE_KINDS else None
    if kind == send_rules.LOGIN_CODE:  # worthless once the code expires
        validity = send_rules.LOGIN_CODE_VALIDITY_SECONDS
    text_id = await delivery.write_intent(
        w.conn, fact, business, conversation_id, to=to, body=body, author=author, kind=kind,
        automated=automated, allow_opted_out=allow_opted_out, segments=segments,
        validity_seconds=validity, source=w.source,
    )  # fmt: skip
    sender = business.messaging_service_sid or business.phone_number
    w.then(lambda: delivery.deliver(text_id, sender), background=background)
    return text_id
