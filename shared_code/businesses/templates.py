"""Message templates with merge fields, and the rule that a first text identifies the business.

Owners may rewrite any template; only the merge fields listed per template are allowed, so a
typo is rejected when the template is saved rather than texted to a customer.
"""

from __future__ import annotations

import re
from string import Formatter

DEFAULTS: dict[str, str] = {
    "text_back": (
        "Hi, this is {business_name}. Sorry we missed your call! How can we help? "
        "Reply here and we'll get right back to you. Reply STOP to opt out."
    ),
    "missed_call_greeting": (
        "Sorry, {business_name} can't take your call right now. We'll text you in a moment."
    ),
    # What a missed caller hears before the beep. Only the first promises a text soon; which
    # one plays is decided per call (calls.greetings): a text will go now, in the morning (quiet
    # hours), or not at all (opted out, landline, or not known).
    "quiet_hours_greeting": (
        "Sorry, {business_name} can't take your call right now. We'll text you in the morning."
    ),
    "no_text_greeting": "Sorry, {business_name} can't take your call right now.",
    "after_hours_greeting": (
        "Thanks for calling {business_name}. We're closed right now. {text_note}"
    ),
    "owner_missed_call_alert": "NeverMiss: missed call from {caller} at {time}. {text_back_note}",
    "owner_voicemail_alert": (
        "NeverMiss: voicemail from {caller} at {time} ({duration}). {transcript} Listen: {link}"
    ),
    # Follow-ups to a caller who has not answered (messaging.followups), one per schedule step.
    # {booking_link} is "Book a time: <url>" when the business has a booking_url, else nothing.
    "followup_1": (
        "Hi, it's {business_name} again. We missed your call earlier: still need a hand?"
        " Just reply here. {booking_link}"
    ),
    "followup_2": (
        "{business_name} here, following up on your call. Reply with what you need and"
        " we'll get back to you. {booking_link}"
    ),
    "followup_3": (
        "Last check-in from {business_name}: if you still need help, reply any time."
        " {booking_link} Reply STOP to opt out."
    ),
    "followup_4": "{business_name} here again: reply any time if we can help. {booking_link}",
    "followup_5": "{business_name}: we're here if you need us. {booking_link}",
}

FIELDS: dict[str, frozenset[str]] = {
    "text_back": frozenset(
        {"business_name", "owner_name", "caller", "booking_link", "booking_url"}
    ),
    "missed_call_greeting": frozenset({"business_name", "owner_name"}),
    "quiet_hours_greeting": frozenset({"business_name", "owner_name"}),
    "no_text_greeting": frozenset({"business_name", "owner_name"}),
    "after_hours_greeting": frozenset({"business_name", "owner_name", "text_note"}),
    "owner_missed_call_alert": frozenset({"business_name", "caller", "time", "text_back_note"}),
    "owner_voicemail_alert": frozenset(
        {"business_name", "caller", "time", "duration", "transcript", "link"}
    ),
    **{
        f"followup_{step}": frozenset(
            {"business_name", "owner_name", "caller", "booking_link", "booking_url"}
        )
        for step in range(1, 6)
    },
}

OPT_OUT_HINT = "Reply STOP to opt out."


def booking_fields(booking_url: str | None) -> dict[str, str]:
    """The booking merge fields: {booking_url} bare, {booking_link} as a short sentence (both
    empty when the business has no booking link)."""
    if not booking_url:
        return {"booking_link": "", "booking_url": ""}
    return {"booking_link": f"Book a time: {booking_url}", "booking_url": booking_url}


class TemplateError(ValueError):
    pass


def check_template(name: str, text: str) -> None:
    """Raise TemplateError unless `text` is a known template using only its merge fields."""
    if name not in FIELDS:
        raise TemplateError(f"unknown template {name!r}; known: {', '.join(sorted(FIELDS))}")
    if not text.strip() or len(text) > 640:
        raise TemplateError(f"template {name!r} must be 1-640 characters")
    try:
        parsed = [(f, spec, conv) for _, f, spec, conv in Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise TemplateError(f"template {name!r}: {exc}") from exc
    # Plain {field} only: a format spec or conversion ("{x:{y}}", "{x:d}", "{x!z}") would pass
    # the field check here and then fail (or balloon) when rendered for a customer.
    if any(spec or conv for _, spec, conv in parsed):
        raise TemplateError(f"template {name!r}: use plain {{field}} merge fields only")
    used = {f for f, _, _ in parsed}
    unknown = sorted(f for f in used if f not in FIELDS[name])
    if unknown:
        raise TemplateError(
            f"template {name!r} uses unknown fields {unknown}; allowed: {sorted(FIELDS[name])}"
        )


def render(name: str, overrides: dict[str, str], **values: str) -> str:
    text = overrides.get(name) or DEFAULTS[name]
    return text.format_map({field: values.get(field, "") for field in FIELDS[name]}).strip()


# "Reply STOP", "text stop": a body that already says how to opt out. A bare "stop" ("won't stop
# leaking") does not.
SAYS_STOP = re.compile(r"\b(?:reply|text|send|txt)\s+stop\b", re.IGNORECASE)


def first_message(text: str, business_name: str) -> str:
    """Make sure a first text names the business and says how to opt out (the one home of
    that rule: messaging.outbound applies it to every conversation's first text)."""
    if business_name and business_name.lower() not in text.lower():
        text = f"{business_name}: {text}"
    if not SAYS_STOP.search(text):
        text = f"{text} {OPT_OUT_HINT}"
    return text
