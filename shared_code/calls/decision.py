"""What one delivery of a call report does, decided from facts alone (no database, no clock).

The handler reads the facts (the call row as found, locked; the suppression facts about the
caller), asks `decide`, and writes what it says. Keeping the rules here, pure, lets every branch
be tested without a server, and keeps the handler a plain read | decide | write script.

A call's `text_back_status` starts `pending` (missed) or `not_missed`, and is decided once:
`sent`, `held` (quiet hours: decided again when the hold ends) or `suppressed_<rule>`. Every
delivery after that is a duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from shared_code.calls.classification import Classification

PENDING, HELD = "pending", "held"
# Missed calls the owner is not alerted about: their own phones, and numbers they blocked.
NO_ALERT = frozenset({"suppressed_own_number", "suppressed_blocked"})


def initial_text_back_status(verdict: Classification) -> str:
    """The status a call row is created with: a miss awaits its text-back decision."""
    return PENDING if verdict.missed else "not_missed"


@dataclass(frozen=True)
class CallAsFound:
    """The call row as the delivery found it (locked), before anything is written."""

    text_back_status: str
    decided: bool
    hold_until: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CallAsFound:
        return cls(row["text_back_status"], row["decided_at"] is not None, row["hold_until"])

    def awaits_text_back(self, now: datetime) -> bool:
        """The messaging rules decide now: a new miss, or one held until a time now past."""
        if self.text_back_status == PENDING:
            return True
        return self.text_back_status == HELD and not self._still_held(now)

    def _still_held(self, now: datetime) -> bool:
        return self.hold_until is not None and self.hold_until > now


@dataclass(frozen=True)
class SuppressionFacts:
    """What the messaging rules need to know about the caller, read inside the transaction.

    `block` is "invalid_number" (no E.164 caller: anonymous, withheld) or a contacts
    block reason ("own_number", "blocked", "opted_out", "landline", "undeliverable"); the other
    facts are only read when nothing blocks.
    """

    block: str | None = None
    open_conversation: bool = False
    cooldown_over: bool = True
    quiet_until: datetime | None = None  # when quiet hours end, if they hold texts now


class Write(Enum):
    MARK_DECIDED = "mark_decided"  # a duplicate: stamp decided_at if it never was
    NOTHING = "nothing"  # still held: wait for the delayed redelivery
    DECISION = "decision"  # record the status (after the text-back, if one is due)


@dataclass(frozen=True)
class Decision:
    status: str  # the call's text_back_status after this delivery, or "duplicate"
    write: Write
    hold_until: datetime | None = None  # come back then (queue the report with a delay)
    send_text_back: bool = False  # may still end suppressed: a concurrent claim wins the race
    alert_owner: bool = False  # record `call.missed`


def decide(call: CallAsFound, facts: SuppressionFacts | None, now: datetime) -> Decision:
    """The delivery's outcome. `facts` are needed only when `call.awaits_text_back(now)`."""
    if call.text_back_status not in (PENDING, HELD):
        return Decision("duplicate" if call.decided else call.text_back_status, Write.MARK_DECIDED)
    if not call.awaits_text_back(now):
        return Decision(HELD, Write.NOTHING, hold_until=call.hold_until)
    if facts is None:
        raise ValueError("a call awaiting its text-back is decided on the suppression facts")
    status, hold_until = _first_rule_against_texting(facts)
    return Decision(
        status,
        Write.DECISION,
        hold_until=hold_until,
        send_text_back=status == PENDING,
        # Once per call: on its first decision, not when a held text-back is released.
        alert_owner=call.text_back_status == PENDING and status not in NO_ALERT,
    )


def _first_rule_against_texting(facts: SuppressionFacts) -> tuple[str, datetime | None]:
    """The first messaging rule that forbids a text-back now, or "pending" if none does."""
    if facts.block is not None:
        return f"suppressed_{facts.block}", None
    if facts.open_conversation:
        return "suppressed_open_conversation", None
    if not facts.cooldown_over:
        return "suppressed_cooldown", None
    if facts.quiet_until is not None:
        return HELD, facts.quiet_until
    return PENDING, None
