"""Pure rules, no stack: what an inbound text means for opt-out, opt-in, help and urgency."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from shared_code.assistant.keywords import (
    DEFAULT_EMERGENCY_WORDS,
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    OPT_OUT_WORDS,
    Intent,
    KeywordMatch,
    classify,
    is_emergency,
    looks_like_auto_reply,
)

# --- Twilio's own keywords: the whole body, any case, stray whitespace and punctuation ---------


def _variants(word: str) -> list[str]:
    return [
        word.lower(),
        word.upper(),
        word.capitalize(),
        word[0].lower() + word[1:].upper(),
        f"  {word.upper()}  ",
        f"\n{word}\t",
        f"{word}.",
        f"{word.upper()}!!!",
        f" {word.capitalize()} ! ",
        f'"{word}"',
    ]


def _bare(variants: list[str]) -> list[str]:
    """HELP/INFO count only as the bare word (any case, stray whitespace): Twilio answers those,
    and a "help?" nobody answered would be lost (see test_inbound_decisions)."""
    return [v for v in variants if v.strip().isalpha()]


EXACT = (
    [(v, Intent.OPT_OUT) for kw in sorted(OPT_OUT_KEYWORDS) for v in _variants(kw)]
    + [(v, Intent.OPT_IN) for kw in sorted(OPT_IN_KEYWORDS) for v in _variants(kw)]
    + [(v, Intent.HELP) for kw in sorted(HELP_KEYWORDS) for v in _bare(_variants(kw))]
)


def test_keyword_sets_match_twilio_reference() -> None:
    assert {"stop", "stopall", "unsubscribe", "cancel", "end", "quit"} == OPT_OUT_KEYWORDS
    assert {"start", "yes", "unstop"} == OPT_IN_KEYWORDS
    assert {"help", "info"} == HELP_KEYWORDS


@pytest.mark.parametrize(("body", "intent"), EXACT)
def test_exact_keyword_any_case_whitespace_and_punctuation(body: str, intent: Intent) -> None:
    assert classify(body) == KeywordMatch(intent, exact_keyword=True)


@pytest.mark.parametrize("body", ["REVOKE", "optout", "OptOut."])
def test_twilios_newer_opt_out_keywords_are_exact_too(body: str) -> None:
    assert classify(body) == KeywordMatch(Intent.OPT_OUT, exact_keyword=True)


# --- natural-language opt-outs (our own addition) and the service talk they must not catch -----

NATURAL_OPT_OUTS = [
    "stop texting me",
    "Please stop texting me!",
    "please stop",
    "STOP PLEASE",
    "stop it",
    "stop messaging me",
    "stop sending me texts",
    "Stop the texts",
    "unsubscribe me",
    "How do I unsubscribe?",
    "remove me from your list",
    "Please remove my number from your list",
    "take me off your list",
    "take me off your texting list",
    "don't text me",
    "Don\u2019t text me",
    "do not text me again",
    "never text me again",
    "leave me alone",
    "no more texts",
    "No more messages please",
    "opt me out",
    "opt out",
    "I want to opt-out",
    "Wrong number. Stop",
    "wrong number, STOP!!",
    "stop contacting me",
    "I said stop texting me",
]
NOT_OPT_OUTS = [
    "my sink won't stop leaking",
    "the water won't stop",
    "the water wont stop running",
    "can you stop by tomorrow?",
    "Could you please stop by after 5",
    "the bus stop on Main St",
    "I'm at the bus stop, call me",
    "I can't stop the dripping",
    "it just won't stop dripping, please help",
    "cancel my 3pm appointment and rebook",
    "I need to cancel and reschedule",
    "at the end of the hall",
    "I quit my old plumber",
    "the leak stopped",
    "it's unstoppable",
    "please don't stop texting me",
    "don't text me before 9am",
    "don't text me after 8, call instead",
    "text me the address",
    "my name is Dana, message me anytime",
    "I took the cover off",
    "remove the old water heater",
    "end of the driveway",
]


@pytest.mark.parametrize("body", NATURAL_OPT_OUTS)
def test_natural_opt_out(body: str) -> None:
    assert classify(body) == KeywordMatch(Intent.OPT_OUT, exact_keyword=False)


@pytest.mark.parametrize("body", NOT_OPT_OUTS)
def test_service_talk_is_not_an_opt_out(body: str) -> None:
    assert classify(body).intent is not Intent.OPT_OUT


@pytest.mark.parametrize("body", ["STOP PLEASE", "please stop", "stop texting me"])
def test_natural_opt_out_is_never_exact(body: str) -> None:
    """Twilio does not act on these, so we must send the confirmation ourselves."""
    assert classify(body).exact_keyword is False


@pytest.mark.parametrize(
    "body",
    [
        "start texting me again",
        "Please start texting me again",
        "resubscribe",
        "re-subscribe me",
        "opt me back in",
        "opt in",
        "you can text me again",
        "unstop please",
    ],
)
def test_natural_opt_in(body: str) -> None:
    assert classify(body) == KeywordMatch(Intent.OPT_IN, exact_keyword=False)


def test_opt_out_wins_over_opt_in_in_one_message() -> None:
    assert classify("stop texting me, I will start again later").intent is Intent.OPT_OUT


@pytest.mark.parametrize(
    "body",
    ["can you help?", "I need help with my sink", "more info on pricing please", "yes please"],
)
def test_help_and_yes_inside_sentences_are_not_keywords(body: str) -> None:
    assert classify(body) == KeywordMatch(Intent.NONE, exact_keyword=False)


def test_intent_values_are_stable_strings() -> None:
    assert [i.value for i in Intent] == ["opt_out", "opt_in", "help", "none"]
    assert Intent.OPT_OUT == "opt_out"


@pytest.mark.parametrize("body", ["", "   ", "!!!", "\n", "\U0001f44d"])
def test_empty_and_punctuation_only_bodies_mean_nothing(body: str) -> None:
    assert classify(body) == KeywordMatch(Intent.NONE, exact_keyword=False)


_WORD = re.compile(r"[a-z]+")


def _has_opt_out_word(body: str) -> bool:
    return any(word in OPT_OUT_WORDS for word in _WORD.findall(body.lower()))


# Service words plus near misses of every trigger ("stopped", "ending", "cancelled", "off").
_VOCAB = [
    "stopped",
    "stopping",
    "stopper",
    "unstoppable",
    "ending",
    "ended",
    "cancelled",
    "cancellation",
    "quitting",
    "please",
    "pls",
    "me",
    "my",
    "you",
    "don't",
    "do",
    "not",
    "leave",
    "no",
    "more",
    "your",
    "list",
    "off",
    "from",
    "won't",
    "can't",
    "water",
    "sink",
    "leak",
    "leaking",
    "tomorrow",
    "Main",
    "St",
    "again",
    "now",
    "it",
    "all",
    "by",
    "bus",
    "start",
    "help",
    "info",
    "yes",
    "out",
    "in",
    "again",
]


@given(
    st.lists(
        st.one_of(st.sampled_from(_VOCAB), st.text(max_size=8)),
        max_size=12,
    ),
    st.lists(st.sampled_from([" ", ", ", ". ", "! ", "?", "\n", " - "]), min_size=12, max_size=12),
)
def test_no_opt_out_word_means_never_opt_out(words: list[str], seps: list[str]) -> None:
    body = "".join(word + sep for word, sep in zip(words, seps, strict=False))
    assume(not _has_opt_out_word(body))
    assert classify(body).intent is not Intent.OPT_OUT


@given(st.text(max_size=200))
def test_no_opt_out_word_means_never_opt_out_for_any_text(body: str) -> None:
    assume(not _has_opt_out_word(body))
    assert classify(body).intent is not Intent.OPT_OUT


@given(st.text(max_size=300))
def test_classify_never_raises(body: str) -> None:
    assert isinstance(classify(body), KeywordMatch)


# --- emergencies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ("My basement is FLOODING!!", "flooding"),
        ("the laundry room flooded overnight", "flooded"),
        ("we have a burst pipe in the kitchen", "burst pipe"),
        ("two burst pipes", "burst pipe"),
        ("NO HEAT and it's 10 degrees", "no heat"),
        ("I smell gas near the stove", "smell gas"),
        ("it smells like gas in here", "smells like gas"),
        ("strong smell of gas", "smell of gas"),
        ("carbon  monoxide alarm going off", "carbon monoxide"),
        ("outlet is sparking", "sparking"),
        ("sewage backup in the basement", "sewage backup"),
        ("we have no water at all", "no water"),
    ],
)
def test_emergency_phrases(body: str, phrase: str) -> None:
    assert is_emergency(body, DEFAULT_EMERGENCY_WORDS) == phrase


@pytest.mark.parametrize(
    "body",
    [
        "my sink is dripping a little",
        "no heating issues, just a quote",
        "it's not flooding yet, just a slow leak",
        "there isn't a gas leak, just a weird noise",
        "gasket replacement please",
        "the floodlight is broken",
        "",
    ],
)
def test_not_an_emergency(body: str) -> None:
    assert is_emergency(body, DEFAULT_EMERGENCY_WORDS) is None


def test_emergency_uses_the_configured_words_and_returns_them_as_configured() -> None:
    assert is_emergency("The ROOF is caving in", ["Roof Caving", "roof is caving"]) == (
        "roof is caving"
    )
    assert is_emergency("my basement is flooding", []) is None
    assert is_emergency("my basement is flooding", ["", "  "]) is None
    assert is_emergency("tree on the house", iter(["tree on the house"])) == "tree on the house"


# --- other auto-responders -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "I'm driving with Driving Focus turned on. I'll see your message when I get there.",
        "Auto-Reply: I am currently out of the office.",
        "This is an automated message, please do not reply.",
        "AUTOREPLY from Bob's phone",
        "Automatic reply: on vacation",
        "I\u2019m driving right now",
        "I am driving, will text later",
        "Sent from my car",
        "Out of office until Monday",
        "Do not reply to this number",
        "This number is not monitored",
    ],
)
def test_auto_replies_are_detected(body: str) -> None:
    assert looks_like_auto_reply(body) is True


@pytest.mark.parametrize(
    "body",
    [
        "my water heater is leaking",
        "I got no reply from you guys yesterday",
        "I'm Dana, at 60614",
        "can you come tomorrow morning?",
        "yes it's urgent",
        "",
    ],
)
def test_people_are_not_auto_replies(body: str) -> None:
    assert looks_like_auto_reply(body) is False
