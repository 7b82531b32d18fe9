"""The scripted intake: qualify a lead by text without a language model.

Used when no OpenAI key is configured and as the fallback when the model fails, so it must never
raise and never say anything a business could be held to: it asks, one question at a time, for
the job, the customer's name, the address or ZIP, a preferred time and the urgency, then confirms
and hands over. It never quotes prices or promises a time; the owner does that.

This module is the conversation: which question comes next and what the reply says. Reading a
text for the fields it holds is `intake_extract` (with its vocabulary in `intake_patterns`);
making customer words safe to echo is `gsm_text`. The names callers use (`next_turn`,
`extract`, `summary`, ...) are all importable from here.

Replies stay within two GSM-7 segments: anything echoed back from the customer is reduced to
GSM-7 characters (no emoji, no smart quotes, which would turn the whole text into UCS-2) and cut
to fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared_code.assistant.intake_extract import MAX_VALUE, NOT_URGENT, URGENT, extract, known
from shared_code.assistant.intake_patterns import PRICE_QUESTION, words_of
from shared_code.platform.gsm_text import cut, to_gsm

__all__ = [
    "FIELDS",
    "MAX_REPLY_CHARS",
    "NOT_URGENT",
    "QUESTIONS",
    "URGENT",
    "IntakeTurn",
    "extract",
    "next_missing",
    "next_turn",
    "summary",
]

FIELDS = ("need", "name", "address", "preferred_time", "urgency")
MAX_REPLY_CHARS = 300  # two concatenated GSM-7 segments are 306

QUESTIONS = {
    "need": "What can we help you with today?",
    "name": "What's your name?",
    "address": "What's the address or ZIP code for the job?",
    "preferred_time": "When would you like us to come out?",
    "urgency": "Is this urgent, or can it wait a few days?",
}
_LABELS = {
    "need": "Need",
    "name": "Name",
    "address": "Address",
    "preferred_time": "When",
    "urgency": "Urgency",
}


@dataclass(frozen=True)
class IntakeTurn:
    reply: str  # one text, <= 300 GSM-7 characters
    lead: dict[str, str]  # the lead after these texts (existing values kept unless corrected)
    complete: bool  # every field known; the reply is then the confirmation


def next_missing(lead: dict[str, str]) -> str | None:
    return next((field for field in FIELDS if not known(lead, field)), None)


def summary(lead: dict[str, str]) -> str:
    """One line for the owner, known fields only, in GSM-7."""
    parts = [
        f"{_LABELS[field]}: {cut(to_gsm(lead[field]), 160)}"
        for field in FIELDS
        if known(lead, field) and to_gsm(lead[field])
    ]
    return " | ".join(parts) or "No details yet"


# --- replies ----------------------------------------------------------------------------------

_PRONOUNS = {
    "my": "your",
    "our": "your",
    "mine": "yours",
    "me": "you",
    "i": "you",
    "i'm": "you're",
    "im": "you're",
    "i've": "you've",
    "i'd": "you'd",
    "we": "you",
    "we're": "you're",
    "us": "you",
}


def _echo(text: str) -> str:
    """The customer's words said back to them ("my sink" -> "your sink")."""
    return re.sub(
        r"(?<![\w'])(?:i'm|i've|i'd|we're|my|our|mine|me|im|i|we|us)(?![\w'])",
        lambda m: _PRONOUNS[m.group(0).lower()],
        text,
        flags=re.IGNORECASE,
    )


def _business(business_name: str) -> str:
    return cut(to_gsm(business_name), 40) or "We"


def _confirmation(lead: dict[str, str], business_name: str) -> str:
    name = cut(to_gsm(lead.get("name", "")), 30)
    urgency = to_gsm(lead.get("urgency", ""))
    if urgency.lower() in (URGENT, NOT_URGENT):
        urgency_note = urgency.lower()
    else:
        urgency_note = f"urgency: {cut(urgency, 30)}"
    opening = f"Thanks {name}!" if name else "Thanks!"
    closing = f"{_business(business_name)} will contact you shortly to confirm."
    address = cut(to_gsm(lead.get("address", "")), 70)
    when = cut(to_gsm(lead.get("preferred_time", "")), 40)
    need = to_gsm(_echo(lead.get("need", "")))
    fixed = f"{opening} We have:  at {address}, {when} ({urgency_note}). {closing}"
    room = max(MAX_REPLY_CHARS - len(fixed), 12)
    reply = f"{opening} We have: {cut(need, room)} at {address}, {when} ({urgency_note}). {closing}"
    return cut(reply, MAX_REPLY_CHARS)


def _question_reply(
    field: str, learned: dict[str, str], had_question: bool, first: bool, business_name: str
) -> str:
    question = QUESTIONS[field]
    answer_later = f"{_business(business_name)} will go over that with you directly."
    if learned:
        name = cut(to_gsm(learned.get("name", "")), 30)
        prefix = f"Thanks, {name}!" if name else "Thanks!"
        if had_question:
            prefix = f"{prefix} {answer_later}"
    elif had_question:
        prefix = f"Good question - {answer_later}"
    elif first:
        prefix = "Hi!"
    else:
        prefix = "Sorry, I didn't catch that."
    return cut(f"{prefix} {question}", MAX_REPLY_CHARS)


def next_turn(lead: dict[str, str], customer_texts: list[str], business_name: str) -> IntakeTurn:
    """Read the customer's latest texts (one burst, in order) and produce the one reply."""
    current = {key: value for key, value in lead.items() if isinstance(value, str)}
    asking = next_missing(current)
    learned: dict[str, str] = {}
    had_question = False
    for raw in customer_texts:
        text = raw if isinstance(raw, str) else ""
        if asking == "need" and "need" in learned:
            # A job description split over several texts ("my sink" / "is leaking") joins up.
            without_need = {k: v for k, v in current.items() if k != "need"}
            update = extract(text, without_need, asking)
            if "need" in update:
                update["need"] = cut(f"{current['need']} {update['need']}", MAX_VALUE["need"])
        else:
            update = extract(text, current, asking)
        if "?" in text and (PRICE_QUESTION.search(text) or len(words_of(text)) >= 3):
            had_question = True  # we never answer prices or promises; the owner will
        current.update(update)
        learned.update(update)
    missing = next_missing(current)
    if missing is None:
        if asking is None and not learned:  # already confirmed; nothing new to confirm
            reply = f"Thanks! {_business(business_name)} will contact you shortly."
        else:
            reply = _confirmation(current, business_name)
        return IntakeTurn(reply=reply, lead=current, complete=True)
    first = asking == "need" and not any(known(lead, field) for field in FIELDS)
    reply = _question_reply(missing, learned, had_question, first, business_name)
    return IntakeTurn(reply=reply, lead=current, complete=False)
