"""What a customer's text calls for, decided without touching anything (unit-tested alone).

The responder reads the facts (the keyword match, whether the sender opted out, the
conversation as it stands, whether the text has an emergency word) and asks these functions what
to do; it then does it in one unit of work. Keeping the decisions pure keeps each rule in one
readable place: the compliance keywords, the owner relay, the idle-owner release, the escalation,
and when a queued reply task still has work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared_code.assistant.keywords import Intent, KeywordMatch
from shared_code.messaging.conversations import owner_is_active


class Notice(StrEnum):
    """A one-off confirmation we text ourselves. Twilio answers its exact keywords (and HELP,
    which has no natural-language form here) itself, so there is no HELP notice."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


@dataclass(frozen=True)
class InboundPlan:
    """What to do with a customer's text, before any conversation-specific routing."""

    intent: Intent  # as acted on ("yes" mid-intake from a subscribed number is just a text)
    store: bool  # open the conversation and store the text
    notice: Notice | None = None
    outcome: str = ""  # the handler's outcome when it ends here; "" when the text is routed


def decide_inbound(match: KeywordMatch, opted_out: bool) -> InboundPlan:
    """The compliance keywords first: STOP/START/HELP (exact or in words) and opted-out senders.

    - an opted-out number is recorded and not answered, unless it opts back in (or says STOP
      again, which is stored so the owner sees it);
    - exact keywords are answered by Twilio (its default handling, or Advanced Opt-Out), so we
      record them and never answer a second time: STOP and START are acted on, HELP/INFO is
      stored for the owner and not routed to the assistant; natural-language opt-outs and
      opt-ins are ours to confirm;
    - Twilio's own verdict (`OptOutType`) is acted on as it says, even a START from a number
      that never opted out: Twilio has already sent its confirmation;
    - a STOP from a number already opted out is not confirmed twice.
    """
    intent = match.intent
    if intent is Intent.OPT_IN and not opted_out and not match.twilio_verdict:
        intent = Intent.NONE  # "yes" in the middle of an intake
    if opted_out and intent not in (Intent.OPT_IN, Intent.OPT_OUT):
        return InboundPlan(intent, store=False, outcome="opted_out")
    store = not opted_out or intent is Intent.OPT_IN
    if intent is Intent.OPT_OUT:
        confirm = not match.exact_keyword and not opted_out
        return InboundPlan(intent, store, Notice.OPT_OUT if confirm else None, "opted_out_now")
    if intent is Intent.OPT_IN:
        return InboundPlan(
            intent, store, None if match.exact_keyword else Notice.OPT_IN, "opted_in"
        )
    if intent is Intent.HELP:  # only ever the exact word or Twilio's verdict: Twilio answered
        return InboundPlan(intent, store, None, "help")
    return InboundPlan(intent, store)


class Route(StrEnum):
    RELAY_TO_OWNER = "relayed_to_owner"
    REPLY = "reply_scheduled"


@dataclass(frozen=True)
class RoutePlan:
    route: Route
    resume_assistant: bool = False  # the owner took over and went idle: the assistant resumes
    escalate: str | None = None  # the escalation reason, when this text escalates


def decide_route(
    conversation: Mapping[str, Any], emergency_word: str | None, now: datetime
) -> RoutePlan:
    """An ordinary customer text: relay to an owner who is active, else schedule the reply
    (resuming the assistant if the owner went idle) and escalate on an emergency word once."""
    if owner_is_active(conversation, now):
        return RoutePlan(Route.RELAY_TO_OWNER)
    escalate = None
    if emergency_word and conversation["escalated_at"] is None:
        escalate = f"emergency: {emergency_word}"
    return RoutePlan(
        Route.REPLY, resume_assistant=conversation["mode"] == "owner", escalate=escalate
    )


def reply_gate(
    conversation: Mapping[str, Any], pending_ids: list[int], after_id: int, now: datetime
) -> str | None:
    """Why a reply task has nothing to do now (its outcome), or None when it should answer.

    `pending_ids` are the customer's unanswered texts. Only the task of the newest text answers:
    a burst of texts gets one reply."""
    if conversation["status"] != "open" or conversation["auto_paused_reason"]:
        return "paused"
    if owner_is_active(conversation, now):
        return "owner_active"
    if not pending_ids:
        return "nothing_new"
    if max(pending_ids) > after_id:
        return "superseded"  # a newer text's task will answer them all
    return None
