"""The scripted intake: qualify a lead by text without a language model.

Used when no OpenAI key is configured and as the fallback when the model fails, so it must never
raise and never say anything a business could be held to: it asks, one question at a time, for
the job, the customer's name, the address or ZIP, a preferred time and the urgency, then confirms
and hands over. It never quotes prices or promises a time; the owner does that.

People answer by text the way they talk: several details at once ("my sink is leaking, I'm Dana
at 60614"), out of order, in bursts of short texts. So each text is first searched for every field
it can hold (patterns), and only what is left over answers the question we asked. A value we
already have changes only when the text reads as a correction ("actually, make it Friday"),
because descriptions of the job mention times and places in passing ("it started this morning").

Replies stay within two GSM-7 segments: anything echoed back from the customer is reduced to
GSM-7 characters (no emoji, no smart quotes, which would turn the whole text into UCS-2) and cut
to fit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from shared_code.keywords import DEFAULT_EMERGENCY_WORDS, is_emergency
from shared_code.sms_segments import count_segments


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


FIELDS = ("need", "name", "address", "preferred_time", "urgency")
URGENT = "urgent"
NOT_URGENT = "not urgent"
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
_MAX_VALUE = {"need": 300, "name": 60, "address": 120, "preferred_time": 60, "urgency": 60}


@dataclass(frozen=True)
class IntakeTurn:
    reply: str  # one text, <= 300 GSM-7 characters
    lead: dict[str, str]  # the lead after these texts (existing values kept unless corrected)
    complete: bool  # every field known; the reply is then the confirmation


# --- text clean-up ----------------------------------------------------------------------------

_ASCII_FOR = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
}
# GSM-7 extension characters cost two septets each; plain look-alikes keep the count honest.
_PLAIN_FOR_EXTENDED = {
    "{": "(",
    "}": ")",
    "[": "(",
    "]": ")",
    "~": "-",
    "|": "/",
    "\\": "/",
    "^": "",
    "\u20ac": "EUR",
    "\f": " ",
}

# Letters that Unicode does not decompose into a base letter plus an accent.
_LETTER_FOLDS = {
    "\u0141": "L",
    "\u0142": "l",
    "\u0110": "D",
    "\u0111": "d",
    "\u0152": "OE",
    "\u0153": "oe",
    "\u00de": "Th",
    "\u00fe": "th",
    "\u00f0": "d",
    "\u0131": "i",
    "\u0126": "H",
    "\u0127": "h",
}


def _normalize(text: str) -> str:
    """Smart quotes and dashes to ASCII, whitespace collapsed: what the patterns expect."""
    for fancy, plain in _ASCII_FOR.items():
        text = text.replace(fancy, plain)
    return " ".join(text.split())


@lru_cache(maxsize=4096)
def _is_gsm_basic(ch: str) -> bool:
    return count_segments(ch).encoding == "GSM-7" and count_segments(ch).units == 1


def _gsm(text: str) -> str:
    """Only single-septet GSM-7 characters: accents folded where GSM-7 lacks them, rest dropped."""
    out: list[str] = []
    for ch in _normalize(text):
        ch = _PLAIN_FOR_EXTENDED.get(ch, ch)
        if len(ch) != 1 or _is_gsm_basic(ch):
            out.append(ch)
            continue
        folded = _LETTER_FOLDS.get(ch) or unicodedata.normalize("NFKD", ch)
        out.extend(part for part in folded if _is_gsm_basic(part) and part not in "\n\r")
    return " ".join("".join(out).split())


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: max(limit - 3, 1)]
    if " " in head[len(head) // 2 :]:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:.-") + "..."


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


# --- field patterns ---------------------------------------------------------------------------

_ZIP = re.compile(r"(?<![\d-])\d{5}(?:-\d{4})?(?![\d-])")
_STREET_TYPES = (
    r"st|street|ave|av|avenue|rd|road|blvd|boulevard|dr|drive|ln|lane|way|ct|court|pl|place|"
    r"ter|terrace|pkwy|parkway|hwy|highway|cir|circle|trl|trail|sq|square|loop|row|run|pike"
)
_STREET = re.compile(
    r"(?<![\w/:])\d{1,6}[a-z]?\s+((?:[a-z0-9'.-]+\s+){1,3}?)(?:" + _STREET_TYPES + r")\b\.?"
    r"(?:\s*,?\s*(?:apt|apartment|unit|suite|ste|#)\s*\.?\s*#?[\w-]+)?"
    r"(?:\s*,\s*[a-z][a-z .'-]{0,30}?,?\s*(?:[a-z]{2}\s+)?\d{5}(?:-\d{4})?"
    r"|\s*,?\s*\d{5}(?:-\d{4})?)?",
    re.IGNORECASE,
)
# "2 leaks on the way" is not an address: street-name words are never these.
_NOT_STREET_WORDS = _wordset(
    "a an the on in of my is are and at to for it its it's was be by from with our your this "
    "that or but leaks leak days weeks hours times people dogs kids"
)

_NAME_INTRO = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|my\s+names|name\s+is|name's|names|i\s+am|i'm|im|"
    r"this\s+is|call\s+me|it's|its|it\s+is)\s+"
    r"([a-z][a-z'-]*)(?:\s+([a-z][a-z'-]*))?",
    re.IGNORECASE,
)
# Words that follow "I'm" / "this is" without being a name.
_NOT_NAMES = _wordset(
    """
    a an the not no so very too just also still only really actually currently probably literally
    totally definitely usually almost about around at in on with from for to of by into over under
    and or but because since if then than as out up down back away off here there home inside
    outside available free busy flexible ok okay fine good great well sure glad happy sorry afraid
    worried concerned confused stuck ready done new old late early interested calling texting
    looking trying wondering hoping having getting going gonna wanting needing asking writing
    reaching following renting leaving moving working driving waiting home homeowner owner tenant
    landlord renter manager customer client your my his her their our its this that these those
    what who where when why how which urgent emergency asap tomorrow today tonight morning afternoon
    evening weekend monday tuesday wednesday thursday friday saturday sunday leaking broken flooding
    flooded dripping clogged running making sure told unsure able unable glad needs need want
    wants like yes yeah yep nope nah hi hello hey thanks thank please pls it is was be been being
    leak clog sink toilet water heater pipe pipes ac furnace heat roof call text number phone one
    two three four five six seven eight nine ten all both every any some much many more most less
    same other another next last first second zip address street apt unit whenever anytime
    wrong right correct sorry mean meant i you he she we they me him them us
    """
)

_PAST_MARKERS = _wordset(
    "since started starting start began begun ago yesterday happened noticed broke "
    "stopped quit died went last"
)
_REQUEST_CUES = _wordset(
    "come coming by visit available availability schedule book booking appointment prefer "
    "preferably free out anytime before after around until works work good best ideally "
    "possible could can"
)
_TIME_STRONG = re.compile(
    r"\b(?:asap|a\.s\.a\.p|as\s+soon\s+as\s+possible|right\s+away|immediately"
    r"|today|tonight|tomorrow|tmrw|tmr|tomorow|tommorow|tommorrow"
    r"|this\s+week(?:end)?|next\s+week(?:end)?|weekend|weekends|weekdays?"
    r"|(?:this\s+|next\s+|on\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"mon|tues?|thu|thur|thurs|fri)s?"
    r"|whenever|any\s*time|flexible|no\s+preference"
    r"|(?:jan|january|feb|february|mar|march|apr|april|may|june?|july?|aug|august|sept?|"
    r"september|oct|october|nov|november|dec|december)\.?\s+\d{1,2}(?:st|nd|rd|th)?"
    r"|(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?:/\d{2,4})?"
    r"|(?:at|after|before|around|by|about|from|between|until|till)\s+"
    r"(?:1[0-2]|0?[1-9])(?::[0-5]\d)?\s*(?:am|pm|a\.m\.|p\.m\.)?"
    r"(?!\s*(?:weeks?|days?|hours?|hrs?|years?|yrs?|months?|mins?|minutes?|people|of|%|\d))"
    r"|(?:1[0-2]|0?[1-9])(?::[0-5]\d)?\s*(?:am|pm|a\.m\.|p\.m\.)"
    r"|(?:1[0-2]|0?[1-9]):[0-5]\d"
    r"|(?:at|after|before|around|by)\s+(?:noon|midday|lunch|work|school)"
    r")(?!\w)",
    re.IGNORECASE,
)
_TIME_WEAK = re.compile(
    r"\b(?:(?:this|in\s+the|tomorrow|the)\s+)?(?:morning|afternoon|evening|night)s?\b"
    r"|\b(?:noon|midday|lunchtime|earlier|later|soon)\b",
    re.IGNORECASE,
)
_TIME_JOINERS = re.compile(r"^(?:\s|,|-|at|on|in|the|or|and|around|about|by|after|before)*$")

_NOT_URGENT = re.compile(
    r"\b(?:not|isn't|isnt|non|no)[\s-]*(?:an?\s+|that\s+|super\s+|very\s+|really\s+|too\s+|"
    r"so\s+|particularly\s+)?(?:urgent|emergency|rush|hurry|big\s+deal)\b"
    r"|\bnonurgent\b|\b(?:can|could)\s+wait\b|\bwhenever\b|\bthis\s+week\b|\bflexible\b"
    r"|\bno\s+(?:rush|hurry|emergency)\b|\bnot\s+in\s+a\s+(?:rush|hurry)\b|\bnext\s+week\b"
    r"|\bwhenever\s+works\b|\bany\s*time\b|\bno\s+preference\b",
    re.IGNORECASE,
)
_URGENT = re.compile(
    r"\b(?:emergency|urgent|urgently|asap|a\.s\.a\.p|right\s+away|as\s+soon\s+as\s+possible"
    r"|immediately|right\s+now|today\s+if\s+possible|the\s+sooner\s+the\s+better)\b",
    re.IGNORECASE,
)
_YES = frozenset(
    {"yes", "y", "yeah", "yea", "yep", "yup", "ya", "definitely", "absolutely", "very", "extremely"}
    | {
        "kinda",
        "kind of",
        "sort of",
        "sorta",
        "pretty much",
        "it is",
        "yes it is",
        "correct",
        "sure",
    }
    | {"yes please", "very much", "yes very", "i think so", "it is urgent"}
)
_NO = frozenset(
    {
        "no",
        "n",
        "nope",
        "nah",
        "not really",
        "not at all",
        "no it isn't",
        "no it's not",
        "no its not",
    }
    | {"nope not really", "no not really", "i don't think so", "not exactly"}
)


_URGENT_WHEN_ASKED = re.compile(
    r"\b(?:soon|quickly|fast|today|tonight|yes|yeah|yep|very|pretty\s+urgent|kind\s+of|kinda"
    r"|sort\s+of|sorta|somewhat|fairly)\b",
    re.IGNORECASE,
)
_NOT_URGENT_WHEN_ASKED = re.compile(
    r"\b(?:wait|later|few\s+days|next\s+month|eventually|sometime|no|nope|nah)\b",
    re.IGNORECASE,
)
# Clauses made only of these words are the request around a detail ("can you come out?").
_FLUFF = _wordset(
    "can could you come out someone somebody anyone please send over here by swing stop would be "
    "able to get is it possible there when are available actually make change instead sorry oops "
    "meant mean rather scratch that just ok okay i we me us a the"
)

_CORRECTION = re.compile(
    r"\b(?:actually|sorry|correction|i\s+meant|meant\s+to\s+say|typo|wrong|instead|change|"
    r"changed|update|updated|make\s+it|rather|scratch\s+that|oops)\b",
    re.IGNORECASE,
)
_PRICE_QUESTION = re.compile(
    r"\b(?:how\s+much|price|prices|pricing|cost|costs|charge|rates?|fees?|quote|estimate)\b",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|yo|good\s+(?:morning|afternoon|evening)|ok|okay|k|sure|yes|yeah|"
    r"yep|thanks|thank\s+you|thx|ty|so|well|um|uh|oh|please|pls|and|also|but|just)\b[\s,.!:-]*)+",
    re.IGNORECASE,
)
_NEED_PREFIX = re.compile(
    r"^(?:i\s+(?:really\s+)?need|we\s+need|need|i'm\s+looking\s+for|im\s+looking\s+for|"
    r"i\s+am\s+looking\s+for|looking\s+for|i'd\s+like|i\s+would\s+like|i\s+want)\s+"
    r"(?:help\s+with\s+|some\s+help\s+with\s+)?",
    re.IGNORECASE,
)
_NON_ANSWERS = _wordset(
    "hi hello hey ok okay k kk sure thanks thank you thx ty yes yeah yep no nope nah idk "
    "what huh why who lol hmm um uh what's cool great good fine help some someone assistance "
    "question a please"
)
_EDGE_JUNK = re.compile(
    r"^(?:[\s,.;:!?&+-]|\b(?:and|also|plus|but|so|here|please|thanks)\b)+"
    r"|(?:[\s,;:&+-]|\b(?:and|also|plus|but|so|at|in|on|for|from|is|the|my|here|please|thanks)"
    r"\b)+$",
    re.IGNORECASE,
)
_ADDRESS_PREFIX = re.compile(
    r"^(?:(?:i|we)\s+live|i'm|im|i\s+am|we're|we\s+are|it's|its|it\s+is|located|the|"
    r"(?:the\s+)?address\s+is|address:?|zip\s+is|zip:?|my\s+zip\s+is)\s+(?:in\s+|at\s+|on\s+|near\s+)?",
    re.IGNORECASE,
)


@dataclass
class _Found:
    """One text taken apart: values found by pattern, and the spans they used."""

    values: dict[str, str]
    spans: list[tuple[int, int]]

    def take(self, field: str, value: str, span: tuple[int, int] | None = None) -> None:
        value = value.strip(" ,.;:!?-")
        if value and field not in self.values:
            self.values[field] = value[: _MAX_VALUE[field]]
        if span is not None:
            self.spans.append(span)

    def free(self, start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in self.spans)


def _find_address(text: str, found: _Found) -> None:
    for match in _STREET.finditer(text):
        street_words = _words(match.group(1) or "")
        if any(word in _NOT_STREET_WORDS for word in street_words):
            continue
        value = match.group(0)
        found.take("address", value, match.span())
        break
    for match in _ZIP.finditer(text):
        if not found.free(*match.span()):
            continue
        if "address" in found.values:
            found.values["address"] = f"{found.values['address']}, {match.group(0)}"
            found.spans.append(match.span())
        else:
            found.take("address", match.group(0), match.span())
        break


def _proper(name: str) -> str:
    parts = re.split(r"([\s'-])", name.strip())
    out = []
    for part in parts:
        if part.isalpha() and (part.islower() or part.isupper()):
            part = part[0].upper() + part[1:].lower()
        out.append(part)
    return "".join(out)


def _name_word_ok(word: str, explicit: bool, capitalised: bool) -> bool:
    low = word.lower().strip("'-")
    if not low or low in _NOT_NAMES or len(low) > 20 or len(low) < 2:
        return False
    # Lower-case "-ing"/"-ed" words after "I'm" are states ("I'm renting"), not names.
    return explicit or capitalised or not (low.endswith("ing") or low.endswith("ed"))


def _find_name(text: str, found: _Found, asking: str | None) -> None:
    for match in _NAME_INTRO.finditer(text):
        intro = match.group(0)[: match.start(1) - match.start()].lower()
        if intro.startswith(("it", "its")) and asking != "name":
            continue  # "it's leaking"; only "it's Dana" when we asked for a name
        if not found.free(match.start(1), match.end(1)):
            continue
        explicit = "name" in intro or intro.startswith("call")
        first, second = match.group(1), match.group(2)
        if not _name_word_ok(first, explicit, first[0].isupper()):
            continue
        end = match.end(1)
        name = first
        if (
            second
            and found.free(match.start(2), match.end(2))
            and _name_word_ok(second, explicit, second[0].isupper())
            and (explicit or second[0].isupper())
        ):
            name, end = f"{first} {second}", match.end(2)
        found.take("name", _proper(name), (match.start(), end))
        return


def _time_groups(text: str, found: _Found) -> list[tuple[int, int, bool]]:
    """Time expressions as (start, end, strong), adjacent pieces merged ("tomorrow morning")."""
    pieces = [(m.start(), m.end(), True) for m in _TIME_STRONG.finditer(text)]
    pieces += [(m.start(), m.end(), False) for m in _TIME_WEAK.finditer(text)]
    pieces = sorted(p for p in pieces if found.free(p[0], p[1]))
    groups: list[tuple[int, int, bool]] = []
    for start, end, strong in pieces:
        if groups:
            g_start, g_end, g_strong = groups[-1]
            if start <= g_end or _TIME_JOINERS.match(text[g_end:start]):
                groups[-1] = (g_start, max(end, g_end), g_strong or strong)
                continue
        groups.append((start, end, strong))
    return groups


def _find_time(text: str, found: _Found, asking: str | None) -> None:
    for start, end, strong in _time_groups(text, found):
        before = _words(text[max(0, start - 40) : start])[-3:]
        after = _words(text[end : end + 12])[:1]
        if any(word in _PAST_MARKERS for word in before) or after == ["ago"]:
            continue  # "it started leaking this morning" is history, not a booking
        if not strong and before[-1:] == ["good"]:
            continue  # "Good morning!"
        if strong or asking == "preferred_time" or any(w in _REQUEST_CUES for w in before):
            found.take("preferred_time", text[start:end], (start, end))
            return


def _find_urgency(text: str, found: _Found) -> None:
    not_urgent = _NOT_URGENT.search(text)
    if not_urgent:
        found.take("urgency", NOT_URGENT, not_urgent.span())
        return
    urgent = _URGENT.search(text)
    if urgent:
        found.take("urgency", URGENT, urgent.span())
    elif is_emergency(text, DEFAULT_EMERGENCY_WORDS):
        found.take("urgency", URGENT)


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
            clause = _EDGE_JUNK.sub("", clause.strip())
            clause = _GREETING.sub("", clause).strip(" ,;:-")
            words = _words(clause)
            # "Can you come", "actually make it": the request around a detail, not content.
            if re.search(r"[a-z]{2}", clause, re.IGNORECASE) and not all(
                w in _FLUFF for w in words
            ):
                kept.append(clause)
    return " ".join(kept).strip(" ,;:-")


def _place_like(text: str) -> bool:
    """An answer to "where?" without a street pattern: a ZIP-less place ("Lincoln Park")."""
    words = _words(text)
    if not words or len(words) > 10:
        return False
    if any(ch.isdigit() for ch in text):
        return True
    return len(words) <= 5 and not any(w in _NOT_NAMES or w in _PAST_MARKERS for w in words)


def _is_non_answer(text: str) -> bool:
    words = _words(text)
    return not words or all(word in _NON_ANSWERS for word in words)


def _fill_asked(field: str, residual: str, raw: str, found: _Found) -> str:
    """Give the leftover to the field we asked about; return what is still left over."""
    if field == "urgency":
        # Urgency stays "urgent" / "not urgent"; an answer we can't read is asked again.
        answer = " ".join(w for w in _words(raw) if w not in ("thanks", "thank", "you", "please"))
        if answer in _YES or _URGENT_WHEN_ASKED.search(raw):
            found.take("urgency", URGENT)
        elif answer in _NO or _NOT_URGENT_WHEN_ASKED.search(raw):
            found.take("urgency", NOT_URGENT)
        return "" if "urgency" in found.values else residual
    if not residual or _is_non_answer(residual):
        return residual
    if residual.endswith("?") and field != "need":
        return residual  # a question back to us is not an answer
    if field == "name":
        clause = re.split(r"[,.;!?]|\s+and\s+|\s+-\s+", residual, maxsplit=1)[0].strip()
        words = clause.split()
        if 1 <= len(words) <= 3 and all(
            re.fullmatch(r"[A-Za-z][A-Za-z'-]*\.?", w) and _name_word_ok(w, True, True)
            for w in words
        ):
            found.take("name", _proper(clause.rstrip(".")))
            return residual[len(clause) :].strip(" ,.;!?-")
        return residual
    if field == "address":
        residual = _ADDRESS_PREFIX.sub("", residual)
        if not _place_like(residual):
            return residual
    elif field == "preferred_time":
        words = _words(residual)
        if len(words) > 8 or any(w in _PAST_MARKERS for w in words):
            return residual
    else:
        residual = _NEED_PREFIX.sub("", residual)
    found.take(field, residual)
    return ""


def _analyse(text: str, lead: dict[str, str], asking: str | None) -> tuple[dict[str, str], str]:
    """Values found in `text` (before the keep/correct rule), and the unexplained remainder."""
    text = _normalize(text)[:2000]
    found = _Found(values={}, spans=[])
    _find_address(text, found)
    _find_name(text, found, asking)
    _find_time(text, found, asking)  # before urgency: "asap" is both a time and an urgency
    _find_urgency(text, found)
    residual = _residual(text, found.spans)
    if asking and asking not in found.values and not lead.get(asking, "").strip():
        residual = _fill_asked(asking, residual, text, found)
    if "need" not in found.values and not lead.get("need", "").strip() and residual:
        need = _NEED_PREFIX.sub("", residual)
        if len(_words(need)) >= 3 and not _is_non_answer(need) and not need.endswith("?"):
            found.take("need", need)
            residual = ""
    return found.values, residual


def _known(lead: dict[str, str], field: str) -> bool:
    return bool(lead.get(field, "").strip())


def extract(text: str, lead: dict[str, str], asking: str | None) -> dict[str, str]:
    """What this text tells us: values for missing fields, and corrections of known ones.

    A value for a field the lead already has is included only when the text reads as a correction
    ("actually it's 60615"); otherwise a passing mention would overwrite a real answer.
    """
    values, _ = _analyse(text, lead, asking)
    correcting = bool(_CORRECTION.search(_normalize(text)))
    return {
        field: value
        for field, value in values.items()
        if value and (not _known(lead, field) or (correcting and value != lead.get(field)))
    }


def next_missing(lead: dict[str, str]) -> str | None:
    return next((field for field in FIELDS if not _known(lead, field)), None)


def summary(lead: dict[str, str]) -> str:
    """One line for the owner, known fields only, in GSM-7."""
    parts = [
        f"{_LABELS[field]}: {_cut(_gsm(lead[field]), 160)}"
        for field in FIELDS
        if _known(lead, field) and _gsm(lead[field])
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
    return _cut(_gsm(business_name), 40) or "We"


def _confirmation(lead: dict[str, str], business_name: str) -> str:
    name = _cut(_gsm(lead.get("name", "")), 30)
    urgency = _gsm(lead.get("urgency", ""))
    if urgency.lower() in (URGENT, NOT_URGENT):
        urgency_note = urgency.lower()
    else:
        urgency_note = f"urgency: {_cut(urgency, 30)}"
    opening = f"Thanks {name}!" if name else "Thanks!"
    closing = f"{_business(business_name)} will contact you shortly to confirm."
    address = _cut(_gsm(lead.get("address", "")), 70)
    when = _cut(_gsm(lead.get("preferred_time", "")), 40)
    need = _gsm(_echo(lead.get("need", "")))
    fixed = f"{opening} We have:  at {address}, {when} ({urgency_note}). {closing}"
    room = max(MAX_REPLY_CHARS - len(fixed), 12)
    reply = (
        f"{opening} We have: {_cut(need, room)} at {address}, {when} ({urgency_note}). {closing}"
    )
    return _cut(reply, MAX_REPLY_CHARS)


def _question_reply(
    field: str, learned: dict[str, str], had_question: bool, first: bool, business_name: str
) -> str:
    question = QUESTIONS[field]
    answer_later = f"{_business(business_name)} will go over that with you directly."
    if learned:
        name = _cut(_gsm(learned.get("name", "")), 30)
        prefix = f"Thanks, {name}!" if name else "Thanks!"
        if had_question:
            prefix = f"{prefix} {answer_later}"
    elif had_question:
        prefix = f"Good question - {answer_later}"
    elif first:
        prefix = "Hi!"
    else:
        prefix = "Sorry, I didn't catch that."
    return _cut(f"{prefix} {question}", MAX_REPLY_CHARS)


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
                update["need"] = _cut(f"{current['need']} {update['need']}", _MAX_VALUE["need"])
        else:
            update = extract(text, current, asking)
        if "?" in text and (_PRICE_QUESTION.search(text) or len(_words(text)) >= 3):
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
    first = asking == "need" and not any(_known(lead, field) for field in FIELDS)
    reply = _question_reply(missing, learned, had_question, first, business_name)
    return IntakeTurn(reply=reply, lead=current, complete=False)
