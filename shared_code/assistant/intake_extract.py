"""Reading one customer text: which lead fields it answers, and what is left unexplained.

People answer by text the way they talk: several details at once ("my sink is leaking, I'm Dana
at 60614"), out of order, in bursts of short texts. So each text is first searched for every
field it can hold, in a fixed order (address, name, time, urgency), each finding claiming its
span so a later pattern cannot reuse the same words; only what is left over answers the question
we asked. A value we already have changes only when the text reads as a correction ("actually,
make it Friday"), because descriptions of the job mention times and places in passing ("it
started this morning").

This is the part of the scripted intake that must never raise and never guess wildly; the
vocabulary it matches with lives in `intake_patterns`, the reading of names in `intake_names`,
the conversation around it in `intake`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared_code.assistant.intake_names import find_name, name_word_ok, proper
from shared_code.assistant.intake_patterns import (
    ADDRESS_PREFIX,
    AFTER_CUES,
    CITY_AFTER,
    CORRECTION,
    CUE_WORDS,
    DEFER_DAYS,
    EDGE_JUNK,
    EVENT_WORDS,
    FLUFF,
    GREETING,
    HOURS_QUESTION,
    NEED_PREFIX,
    NO,
    NON_ANSWERS,
    NOT_A_JOB,
    NOT_NAMES,
    NOT_PAST,
    NOT_STREET_WORDS,
    NOT_URGENT,
    NOT_URGENT_WHEN_ASKED,
    PAST_MARKERS,
    REQUEST_CUES,
    SAYS_NOT_URGENT,
    SAYS_URGENT,
    STREET,
    STREET_BY_DIRECTION,
    STREET_SAID,
    TIME_JOINERS,
    TIME_STRONG,
    TIME_WEAK,
    URGENT,
    URGENT_WHEN_ASKED,
    WEATHER_WORDS,
    YES,
    ZIP,
    words_of,
)
from shared_code.assistant.intake_place import is_city, is_real_zip
from shared_code.assistant.intake_time import urgency_of
from shared_code.assistant.keywords import DEFAULT_EMERGENCY_WORDS, is_emergency
from shared_code.platform.gsm_text import normalize

OPEN_TIME = re.compile(r"whenever|any\s*time|flexible|no\s+preference|asap", re.IGNORECASE)
# "sorry I meant thursday", "3/19 instead, same time": the day changes, the hours do not
# ("can we do sunday instead" asks for another day, whole).
SAME_HOURS = re.compile(r"\b(?:i\s+meant|meant\s+to\s+say|same\s+time)\b", re.IGNORECASE)
__all__ = ["MAX_VALUE", "NOT_URGENT", "URGENT", "Reading", "known", "read"]
# Longest value kept per field: a lead field is a phrase for the owner, not the whole text.
MAX_VALUE = {"need": 300, "name": 60, "address": 120, "preferred_time": 60, "urgency": 60}


@dataclass
class _Found:
    """One text taken apart: values found by pattern, and the spans they used."""

    values: dict[str, str]
    spans: list[tuple[int, int]]
    basis: str = ""  # how urgency was found: "said", "cue" or "time"
    bad_zip: str = ""  # five digits that are not a real US ZIP code
    name_intro: bool = False  # the name came with "my name is", "this is"...

    def take(self, field: str, value: str, span: tuple[int, int] | None = None) -> None:
        value = value.strip(" ,.;:!?-")
        if value and field not in self.values:
            self.values[field] = value[: MAX_VALUE[field]]
        if span is not None:
            self.spans.append(span)

    def free(self, start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in self.spans)


def _find_address(text: str, found: _Found) -> None:
    for match in STREET.finditer(text):
        street_words = words_of(match.group(1) or "")
        if any(word in NOT_STREET_WORDS for word in street_words):
            continue
        end = match.end()
        city = CITY_AFTER.match(text, end) if not re.search(r"\d{5}", match.group(0)) else None
        if city and is_city(city.group(1)):  # "500 w madison st chicago"
            end = city.end()
        found.take("address", text[match.start() : end], (match.start(), end))
        break
    else:
        for match in (*STREET_BY_DIRECTION.finditer(text), *STREET_SAID.finditer(text)):
            if match.group(match.lastindex or 0).lower() not in NOT_STREET_WORDS:
                span = match.span(1) if match.re is STREET_SAID else match.span()
                found.take("address", text[slice(*span)], span)
                break
    for match in ZIP.finditer(text):
        if not found.free(*match.span()):
            continue
        if not is_real_zip(match.group(0)):
            found.bad_zip = found.bad_zip or match.group(0)
            found.spans.append(match.span())
            continue
        if "address" in found.values:
            found.values["address"] = f"{found.values['address']}, {match.group(0)}"
            found.spans.append(match.span())
        else:
            found.take("address", match.group(0), match.span())
        break


def _time_groups(text: str, found: _Found) -> list[tuple[int, int, bool]]:
    """Time expressions as (start, end, strong), adjacent pieces merged ("tomorrow morning")."""
    pieces = [(m.start(), m.end(), True) for m in TIME_STRONG.finditer(text)]
    pieces += [(m.start(), m.end(), False) for m in TIME_WEAK.finditer(text)]
    pieces = sorted(p for p in pieces if found.free(p[0], p[1]))
    groups: list[tuple[int, int, bool]] = []
    for start, end, strong in pieces:
        if groups:
            g_start, g_end, g_strong = groups[-1]
            if start <= g_end or TIME_JOINERS.match(text[g_end:start]):
                groups[-1] = (g_start, max(end, g_end), g_strong or strong)
                continue
        groups.append((start, end, strong))
    return groups


def _find_time(text: str, found: _Found, asking: str | None) -> None:
    """The time asked for: the first one not in the past nor of another event. An open one
    ("whenever") or another event's date ("before my trip on friday") only when no other time
    follows ("whenever u have an opening next week"); the weather's day never."""
    fallback: list[tuple[int, int]] = []  # open ones, then event dates, in order
    for start, end, strong in _time_groups(text, found):
        clause = re.split(r"[.!?;]", text[max(0, start - 40) : start])[-1]  # this sentence only
        before = words_of(clause)[-3:]
        after = words_of(text[end : end + 16])[:2]
        # "it leaked on Friday", "flooded this morning"; not "need it cleaned tomorrow"
        past_verb = before[-1:] and before[-1].endswith("ed") and before[-1] not in NOT_PAST
        past = any(w in PAST_MARKERS for w in before) or bool(
            past_verb and re.match(r"(?:on|this|last)\b", text[start:end], re.IGNORECASE)
        )
        open_ended = re.fullmatch(
            r"(?:whenever|any\s*time|flexible|no\s+preference|asap)", text[start:end], re.I
        )  # "it broke, whenever works": not a past time
        if (past and not open_ended) or after[:1] == ["ago"]:
            continue  # "it started leaking this morning", "it leaked on Friday": history
        if not strong and before[-1:] == ["good"]:
            continue  # "Good morning!"
        near = words_of(re.split(r"[,.!?;]", clause)[-1])[-3:]  # the same phrase
        if any(w in WEATHER_WORDS for w in near):
            found.spans.append((start, end))  # "supposed to rain this weekend"
            continue
        asked_for = (
            any(w in REQUEST_CUES for w in before)
            or any(w in AFTER_CUES for w in after)
            or text[end:].lstrip().startswith("?")
        )
        if strong or asking == "preferred_time" or asked_for:
            if open_ended or any(w in EVENT_WORDS for w in near):
                fallback.append((start, end))
                continue
            found.spans += fallback  # the event's date is not the job either
            found.take("preferred_time", text[start:end], (start, end))
            return
    open_first = sorted(fallback, key=lambda span: not OPEN_TIME.fullmatch(text[slice(*span)]))
    if open_first:
        found.take("preferred_time", text[slice(*open_first[0])], open_first[0])


def _said_urgency(text: str) -> tuple[str, tuple[int, int]] | None:
    """Urgency said outright ("no rush", "please hurry") and the words that said it."""
    not_urgent = SAYS_NOT_URGENT.search(text)
    urgent = SAYS_URGENT.search(text)
    if urgent and not_urgent and urgent.start() < not_urgent.end():
        urgent = None  # "not an emergency": the urgent word is inside the denial
    if not_urgent and (not urgent or not_urgent.start() > urgent.start()):
        return NOT_URGENT, not_urgent.span()
    return (URGENT, urgent.span()) if urgent else None


def _find_deferral(text: str, found: _Found) -> None:
    """ "it can wait a few days": a time of its own, replacing a same-day hour asked before."""
    match = DEFER_DAYS.search(text)
    if match and "preferred_time" not in found.values and found.free(*match.span(1)):
        found.take("preferred_time", f"in {match.group(1).lower()}", match.span(1))


def _hours_questions(text: str) -> str:
    """`text` with its questions about the business's hours blanked ("are you open saturday?"),
    so their days and hours are not read as the customer's time or urgency."""
    for match in HOURS_QUESTION.finditer(text):
        start = max((text.rfind(c, 0, match.start()) for c in ".!?,;"), default=-1) + 1
        ends = [i for i in (text.find(c, match.end()) for c in ".!?") if i >= 0]
        end = min(ends) + 1 if ends else len(text)
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def _find_urgency(text: str, found: _Found, asking: str | None) -> None:
    """Urgency, and how we know: said outright, an emergency cue, or the time asked for."""
    said = _said_urgency(text)
    if said:
        found.take("urgency", said[0], said[1])
        found.basis = "said"
    elif is_emergency(text, DEFAULT_EMERGENCY_WORDS + CUE_WORDS):
        found.take("urgency", URGENT)
        found.basis = "cue"
    elif "preferred_time" in found.values:
        implied = urgency_of(found.values["preferred_time"])
        if implied:
            found.take("urgency", implied)
            # asked how urgent, a time is the answer ("tomorrow morning works")
            found.basis = "said" if asking == "urgency" else "time"


def _residual(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with matched spans cut out, split at the cuts and tidied."""
    cuts = sorted(spans)
    pieces, pos = [], 0
    for start, end in cuts:
        if start > pos:
            pieces.append(text[pos:start])
        pos = max(pos, end)
    pieces.append(text[pos:])
    kept = []
    for piece in pieces:
        for clause in re.split(r"(?<=[,;.!?])\s+", piece):
            clause = EDGE_JUNK.sub("", clause.strip().rstrip(".! ").strip())
            clause = GREETING.sub("", clause).strip(" ,;:-")
            clause = re.sub(r"\s*\b(?:please|pls|plz)\b[,!]*", "", clause).strip()
            words = words_of(clause)
            if NOT_A_JOB.search(clause):
                continue  # "is this the plumber?", "do you take cigna?": about us, not the job
            # "Can you come", "actually make it": the request around a detail, not content.
            if re.search(r"[a-z]{2}", clause, re.IGNORECASE) and not all(w in FLUFF for w in words):
                kept.append(clause)
    return " ".join(kept).strip(" ,;:-")


def _place_like(text: str) -> bool:
    """An answer to "where?" without a street pattern: a ZIP-less place ("Lincoln Park")."""
    words = words_of(text)
    if not words or len(words) > 10:
        return False
    if any(ch.isdigit() for ch in text):
        return True
    return len(words) <= 5 and not any(w in NOT_NAMES or w in PAST_MARKERS for w in words)


def _is_non_answer(text: str) -> bool:
    words = words_of(text)
    return not words or all(word in NON_ANSWERS for word in words)


def _fill_asked(field: str, residual: str, raw: str, found: _Found) -> str:
    """Give the leftover to the field we asked about; return what is still left over."""
    if field == "urgency":
        # Urgency stays "urgent" / "not urgent"; an answer we can't read is asked again.
        answer = " ".join(w for w in words_of(raw) if w not in ("thanks", "thank", "you", "please"))
        if answer in YES or URGENT_WHEN_ASKED.search(raw):
            found.take("urgency", URGENT)
            found.basis = "said"
        elif answer in NO or NOT_URGENT_WHEN_ASKED.search(raw):
            found.take("urgency", NOT_URGENT)
            found.basis = "said"
        return "" if "urgency" in found.values else residual
    if not residual or _is_non_answer(residual):
        return residual
    if residual.endswith("?") and field != "need":
        return residual  # a question back to us is not an answer
    if field == "name":
        clause = re.split(r"[,.;!?]|\s+and\s+|\s+-\s+", residual, maxsplit=1)[0].strip()
        words = clause.split()
        if 1 <= len(words) <= 3 and all(
            re.fullmatch(r"[A-Za-z][A-Za-z'-]*\.?", w) and name_word_ok(w, True, True)
            for w in words
        ):
            found.take("name", proper(clause.rstrip(".")))
            return residual[len(clause) :].strip(" ,.;!?-")
        return residual
    if field == "address":
        residual = ADDRESS_PREFIX.sub("", residual)
        if not _place_like(residual):
            return residual
    elif field == "preferred_time":
        words = words_of(residual)
        if len(words) > 8 or any(w in PAST_MARKERS for w in words):
            return residual
    else:
        residual = NEED_PREFIX.sub("", residual)
    found.take(field, residual)
    return ""


@dataclass(frozen=True)
class Reading:
    """What one text says: field values found, how urgency was found, and what was odd."""

    values: dict[str, str]
    residual: str  # what no field explained
    urgency_basis: str  # "said", "cue", "time" or ""
    bad_zip: str  # five digits that are not a real US ZIP
    name_intro: bool  # the name was introduced ("my name is Dana"), not guessed
    correcting: bool  # the text reads as a correction ("actually", "sorry, I meant")
    # a slip of the day corrected ("I meant thursday") or "same time": the hours said stay
    same_hours: bool = False


def read(text: str, lead: dict[str, str], asking: str | None) -> Reading:
    """Every field `text` speaks to, whatever was asked; `lead` only decides what the leftover
    answers (the field asked, when still missing, then the job description)."""
    text = normalize(text if isinstance(text, str) else "")[:2000]
    found = _Found(values={}, spans=[])
    scan = _hours_questions(text)  # what is read for a time and an urgency
    found.spans += [(i, i + 1) for i, (a, b) in enumerate(zip(text, scan, strict=True)) if a != b]
    _find_address(text, found)
    find_name(text, found, asking, first=not known(lead, "name") and not lead.get("need"))
    _find_time(scan, found, asking)  # before urgency: "asap" is both a time and an urgency
    _find_deferral(scan, found)
    # "no rush", "please hurry", "whenever u can fit me in": urgency's words, never the job's
    found.spans += [m.span() for p in (SAYS_NOT_URGENT, SAYS_URGENT) for m in p.finditer(scan)]
    residual = _residual(text, found.spans)
    if asking and asking != "urgency" and asking not in found.values and not known(lead, asking):
        residual = _fill_asked(asking, residual, text, found)
    _find_urgency(scan, found, asking)
    if asking == "urgency" and "urgency" not in found.values and not known(lead, "urgency"):
        residual = _fill_asked("urgency", residual, text, found)
    if "need" not in found.values and not known(lead, "need") and residual:
        need = NEED_PREFIX.sub("", residual)
        if len(words_of(need)) >= 3 and not _is_non_answer(need) and not need.endswith("?"):
            found.take("need", need)
            residual = ""
    return Reading(
        values=found.values,
        residual=residual,
        urgency_basis=found.basis if "urgency" in found.values else "",
        bad_zip=found.bad_zip,
        name_intro=found.name_intro,
        correcting=bool(CORRECTION.search(text)),
        same_hours=bool(SAME_HOURS.search(text)),
    )


def known(lead: dict[str, str], field: str) -> bool:
    value = lead.get(field, "")
    return isinstance(value, str) and bool(value.strip())
