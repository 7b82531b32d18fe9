"""The scripted intake: qualify a lead by text without a language model.

Used when no OpenAI key is configured and as the fallback when the model fails, so it must never
raise and never say anything a business could be held to: it asks, one question at a time, for
the job, the customer's name, the address or ZIP, a preferred time and the urgency, then confirms
and hands over. It never quotes prices or promises a time; the owner does that.

This module is the conversation: which question comes next and what the reply says. Reading a
text for the fields it holds is `intake_extract` (with its vocabulary in `intake_patterns`),
deciding what that changes in the lead is `intake_merge` (later answers win), times become
windows in `intake_time` and ZIPs and addresses are checked and split in `intake_place`; making
customer words safe to echo is `gsm_text`. The names callers use (`next_turn`, `extract`,
`summary`, ...) are all importable from here.

Every text is read for every field, whatever was asked: a time given in answer to "is this
urgent?" answers both. Urgency is inferred from cues (said outright, an emergency, today or a
later day asked for) and asked only when still unclear. The first reply of a conversation
(`first=True`) names the business and says how to opt out, within the same two segments; "is
this the plumber?" is answered ("Yes, this is Ace Plumbing."; no "yes" when the business's name
says it is another trade).

Replies stay within two GSM-7 segments: anything echoed back from the customer is reduced to
GSM-7 characters (no emoji, no smart quotes, which would turn the whole text into UCS-2) and cut
to fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from shared_code.assistant.intake_extract import MAX_VALUE, known, read
from shared_code.assistant.intake_merge import FIELDS, extract, lead_updates
from shared_code.assistant.intake_patterns import (
    IDENTITY_QUESTION,
    NOT_URGENT,
    PRICE_QUESTION,
    REQUEST,
    URGENT,
    words_of,
)
from shared_code.assistant.intake_place import outside_area
from shared_code.assistant.intake_time import describe
from shared_code.businesses.templates import booking_fields
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


# The customer asks to pick a time themselves: the booking link answers that.
BOOKING_REQUEST = re.compile(
    r"\b(?:schedul\w*|book(?:ing)?|appointment|appt|availab\w*|open(?:ing|ings)? slots?"
    r"|when can (?:you|someone|u) come)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class IntakeTurn:
    reply: str  # one text, <= 300 GSM-7 characters
    lead: dict[str, str]  # the lead after these texts (existing values kept unless corrected)
    complete: bool  # every field known; the reply is then the confirmation


def next_missing(lead: dict[str, str]) -> str | None:
    return next((field for field in FIELDS if not known(lead, field)), None)


def _value(lead: dict[str, str], field: str) -> str:
    value = cut(to_gsm(lead[field]), 160)
    if field == "preferred_time" and value:
        window = describe(str(lead.get("when_start") or ""), str(lead.get("when_end") or ""))
        return f"{value} ({window})" if window else value
    return value


def summary(lead: dict[str, str]) -> str:
    """One line for the owner, known fields only, in GSM-7; the time with its local window."""
    parts = [
        f"{_LABELS[field]}: {_value(lead, field)}"
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


def _confirmation(lead: dict[str, str], business_name: str, limit: int) -> str:
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
    room = max(limit - len(fixed), 12)
    reply = f"{opening} We have: {cut(need, room)} at {address}, {when} ({urgency_note}). {closing}"
    return cut(reply, limit)


def _question_reply(
    field: str, learned: dict[str, str], had_question: bool, first: bool, business_name: str,
    note: str, limit: int, heard: bool,
) -> str:  # fmt: skip
    question = QUESTIONS[field]
    answer_later = f"{_business(business_name)} will go over that with you directly."
    if learned or heard:
        name = cut(to_gsm(learned.get("name", "")), 30)
        prefix = f"Thanks, {name}!" if name else "Thanks!"
        if had_question:
            prefix = f"{prefix} {answer_later}"
    elif had_question:
        prefix = f"Good question - {answer_later}"
    elif first or note:
        prefix = ""
    else:
        prefix = "Sorry, I didn't catch that."
    return cut(" ".join(p for p in (prefix, note, question) if p), limit)


# "is this the plumber?" asked of a business whose name says otherwise gets no "yes".
_TRADE_STEMS = {
    "plumber": ("plumb",), "electrician": ("electr", "spark"), "dentist": ("dent",),
    "mechanic": ("auto", "car", "motor", "garage", "repair"), "salon": ("salon", "hair", "beauty"),
}  # fmt: skip


def _identity_answer(texts: list[str], biz: str) -> str:
    """The answer to "is this the plumber?" / "who is this?", or "" when not asked."""
    for text in texts:
        match = isinstance(text, str) and IDENTITY_QUESTION.match(text.strip())
        if match:
            asked = words_of(match.group(0))
            stems = next((_TRADE_STEMS[w] for w in asked if w in _TRADE_STEMS), ())
            if stems and not any(stem in biz.lower() for stem in stems):
                return f"This is {biz}."
            return f"Yes, this is {biz}." if "who" not in asked else f"This is {biz}."
    return ""


def _zone(time_zone: str) -> tzinfo:
    try:
        return ZoneInfo(time_zone)
    except (ValueError, KeyError, OSError):  # an unknown zone reads times in UTC, never raises
        return UTC


def _place_note(updates: dict[str, str], bad_zip: str, service_area: str, biz: str) -> str:
    """What to say about the place: a ZIP that isn't one, or one outside the service area."""
    zip_code = updates.get("zip", "")
    if zip_code and outside_area(zip_code, service_area):
        area = cut(to_gsm(service_area), 60)
        return f"{zip_code} looks outside our service area ({area}); {biz} will let you know."
    if bad_zip and not updates.get("address"):
        return f"{cut(to_gsm(bad_zip), 10)} doesn't look like a US ZIP code."
    return ""


def next_turn(
    lead: dict[str, str],
    customer_texts: list[str],
    business_name: str,
    *,
    time_zone: str = "UTC",
    now: datetime | None = None,
    service_area: str = "",
    first: bool = False,
    booking_url: str = "",
) -> IntakeTurn:
    """Read the customer's latest texts (one burst, in order) and produce the one reply.

    Times are read in `time_zone` (the business's IANA zone) at `now` (when the texts came;
    default the present). `first`: nothing has been sent in this conversation yet, so the reply
    introduces the business and says how to opt out. `booking_url`: the business's scheduling
    link, offered (when it fits whole) if the customer asks to book or once the lead is
    complete; the caller passes it only while it has not been sent in this conversation."""
    local_now = (now or datetime.now(UTC)).astimezone(_zone(time_zone))
    local_now = local_now.replace(second=0, microsecond=0)
    current = {key: value for key, value in lead.items() if isinstance(value, str)}
    asking = next_missing(current)
    learned: dict[str, str] = {}
    place: dict[str, str] = {}
    had_question, heard, bad_zip = False, False, ""
    for raw in customer_texts:
        text = raw if isinstance(raw, str) else ""
        if asking == "need" and "need" in learned:
            # A job description split over several texts ("my sink" / "is leaking") joins up.
            without_need = {k: v for k, v in current.items() if k != "need"}
            update = lead_updates(without_need, read(text, without_need, asking), local_now)
            if "need" in update:
                update["need"] = cut(f"{current['need']} {update['need']}", MAX_VALUE["need"])
            reading_bad_zip = ""
        else:
            reading = read(text, current, asking)
            update = lead_updates(current, reading, local_now)
            reading_bad_zip = reading.bad_zip
        asks_us = "?" in text and not (REQUEST.search(text) and not PRICE_QUESTION.search(text))
        if asks_us and (PRICE_QUESTION.search(text) or len(words_of(text)) >= 3):
            had_question = True  # we never answer prices or promises; the owner will
        for key, value in update.items():
            if value:
                current[key] = value
            else:
                current.pop(key, None)
        learned.update({key: value for key, value in update.items() if key in FIELDS})
        heard = heard or bool(update)  # "no rush" confirming what we had is still an answer
        place.update({key: value for key, value in update.items() if key in ("zip", "address")})
        bad_zip = reading_bad_zip or ("" if "address" in update else bad_zip)
    biz = _business(business_name)
    identity = "" if learned else _identity_answer(customer_texts, biz)
    if identity:
        had_question = False  # answered here, not left to the owner
    opening, closing = (f"Hi, this is {biz}.", "Reply STOP to opt out.") if first else ("", "")
    if identity and first:
        opening, identity = f"Hi! {identity}", ""
    limit = MAX_REPLY_CHARS - len(opening) - len(closing) - 2 * bool(first)
    note = _place_note(place, bad_zip, service_area, biz)
    missing = next_missing(current)
    if missing is None:
        if asking is None and not learned:  # already confirmed; nothing new to confirm
            reply = f"Thanks! {biz} will contact you shortly."
        else:
            reply = _confirmation(current, business_name, limit)
            if note and len(note) + 1 + len(reply) <= limit:
                reply = f"{note} {reply}"
    else:
        first_ask = asking == "need" and not any(known(lead, field) for field in FIELDS)
        reply = _question_reply(
            missing, learned, had_question, first_ask, business_name, note or identity, limit,
            heard,
        )  # fmt: skip
        if first_ask and not learned and not had_question and not first and not identity:
            reply = f"Hi! {reply}"
    wants_booking = any(BOOKING_REQUEST.search(t) for t in customer_texts if isinstance(t, str))
    if booking_url and (wants_booking or missing is None):
        link = booking_fields(booking_url)["booking_link"]
        if len(reply) + 1 + len(link) <= limit:  # a link cut short is worse than none
            reply = f"{reply} {link}"
    reply = " ".join(part for part in (opening, reply, closing) if part)
    return IntakeTurn(reply=cut(reply, MAX_REPLY_CHARS), lead=current, complete=missing is None)
