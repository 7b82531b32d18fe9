"""What a follow-up step should do, decided without touching anything (unit-tested alone).

`messaging.followups` reads the facts of one due step (the conversation as locked, the
contact's block reason, quiet hours) and asks `decide_step`; it then does what the answer says
in the same transaction. The rules, in one place:

- never to a customer who replied (any text of theirs in the conversation), opted out or was
  blocked since (the contact's block reason), whose conversation the owner took over, was
  closed, paused (another auto-responder) or given an outcome (booked, won, lost, spam);
- quiet hours hold the step until they end (in the business's zone);
- a step no longer in the business's schedule (shortened, or turned off) is cancelled;
- a step held too often (paused sending, the loop guard) is given up rather than sent days late.

`due_after` is the schedule's clock: minutes are elapsed time, days are calendar days in the
business's zone at the same wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared_code.businesses.followup_schedule import FollowupStep

# Held for a transient reason (paused sending, loop guard): try again this much later.
RETRY_HOLD = timedelta(hours=1)
# Holds after which a step is given up (about two days of hourly retries).
MAX_HOLDS = 48
# Refusals of the sending rules that pass on their own: the step waits instead of ending.
TRANSIENT_REFUSALS = frozenset({"loop_guard", "sending_paused"})


def due_after(anchor: datetime, step: FollowupStep, time_zone: str) -> datetime:
    """When `step` is due, counted from `anchor` (an aware datetime: our previous text)."""
    if step.after_minutes is not None:
        return (anchor + timedelta(minutes=step.after_minutes)).astimezone(UTC)
    assert step.after_days is not None
    zone = ZoneInfo(time_zone)
    wall = anchor.astimezone(zone).replace(tzinfo=None) + timedelta(days=step.after_days)
    # A wall time that does not exist that day (the spring-forward gap) resolves forward
    # (fold=0 uses the offset before the gap): 02:30 on that day means 03:30.
    return wall.replace(tzinfo=zone).astimezone(UTC)


class Action(StrEnum):
    SEND = "send"
    HOLD = "hold"
    CANCEL = "cancel"


@dataclass(frozen=True)
class StepDecision:
    action: Action
    reason: str = ""
    until: datetime | None = None  # HOLD: when to look again


@dataclass(frozen=True)
class StepFacts:
    """One due step as found under its locks."""

    step: int
    steps_in_schedule: int
    holds: int
    conversation_status: str
    conversation_mode: str
    paused_reason: str | None
    outcome: str | None
    customer_replied: bool
    block_reason: str | None
    quiet_until: datetime | None


def decide_step(facts: StepFacts, now: datetime) -> StepDecision:
    """Send, hold (and until when) or cancel (and why) one due follow-up step."""
    if facts.customer_replied:
        return StepDecision(Action.CANCEL, "replied")
    if facts.block_reason is not None:
        return StepDecision(Action.CANCEL, facts.block_reason)
    if facts.conversation_status != "open":
        return StepDecision(Action.CANCEL, "closed")
    if facts.conversation_mode == "owner":
        return StepDecision(Action.CANCEL, "owner_mode")
    if facts.paused_reason:
        return StepDecision(Action.CANCEL, "paused")
    if facts.outcome is not None:
        return StepDecision(Action.CANCEL, f"outcome_{facts.outcome}")
    if facts.step > facts.steps_in_schedule:
        return StepDecision(Action.CANCEL, "not_in_schedule")
    if facts.quiet_until is not None:
        return StepDecision(Action.HOLD, "quiet_hours", facts.quiet_until)
    return StepDecision(Action.SEND)


def after_refusal(reason: str, holds: int, now: datetime) -> StepDecision:
    """The sending rules refused the text at the last moment (`outbound.SendBlocked`)."""
    if reason in TRANSIENT_REFUSALS and holds < MAX_HOLDS:
        return StepDecision(Action.HOLD, reason, now + RETRY_HOLD)
    return StepDecision(Action.CANCEL, reason if reason not in TRANSIENT_REFUSALS else "gave_up")


def step_of_fact(fact_key: str, kind: str) -> int | None:
    """The follow-up step a sent text was (0 for the text-back), from its intent's key; None
    for any other text."""
    if kind == "text_back":
        return 0
    if kind == "followup":
        try:
            return int(fact_key.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            return None
    return None


def followup_fact(conversation_id: object, step: int) -> str:
    """The intent key of a follow-up step: one text per conversation and step."""
    return f"followup:{conversation_id}:{step}"


def tidy(text: str) -> str:
    """A rendered template with an empty merge field leaves a double space: close it."""
    return " ".join(part for part in text.split(" ") if part).strip()
