"""What an inbound customer text means for compliance (opt-out, opt-in, help) and for urgency.

Twilio handles its own keywords on long codes only when the *whole* body is the keyword: it
blocks (or unblocks) the number and sends its own confirmation, and answers HELP/INFO itself.
We must record the same opt-out, but must not text a second answer (a confirmation would fail
with 21610 anyway), hence `KeywordMatch.exact_keyword`. With a Messaging Service and Advanced
Opt-Out, Twilio also tells us its verdict (`OptOutType`: STOP, START or HELP, its configured
keywords in any language): when present it wins over our reading of the body.

STOP is read generously ("Stop." and "STOP!!!" count as exact: recording an opt-out is always
safe), HELP strictly (only the bare word, any case): a "help?" that Twilio did not answer must
reach someone who will, so anything but the bare word is an ordinary text for the assistant.

Natural-language opt-outs ("please stop texting me") are our own
addition: people rarely type a bare STOP, and texting someone who asked us to stop is the one
mistake this product must never make. The other side matters as much, though: a plumber's
customers say "stop" about leaks all day ("my sink won't stop leaking"), so only phrases that are
about *our texts* count, and a bare CANCEL inside a sentence is a rebooking, not an opt-out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    NONE = "none"


@dataclass(frozen=True)
class KeywordMatch:
    intent: Intent
    # True when the whole body is one of Twilio's own keywords: Twilio then replies (and blocks or
    # unblocks) by itself on long codes, so we record the change but send no confirmation.
    exact_keyword: bool
    # True when Twilio said so itself (Advanced Opt-Out's `OptOutType`): it has answered already.
    twilio_verdict: bool = False


# Twilio's default English keywords (REFERENCE.md). REVOKE and OPTOUT were added by Twilio later
# (its Advanced Opt-Out docs list them); Twilio blocks on them too, so they count as exact here.
OPT_OUT_KEYWORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
OPT_IN_KEYWORDS = frozenset({"start", "yes", "unstop"})
HELP_KEYWORDS = frozenset({"help", "info"})
# Advanced Opt-Out's `OptOutType` values: Twilio's verdict on the whole body.
OPT_OUT_TYPES = {"STOP": Intent.OPT_OUT, "START": Intent.OPT_IN, "HELP": Intent.HELP}
EXTRA_OPT_OUT_KEYWORDS = frozenset({"revoke", "optout"})

# Every natural-language opt-out below needs at least one of these words, standing alone. Tests
# use the set as a property: a body without any of them is never an opt-out.
OPT_OUT_WORDS = frozenset(
    OPT_OUT_KEYWORDS
    | EXTRA_OPT_OUT_KEYWORDS
    | {"opt", "alone", "remove", "take", "delete", "drop", "unsub"}
    | {"text", "texts", "texting", "txt", "txts", "message", "messages", "messaging", "msg"}
    | {"msgs", "sms", "contact", "contacting", "bother", "spam", "notification", "notifications"}
    | {"alert", "alerts"}
)

_NONE = KeywordMatch(Intent.NONE, exact_keyword=False)

# Words that may surround a bare "stop" without changing what it means ("STOP please", "stop it").
_FILLER = frozenset(
    {"please", "pls", "plz", "just", "now", "ok", "okay", "thanks", "thank", "you", "thx", "ty"}
    | {"already", "it", "this", "all", "right", "asap", "immediately", "seriously", "omg"}
)
_BARE_OPT_OUT = frozenset({"stop", "stopall", "unsubscribe", "unsub", "optout", "revoke"})
_NEGATED_STOP = re.compile(
    r"\b(?:won'?t|wont|can'?t|cant|cannot|doesn'?t|doesnt|didn'?t|didnt|don'?t|dont|isn'?t|"
    r"never|not|will not|does not|did not|do not)\s+(?:\w+\s+)?$"
)
_OUR_TEXTS = r"(?:texts?|txts?|messages?|msgs?|sms|spam|notifications?|alerts?)"
_STOP_PHRASES = re.compile(
    r"\bstop\s+(?:"
    r"(?:texting|txting|texing|messaging|msging|contacting|calling|bothering|spamming)\b"
    r"(?:\s+(?:me|us|this\s+number|my\s+number)\b)?"
    r"|sending\s+(?:me\s+|us\s+)?(?:any\s+more\s+|anymore\s+|these\s+|those\s+|the\s+)?"
    + _OUR_TEXTS
    + r"|(?:all\s+)?(?:the\s+|these\s+|those\s+|your\s+|ur\s+)?"
    + _OUR_TEXTS
    + r"\b)"
)
_OTHER_OPT_OUTS = [
    re.compile(r"\b(?:unsubscribe|unsub|optout|revoke)\b"),
    re.compile(r"\bopt(?:\s+me)?[\s-]*out\b"),
    re.compile(r"\bleave\s+me\s+alone\b"),
    re.compile(r"\bno\s+more\s+(?:" + _OUR_TEXTS + r"|texting|messaging|contact)\b"),
    re.compile(
        r"\b(?:remove|take|delete|drop)\s+(?:me|my\s+(?:phone\s+)?(?:number|#|info))\s+"
        r"(?:off|from|out\s+of)\s+(?:of\s+)?(?:your\s+|the\s+|this\s+|ur\s+|all\s+|ya\s+)?"
        r"(?:\w+\s+){0,2}?(?:list|lists|texts?|messages?|texting|sms|contacts?|database|system)\b"
    ),
    re.compile(
        r"\b(?:don'?t|dont|do\s+not|never|pls\s+don'?t)\s+(?:ever\s+)?"
        r"(?:text|txt|message|msg|sms|contact|bother)\s+(?:me|us|this\s+number|my\s+number)\b"
        # "don't text me before 9" asks for a time, not an opt-out
        r"(?!\s+(?:until|till|til|before|after|at|during|between|while|on|tonight|today|"
        r"tomorrow|in|this|next|until|unless|if)\b)"
    ),
]
_OPT_INS = [
    re.compile(r"\b(?:re-?subscribe|unstop|opt\s+(?:me\s+)?(?:back\s+)?in|opt-in)\b"),
    re.compile(
        r"\b(?:start|resume)\s+(?:texting|messaging|sending\s+(?:me\s+)?(?:texts|messages))\b"
    ),
    re.compile(r"\b(?:you\s+can|ok\s+to|okay\s+to)\s+(?:text|message)\s+me\s+again\b"),
]


def _normalize(body: str) -> str:
    text = body.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'").lower()
    return " ".join(text.split())


def _strip_ends(text: str) -> str:
    """Whitespace and punctuation off both ends: "STOP!!!", "stop.", '"Stop"' are all STOP."""
    return re.sub(r"^[\W_]+|[\W_]+$", "", text)


def _is_bare_opt_out(clause: str) -> bool:
    """A clause that is only a stop word plus politeness ("STOP please", "stop it now")."""
    words = re.findall(r"[a-z']+", clause)
    core = [w for w in words if w not in _FILLER]
    return len(core) == 1 and core[0] in _BARE_OPT_OUT and len(words) <= 5


def _natural_opt_out(text: str) -> bool:
    for match in _STOP_PHRASES.finditer(text):
        if not _NEGATED_STOP.search(text[: match.start()]):
            return True
    if any(pattern.search(text) for pattern in _OTHER_OPT_OUTS):
        return True
    # "Wrong number. STOP" - a sentence on its own that is just the keyword.
    return any(_is_bare_opt_out(clause) for clause in re.split(r"[.,;:!?\n]+|\s-\s", text))


def classify(body: str, opt_out_type: str | None = None) -> KeywordMatch:
    """Opt-out, opt-in or help, and whether Twilio itself already acted on the message.

    `opt_out_type` is the webhook's `OptOutType` (Advanced Opt-Out only): when it names one of
    STOP/START/HELP it decides, whatever the body says; an unknown value is ignored."""
    verdict = OPT_OUT_TYPES.get((opt_out_type or "").strip().upper())
    if verdict is not None:
        return KeywordMatch(verdict, exact_keyword=True, twilio_verdict=True)
    text = _normalize(body)
    whole = _strip_ends(text)
    if whole in OPT_OUT_KEYWORDS or whole in EXTRA_OPT_OUT_KEYWORDS:
        return KeywordMatch(Intent.OPT_OUT, exact_keyword=True)
    if whole in OPT_IN_KEYWORDS:
        return KeywordMatch(Intent.OPT_IN, exact_keyword=True)
    if text in HELP_KEYWORDS:  # the bare word only (normalised: any case, no stray spaces)
        return KeywordMatch(Intent.HELP, exact_keyword=True)
    # Opt-out wins over opt-in in a mixed message: not texting is always the safe side.
    if _natural_opt_out(text):
        return KeywordMatch(Intent.OPT_OUT, exact_keyword=False)
    if any(pattern.search(text) for pattern in _OPT_INS):
        return KeywordMatch(Intent.OPT_IN, exact_keyword=False)
    return _NONE


DEFAULT_EMERGENCY_WORDS: tuple[str, ...] = (
    "flooding",
    "flooded",
    "burst pipe",
    "pipe burst",
    "no heat",
    "gas leak",
    "gas smell",
    "smell gas",
    "smells like gas",
    "smell of gas",
    "carbon monoxide",
    "sparking",
    "electrical fire",
    "sewage backup",
    "no water",
)

# "not flooding", "there isn't a gas leak": the word is there, the emergency is not.
_NEGATION_BEFORE = re.compile(
    r"\b(?:not|no|isn'?t|isnt|wasn'?t|wasnt|aren'?t|arent|never|without|nothing)"
    r"(?:\s+(?:a|an|any|the|really|actually|currently|yet))?\s+$"
)


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = [re.escape(word) for word in phrase.split()]
    # A plain plural is the same emergency ("burst pipes"); "no heating" is not "no heat".
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"s?(?!\w)")


@lru_cache(maxsize=32)
def _phrase_patterns(words: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each configured phrase with its pattern, built once per word list (the list comes from
    settings and every customer text is checked against all of it)."""
    return tuple(
        (phrase, _phrase_pattern(wanted)) for phrase in words if (wanted := _normalize(phrase))
    )


def is_emergency(body: str, words: Iterable[str]) -> str | None:
    """The first configured emergency phrase the text contains (as configured), or None."""
    text = _normalize(body)
    for phrase, pattern in _phrase_patterns(tuple(words)):
        for match in pattern.finditer(text):
            if not _NEGATION_BEFORE.search(text[: match.start()]):
                return phrase
    return None


_AUTO_REPLY = re.compile(
    r"\b(?:auto[\s-]?reply|auto[\s-]?replies|auto[\s-]?response|auto[\s-]?responder"
    r"|automatic\s+(?:reply|response|message)|automated\s+(?:reply|response|message|text)"
    r"|this\s+is\s+an?\s+auto(?:mated|matic)?\b"
    r"|i'?m\s+driving|im\s+driving|i\s+am\s+(?:currently\s+)?driving|driving\s+right\s+now"
    r"|currently\s+driving|while\s+driving|driving\s+focus|driving\s+mode"
    r"|do\s+not\s+disturb|notifications\s+silenced"
    r"|(?:please\s+)?do\s+not\s+reply|don'?t\s+reply\s+to\s+this|no-?reply"
    r"|out\s+of\s+(?:the\s+)?office|away\s+from\s+(?:my\s+)?(?:phone|desk)\s+(?:right\s+now|until)"
    r"|sent\s+from\s+my\s+car|this\s+(?:number|inbox|mailbox)\s+is\s+(?:not|un)\s*monitored"
    r"|i\s+will\s+(?:get\s+back|reply|respond)\s+(?:to\s+you\s+)?when\s+i\s+(?:can|get|arrive))"
)


def looks_like_auto_reply(body: str) -> bool:
    """Another auto-responder (driving mode, out of office): answering it starts a bot loop."""
    return bool(_AUTO_REPLY.search(_normalize(body)))
