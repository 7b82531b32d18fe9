"""What a missed caller hears before the beep, chosen from facts alone.

The greeting is a promise: "we'll text you in a moment" is said only when a text-back will go.
Nothing is promised to a caller the messaging rules will not text (opted out, a known landline,
undeliverable, blocked by the owner, the business's own or the owner's number, no valid caller
number, one already in a conversation with the business, one texted back within the cooldown)
or while the business's automated texts
are paused; in quiet hours the promise is "in the morning", when the held text-back goes. When the
facts could not be read in time, nothing is promised either: a caller told nothing and then
texted is better served than one promised a text that never comes.

The facts are read by the voice webhooks (calls.webhook_reads) within their deadline; the choice
is kept here, pure, so each case is tested without a server. The handler's consent record uses
the choice (calls.handler: the caller heard a promise of a text).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared_code.businesses import templates
from shared_code.businesses.store import Business
from shared_code.contracts import Greeting

TEXT_SOON: Greeting = "text_soon"
TEXT_MORNING: Greeting = "text_morning"
NO_TEXT: Greeting = "no_text"
PROMISES_A_TEXT = frozenset({TEXT_SOON, TEXT_MORNING})

TEMPLATE: dict[str, str] = {
    TEXT_SOON: "missed_call_greeting",
    TEXT_MORNING: "quiet_hours_greeting",
    NO_TEXT: "no_text_greeting",
}
# The after-hours greeting's {text_note}, per greeting.
AFTER_HOURS_NOTE: dict[str, str] = {
    TEXT_SOON: "We'll text you in a moment.",
    TEXT_MORNING: "We'll text you in the morning.",
    NO_TEXT: "",
}
# No business could be known (PostgreSQL down and the number never seen by this process): the
# caller hears a greeting that names none.
GENERIC_APOLOGY = "Sorry, we can't take your call right now."


@dataclass(frozen=True)
class GreetingFacts:
    """What the webhook learned about the caller and the business, as the text-back rules see
    it. `block` is a contacts block reason ("opted_out", "landline", "undeliverable",
    "blocked", "own_number") or "invalid_number" (no E.164 caller)."""

    block: str | None = None
    open_conversation: bool = False
    sending_paused: bool = False
    quiet_hours: bool = False
    # TEXT_BACK_COOLDOWN_HOURS since the caller's last text-back (true without one): a repeat
    # caller within it is not texted again (calls.decision), so is promised nothing.
    cooldown_over: bool = True


def choose_greeting(facts: GreetingFacts | None) -> Greeting:
    """The greeting for a missed caller; `facts` None: they could not be read in time."""
    if facts is None:
        return NO_TEXT
    if facts.block is not None or facts.open_conversation or facts.sending_paused:
        return NO_TEXT
    if not facts.cooldown_over:
        return NO_TEXT
    if facts.quiet_hours:
        return TEXT_MORNING
    return TEXT_SOON


def greeting_text(business: Business | None, greeting: Greeting, *, after_hours: bool) -> str:
    """The words of `greeting` for `business` (its own templates), or a generic apology."""
    if business is None:
        note = AFTER_HOURS_NOTE[greeting]
        return f"{GENERIC_APOLOGY} {note}".strip()
    if after_hours:
        return templates.render(
            "after_hours_greeting", business.templates,
            business_name=business.name, owner_name=business.owner_name or "",
            text_note=AFTER_HOURS_NOTE[greeting],
        )  # fmt: skip
    return templates.render(
        TEMPLATE[greeting], business.templates,
        business_name=business.name, owner_name=business.owner_name or "",
    )  # fmt: skip
