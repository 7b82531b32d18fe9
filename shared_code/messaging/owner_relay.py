"""The owner steps in: by texting the business number from their registered phone, or by API.

An owner text "#12 On my way" goes to the customer of conversation 12; with one open
conversation the "#12" may be left out. Sending takes the conversation over (the assistant
pauses) until the owner texts "#12 release" (or "resume"/"bot"), closes it ("#12 close"), or goes
quiet for OWNER_IDLE_MINUTES. "#12 booked", "#12 won 450", "#12 lost" and "#12 spam" record the
lead's outcome (messaging.outcomes) instead, on any of the business's conversations, open or
closed, and are confirmed to the owner. A text that starts with an outcome word but does not
read as one ("#12 won 450k", "#12 booked for Tuesday"), or an outcome without its "#12", is
never relayed: the owner is told how to write it, and the customer gets nothing. Everything
the customer sent before the owner's text counts as answered, so a release never makes the
assistant answer old messages again.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass

import asyncpg

from shared_code.businesses.store import Business
from shared_code.contracts import ReplyTask
from shared_code.credits.streaks import activity_recorded
from shared_code.messaging import conversations, messages, outbound, outcomes
from shared_code.platform.work import Work, work

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


@dataclass(frozen=True)
class OwnerResult:
    outcome: str
    conversation_id: uuid.UUID | None


async def handle_owner_text(business: Business, sid: str, body: str) -> str:
    """An SMS from the owner's phone to the business number."""
    assert business.owner_phone is not None
    async with work(SOURCE) as w:
        if not await messages.record_receipt(
            w.conn, sid, business.id, business.owner_phone, "owner"
        ):
            # A redelivery: a release it made may have lost its reply task after commit. Put
            # one again for any conversation back with the assistant and still unanswered (the
            # reply gate makes a task with nothing to answer a no-op).
            for conversation_id, through in await messages.unanswered_with_assistant(
                w.conn, business.id
            ):
                w.after_commit(ReplyTask(conversation_id=conversation_id, after_message_id=through))
            return "duplicate"
        try:
            marked = await _mark_outcome(w, business, body, about=sid)
            if marked is not None:
                return marked
            conversation, text = await _target(w.conn, business, body)
            if _ADDRESSED.match(body) is None:
                _refuse_unaddressed_outcome(conversation, text)
            result = await act(w, business, conversation, text, about=sid)
        except OwnerActionError as err:
            await _tell_owner(w, business, err.reason, about=sid)
            return err.code
    return result.outcome


async def act(
    w: Work, business: Business, conversation: asyncpg.Record, text: str, *, about: str
) -> OwnerResult:
    """Release, close, or relay `text` to the customer (taking the conversation over).
    `about` names the owner's request (their text's sid, or an API request id): the texts it
    causes are one each per request, however often it is redelivered."""
    command = text.strip().lower().rstrip(".!")
    ref = conversation["ref"]
    if command in RELEASE_WORDS:
        return await release(w, business, conversation, notify_owner=True, about=about)
    if command in CLOSE_WORDS:
        result = await close(w, conversation)
        await _tell_owner(w, business, f"#{ref} closed.", about=about)
        return result
    if not text.strip():
        raise OwnerActionError("empty", f"Nothing to send. Text '#{ref} your message'.")
    return await send_as_owner(w, business, conversation, text, about=about)


async def send_as_owner(
    w: Work, business: Business, conversation: asyncpg.Record, text: str, *, about: str
) -> OwnerResult:
    taken = await conversations.take_over(w.conn, conversation["id"])
    if taken is None:
        raise OwnerActionError("closed", f"#{conversation['ref']} is closed.")
    await conversations.mark_customer_texts_answered(w.conn, conversation["id"])
    try:
        text_id = await outbound.send_after_commit(
            w, business, to=conversation["customer_phone"], body=text, author="owner",
            kind="owner_reply", fact=f"owner_reply:{about}", conversation_id=conversation["id"],
            automated=False,
        )  # fmt: skip
    except outbound.SendBlocked as blocked:
        raise OwnerActionError(
            blocked.reason, f"Not sent to #{conversation['ref']}: {blocked.reason}."
        ) from None
    w.record(activity_recorded(business.id, "owner_reply", f"text:{text_id}"))
    return OwnerResult("relayed", conversation["id"])


async def close(w: Work, conversation: asyncpg.Record) -> OwnerResult:
    """Close the conversation (the owner's "#12 close", the API's and the web inbox's Close);
    closing a closed one changes nothing."""
    await conversations.close(w.conn, conversation["id"])
    return OwnerResult("closed", conversation["id"])


async def take_over(w: Work, conversation: asyncpg.Record) -> OwnerResult:
    taken = await conversations.take_over(w.conn, conversation["id"])
    if taken is None:
        raise OwnerActionError("closed", "the conversation is closed")
    fact = f"{conversation['id']}:{taken['owner_active_at'].isoformat()}"
    w.record(activity_recorded(taken["business_id"], "takeover", fact))
    return OwnerResult("taken_over", conversation["id"])


async def release(
    w: Work,
    business: Business,
    conversation: asyncpg.Record,
    *,
    about: str,
    notify_owner: bool = False,
) -> OwnerResult:
    """Hand back to the assistant; if the customer wrote since the owner's last text, answer."""
    released = await conversations.release(w.conn, conversation["id"])
    if released is None:
        raise OwnerActionError("closed", f"#{conversation['ref']} is closed.")
    if notify_owner:
        back = f"#{conversation['ref']} is back with the assistant."
        await _tell_owner(w, business, back, about=about)
    unanswered = await messages.newest_customer_text_after(
        w.conn, conversation["id"], released["replied_through_id"]
    )
    if unanswered:
        w.after_commit(ReplyTask(conversation_id=conversation["id"], after_message_id=unanswered))
    return OwnerResult("released", conversation["id"])


async def _mark_outcome(w: Work, business: Business, body: str, *, about: str) -> str | None:
    """ "#12 won 450" and friends: record the outcome and confirm it; None when the text is
    not an outcome command (it is then a message for the customer). Raises OwnerActionError
    for words that start like one but do not parse: those are never relayed."""
    addressed = _ADDRESSED.match(body)
    if addressed is None:
        return None
    ref, words = int(addressed.group(1)), addressed.group(2)
    marking = outcomes.parse_command(words)
    if marking is None:
        word = outcomes.command_word(words)
        if word is None:
            return None
        raise OwnerActionError("unreadable_outcome", outcomes.unreadable(ref, word))
    conversation = await conversations.by_ref(w.conn, business.id, ref)
    if conversation is None:
        raise OwnerActionError("unknown_ref", f"No conversation #{ref}.")
    row = await outcomes.record(w, business, conversation, marking, source="sms", request_key=about)
    marked = outcomes.marking_of(row) if row is not None else marking
    await _tell_owner(w, business, f"#{ref} marked {outcomes.describe(marked)}.", about=about)
    return "outcome_recorded"


def _refuse_unaddressed_outcome(conversation: asyncpg.Record, text: str) -> None:
    """ "won 450" without its "#12": marking needs the number (an outcome is often for a closed
    conversation), and relaying it would text the customer the owner's bookkeeping."""
    word = outcomes.command_word(text)
    if word is None:
        return
    ref = conversation["ref"]
    example = f"#{ref} won 450" if word == "won" else f"#{ref} {word}"
    raise OwnerActionError(
        "unaddressed_outcome",
        f"Not sent: to mark an outcome, start with the number: {example}. To text the"
        f" customer, don't start with '{word}'.",
    )


async def _target(
    conn: asyncpg.Connection, business: Business, body: str
) -> tuple[asyncpg.Record, str]:
    """Which conversation the owner's text is for, and the text without its "#12"."""
    addressed = _ADDRESSED.match(body)
    if addressed:
        ref, text = int(addressed.group(1)), addressed.group(2)
        row = await conversations.by_ref(conn, business.id, ref)
        if row is None or row["status"] != "open":
            raise OwnerActionError("unknown_ref", f"No open conversation #{ref}.")
        return row, text
    open_rows = await conversations.recently_active_open(conn, business.id, 6)
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


async def _tell_owner(w: Work, business: Business, text: str, *, about: str) -> None:
    if not business.owner_phone:
        return
    try:
        await outbound.send_after_commit(
            w, business, to=business.owner_phone, body=text, author="system",
            kind="owner_notice", fact=f"owner_notice:{about}", conversation_id=None,
            automated=False,
        )  # fmt: skip
    except outbound.SendBlocked:
        return
