"""Outcomes: what became of a lead, as the owner says it (API, or "#12 won 450" by text).

One marking is one row in `conversation_outcomes` (its id names the `outcome_recorded` event);
the conversation keeps the latest outcome for the inbox and the funnel. Recording one cancels
the conversation's pending follow-ups and counts as the owner's activity for the streak (kind
`lead_marked`), all in the caller's unit of work. An owner text redelivered marks nothing
twice (`request_key` is unique).

`parse_command` reads the owner's SMS words (pure): `booked`, `won`, `won 450`, `won $1,250.50`,
`won 450 dollars`, `lost`, `lost: went elsewhere`, `spam`. Words that start with an outcome
word but do not parse (`won 450k`, `won 1.200`, `booked for Tuesday`) are never a text for the
customer: `command_word` spots them and `unreadable` is the owner's answer. Anything else is a
text for the customer.

Marking the same outcome again without a value (`#12 won` after `#12 won 450`) keeps the value
(and a lost reason) the conversation has: only a different outcome, or a new value, replaces it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

import asyncpg

from shared_code.businesses.store import Business
from shared_code.contracts import OutcomeRecorded
from shared_code.credits.streaks import activity_recorded
from shared_code.messaging import followups
from shared_code.platform.work import Work

Outcome = Literal["booked", "won", "lost", "spam"]
OUTCOMES: tuple[Outcome, ...] = ("booked", "won", "lost", "spam")
MAX_VALUE_MICRO = 10_000_000 * 1_000_000  # ten million dollars: a typo guard, not a limit


@dataclass(frozen=True)
class Marking:
    outcome: Outcome
    value_micro: int | None = None
    reason: str | None = None


_MONEY = re.compile(
    r"^\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?:\s*(?:dollars?|usd|bucks))?$",
    re.IGNORECASE,
)
_LOST = re.compile(r"^lost(?:\s*[:\-,]\s*(.+))?$", re.DOTALL | re.IGNORECASE)


def dollars_to_micro(text: str) -> int | None:
    """ "450", "$1,250.50", "450 dollars" -> micro-USD (integers all the way: no float ever
    holds money). Anything less plain ("1.200", "4,50", "450k") is None: better asked again
    than recorded wrong."""
    match = _MONEY.match(text.strip())
    if match is None:
        return None
    try:
        whole = Decimal(match.group(1).replace(",", ""))
        cents = Decimal(match.group(2) or "0") / (10 ** len(match.group(2) or "0"))
    except InvalidOperation:
        return None
    micro = int((whole + cents) * 1_000_000)
    return micro if micro <= MAX_VALUE_MICRO else None


def parse_command(text: str) -> Marking | None:
    """The outcome an owner's words (after "#12") mark, or None when they are a message."""
    words = " ".join(text.strip().rstrip(".!").split())
    lowered = words.lower()
    if lowered in ("booked", "spam"):
        return Marking(lowered)  # type: ignore[arg-type]
    if lowered == "won":
        return Marking("won")
    if lowered.startswith("won "):
        value = dollars_to_micro(words[4:])
        return Marking("won", value_micro=value) if value is not None else None
    lost = _LOST.match(words)
    if lost is not None:
        return Marking("lost", reason=lost.group(1)[:300] if lost.group(1) else None)
    return None


def command_word(text: str) -> Outcome | None:
    """The outcome word the owner's words start with ("won 450k" -> "won"), else None."""
    words = text.split(maxsplit=1)
    first = words[0].lower().rstrip(".!?:;,-") if words else ""
    return next((outcome for outcome in OUTCOMES if outcome == first), None)


def unreadable(ref: int, word: Outcome) -> str:
    """The owner's answer to "#12 <word> ..." that does not parse (nothing is relayed)."""
    if word == "won":
        tip = f"Couldn't read the amount: try #{ref} won 450"
    elif word == "lost":
        tip = f"Couldn't read that: try #{ref} lost or #{ref} lost: the reason"
    else:
        tip = f"Couldn't read that: try #{ref} {word}"
    return (
        f"{tip}. Nothing was sent to the customer: to text them, don't start with"
        f" '{word}' (e.g. #{ref} You're {word} for Tuesday at 3)."
        if word == "booked"
        else f"{tip}. Nothing was sent to the customer."
    )


def money(micro: int) -> str:
    """$1,250.50 from micro-USD (cents shown, fractions of a cent dropped)."""
    return f"${micro // 1_000_000:,}.{micro % 1_000_000 // 10_000:02d}"


def describe(marking: Marking) -> str:
    """ "won ($450.00)", "lost (went elsewhere)": the owner's confirmation."""
    if marking.value_micro is not None:
        return f"{marking.outcome} ({money(marking.value_micro)})"
    if marking.reason:
        return f"{marking.outcome} ({marking.reason})"
    return marking.outcome


def kept(marking: Marking, current: asyncpg.Record | dict[str, object]) -> Marking:
    """`marking` with the conversation's value and reason filled in where it gives none and
    marks the outcome it already has (pure)."""
    if current["outcome"] != marking.outcome:
        return marking
    value = current["outcome_value_micro"] if marking.value_micro is None else marking.value_micro
    reason = current["outcome_reason"] if marking.reason is None else marking.reason
    return Marking(marking.outcome, value, reason)  # type: ignore[arg-type]


def marking_of(row: asyncpg.Record) -> Marking:
    """The marking a `conversation_outcomes` row recorded."""
    return Marking(row["outcome"], row["value_micro"], row["reason"])


async def record(
    w: Work,
    business: Business,
    conversation: asyncpg.Record,
    marking: Marking,
    *,
    source: Literal["api", "sms"],
    request_key: str | None = None,
) -> asyncpg.Record | None:
    """Mark the conversation in `w`; returns the marking's row (what was recorded, with a kept
    value: see `kept`), or None when `request_key` marked it already (a redelivered owner
    text, a repeated API request)."""
    current = await w.conn.fetchrow(
        "SELECT outcome, outcome_value_micro, outcome_reason FROM conversations"
        " WHERE id = $1 FOR UPDATE",
        conversation["id"],
    )
    if current is not None:
        marking = kept(marking, current)
    row = await w.conn.fetchrow(
        "INSERT INTO conversation_outcomes (business_id, conversation_id, outcome, value_micro,"
        " reason, source, request_key) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (request_key) DO NOTHING RETURNING *",
        business.id, conversation["id"], marking.outcome, marking.value_micro, marking.reason,
        source, request_key,
    )  # fmt: skip
    if row is None:
        return None
    await w.conn.execute(
        "UPDATE conversations SET outcome = $2, outcome_value_micro = $3, outcome_reason = $4,"
        " outcome_at = $5 WHERE id = $1",
        conversation["id"], marking.outcome, marking.value_micro, marking.reason,
        row["recorded_at"],
    )  # fmt: skip
    await followups.cancel_pending(w.conn, conversation["id"], f"outcome_{marking.outcome}")
    w.record(
        OutcomeRecorded(
            business_id=business.id, conversation_id=conversation["id"],
            conversation_ref=conversation["ref"], customer=conversation["customer_phone"],
            outcome=marking.outcome, value_micro=marking.value_micro, reason=marking.reason,
            source=source, marking_id=row["id"], recorded_at=row["recorded_at"],
        )
    )  # fmt: skip
    w.record(activity_recorded(business.id, "lead_marked", f"outcome:{row['id']}"))
    return row


async def by_request_key(conn: asyncpg.Connection, request_key: str) -> asyncpg.Record | None:
    """The marking a request made (an API request's idempotency key), if any."""
    return await conn.fetchrow(
        "SELECT * FROM conversation_outcomes WHERE request_key = $1", request_key
    )


async def history(conn: asyncpg.Connection, conversation_id: uuid.UUID) -> list[asyncpg.Record]:
    """Every marking of the conversation, oldest first."""
    return await conn.fetch(
        "SELECT id, outcome, value_micro, reason, source, recorded_at FROM conversation_outcomes"
        " WHERE conversation_id = $1 ORDER BY id",
        conversation_id,
    )
