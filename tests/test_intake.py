"""Pure rules, no stack: the scripted intake that qualifies a lead without a language model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared_code.assistant.intake import (
    FIELDS,
    QUESTIONS,
    IntakeTurn,
    extract,
    next_missing,
    next_turn,
    summary,
)
from shared_code.platform.sms_segments import count_segments

BIZ = "Ace Plumbing"
FULL = {
    "need": "leaking water heater",
    "name": "Dana",
    "address": "60614",
    "preferred_time": "tomorrow morning",
    "urgency": "urgent",
}


def assert_sendable(turn: IntakeTurn) -> None:
    assert turn.reply.strip()
    assert len(turn.reply) <= 300
    counted = count_segments(turn.reply)
    assert counted.encoding == "GSM-7"
    assert counted.segments <= 2


def talk(*messages: str | list[str], lead: dict[str, str] | None = None) -> list[IntakeTurn]:
    turns, current = [], dict(lead or {})
    for message in messages:
        turn = next_turn(current, message if isinstance(message, list) else [message], BIZ)
        assert_sendable(turn)
        turns.append(turn)
        current = turn.lead
    return turns


# --- whole conversations -------------------------------------------------------------------------


def test_step_by_step_conversation_reaches_the_confirmation() -> None:
    turns = talk("leaking water heater", "Dana", "60614", "tomorrow morning", "yes")
    assert [t.reply for t in turns] == [
        "Thanks! What's your name?",
        "Thanks, Dana! What's the address or ZIP code for the job?",
        "Thanks! When would you like us to come out?",
        "Thanks! Is this urgent, or can it wait a few days?",
        "Thanks Dana! We have: leaking water heater at 60614, tomorrow morning (urgent). "
        "Ace Plumbing will contact you shortly to confirm.",
    ]
    assert [t.complete for t in turns] == [False, False, False, False, True]
    assert turns[-1].lead == FULL


def test_greeting_first_gets_the_first_question() -> None:
    (turn,) = talk("hi")
    assert turn.reply == "Hi! What can we help you with today?"
    assert turn.lead == {} and not turn.complete


def test_first_message_with_several_fields_skips_those_questions() -> None:
    (turn,) = talk("my sink is leaking and I'm Dana at 60614")
    assert turn.lead == {"need": "my sink is leaking", "name": "Dana", "address": "60614"}
    assert turn.reply == "Thanks, Dana! When would you like us to come out?"


def test_everything_in_one_text_completes_at_once() -> None:
    (turn,) = talk(
        "My basement is flooding! I'm Dana Smith, 123 N Main St, Chicago, IL 60614. "
        "Can you come asap?"
    )
    assert turn.complete
    assert turn.lead == {
        "need": "My basement is flooding",
        "name": "Dana Smith",
        "address": "123 N Main St, Chicago, IL 60614",
        "preferred_time": "asap",
        "urgency": "urgent",
    }
    assert turn.reply.startswith("Thanks Dana Smith! We have: your basement is flooding at 123 N")
    assert turn.reply.endswith("Ace Plumbing will contact you shortly to confirm.")


def test_out_of_order_answers_are_kept_and_only_missing_fields_asked() -> None:
    turns = talk("toilet keeps running", "tomorrow after 5", "Sam", "no rush", "60601")
    assert turns[1].lead["preferred_time"] == "tomorrow after 5"
    assert turns[1].reply == "Thanks! What's your name?"
    assert turns[2].reply == "Thanks, Sam! What's the address or ZIP code for the job?"
    assert turns[3].lead["urgency"] == "not urgent"
    assert turns[3].reply == "Thanks! What's the address or ZIP code for the job?"
    assert turns[4].complete
    assert turns[4].lead == {
        "need": "toilet keeps running",
        "name": "Sam",
        "address": "60601",
        "preferred_time": "tomorrow after 5",
        "urgency": "not urgent",
    }


def test_a_burst_of_three_texts_gives_one_reply() -> None:
    turn = next_turn({}, ["hi", "my kitchen sink", "is clogged"], BIZ)
    assert turn.lead == {"need": "my kitchen sink is clogged"}
    assert turn.reply == "Thanks! What's your name?"
    turn = next_turn(turn.lead, ["I'm Dana", "60614", "friday morning"], BIZ)
    assert turn.lead["name"] == "Dana"
    assert turn.lead["address"] == "60614"
    assert turn.lead["preferred_time"] == "friday morning"
    assert turn.reply == "Thanks, Dana! Is this urgent, or can it wait a few days?"
    assert_sendable(turn)


def test_unreadable_answer_asks_again_without_changing_the_lead() -> None:
    lead = {"need": "leaking water heater"}
    for text in ["?", "hmm", "ok", "why?"]:
        turn = next_turn(lead, [text], BIZ)
        assert turn.lead == lead
        assert turn.reply == "Sorry, I didn't catch that. What's your name?"


def test_price_questions_are_never_answered_by_the_script() -> None:
    turn = next_turn({}, ["How much do you charge to replace a water heater?"], BIZ)
    assert turn.lead == {"need": "How much do you charge to replace a water heater"}
    assert turn.reply == (
        "Thanks! Ace Plumbing will go over that with you directly. What's your name?"
    )
    turn = next_turn(turn.lead, ["what's your rate per hour?"], BIZ)
    assert turn.reply.startswith("Good question - Ace Plumbing will go over that")
    assert "$" not in turn.reply


def test_after_completion_a_thank_you_is_acknowledged_without_reconfirming() -> None:
    turn = next_turn(FULL, ["thanks!"], BIZ)
    assert turn.complete and turn.lead == FULL
    assert turn.reply == "Thanks! Ace Plumbing will contact you shortly."


def test_after_completion_a_correction_is_confirmed_again() -> None:
    turn = next_turn(FULL, ["actually make it Friday at 3pm"], BIZ)
    assert turn.complete
    assert turn.lead["preferred_time"] == "Friday at 3pm"
    assert "Friday at 3pm" in turn.reply and turn.reply.startswith("Thanks Dana! We have:")


def test_input_lead_is_not_mutated_and_extra_keys_survive() -> None:
    lead = {"need": "leaking water heater", "source": "sms"}
    before = dict(lead)
    turn = next_turn(lead, ["I'm Dana"], BIZ)
    assert lead == before
    assert turn.lead == {**before, "name": "Dana"}


def test_no_texts_just_asks_the_next_question() -> None:
    turn = next_turn({"need": "leak"}, [], BIZ)
    assert turn.reply == "Sorry, I didn't catch that. What's your name?"


def test_blank_values_count_as_missing() -> None:
    assert next_missing({"need": "  ", "name": "Dana"}) == "need"
    assert next_missing({}) == "need"
    assert next_missing(FULL) is None
    assert next_missing({k: v for k, v in FULL.items() if k != "preferred_time"}) == (
        "preferred_time"
    )


def test_question_order_is_the_field_order() -> None:
    assert FIELDS == ("need", "name", "address", "preferred_time", "urgency")
    assert set(QUESTIONS) == set(FIELDS)


# --- the asked-for field takes what no pattern claims -------------------------------------------


@pytest.mark.parametrize(
    ("asking", "text", "expected"),
    [
        ("need", "my water heater is leaking", {"need": "my water heater is leaking"}),
        ("need", "Hi! I need help with a clogged drain", {"need": "a clogged drain"}),
        ("need", "water heater", {"need": "water heater"}),
        ("name", "Dana", {"name": "Dana"}),
        ("name", "dana smith", {"name": "Dana Smith"}),
        ("name", "DANA", {"name": "Dana"}),
        ("name", "it's Dana", {"name": "Dana"}),
        ("name", "Dana here", {"name": "Dana"}),
        ("name", "O'Brien.", {"name": "O'Brien"}),
        ("address", "Lincoln Park", {"address": "Lincoln Park"}),
        ("address", "I live in Evanston", {"address": "Evanston"}),
        ("preferred_time", "after lunch", {"preferred_time": "after lunch"}),
        (
            "preferred_time",
            "whenever you can",
            {"preferred_time": "whenever", "urgency": "not urgent"},
        ),
        ("urgency", "yes", {"urgency": "urgent"}),
        ("urgency", "Yeah", {"urgency": "urgent"}),
        ("urgency", "kind of", {"urgency": "urgent"}),
        ("urgency", "no", {"urgency": "not urgent"}),
        ("urgency", "nope", {"urgency": "not urgent"}),
        ("urgency", "not really", {"urgency": "not urgent"}),
        ("urgency", "it can wait", {"urgency": "not urgent"}),
    ],
)
def test_asked_field_fallback(asking: str, text: str, expected: dict[str, str]) -> None:
    lead = {field: "x" for field in FIELDS[: FIELDS.index(asking)]}
    assert extract(text, lead, asking) == expected


@pytest.mark.parametrize(
    ("asking", "text"),
    [
        ("name", "why do you need my name?"),
        ("name", "I'm not sure"),
        ("name", "hi"),
        ("address", "it started leaking this morning"),
        ("address", "I'm not sure"),
        ("preferred_time", "it started leaking yesterday"),
        ("urgency", "hmm"),
        ("urgency", "I live in Evanston"),
    ],
)
def test_non_answers_fill_nothing(asking: str, text: str) -> None:
    lead = {field: "x" for field in FIELDS[: FIELDS.index(asking)]}
    assert extract(text, lead, asking) == {}


# --- pattern tables (asked something else, so only the patterns speak) -------------------------

NOTHING_MISSING_BUT = {"need": "leak"}


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("60614", "60614"),
        ("I'm at 60614", "60614"),
        ("zip 60614-1234 please", "60614-1234"),
        ("123 Main St", "123 Main St"),
        ("it's at 4567 W. Elm Street Apt 3B", "4567 W. Elm Street Apt 3B"),
        ("come to 12 Oak Ave, Evanston, IL 60201", "12 Oak Ave, Evanston, IL 60201"),
        ("88 Lake Shore Dr 60611", "88 Lake Shore Dr 60611"),
        ("1600 Pennsylvania Avenue", "1600 Pennsylvania Avenue"),
        ("500 Elm Blvd; zip 60614", "500 Elm Blvd, 60614"),
    ],
)
def test_address_extraction(text: str, address: str) -> None:
    assert extract(text, NOTHING_MISSING_BUT, "name").get("address") == address


@pytest.mark.parametrize(
    "text",
    [
        "2 leaks on the way",
        "call 312-555-0123",
        "I have 3 sinks",
        "my number is 3125550123",
        "it's 1234",
        "it cost $123456",
    ],
)
def test_not_an_address(text: str) -> None:
    assert "address" not in extract(text, NOTHING_MISSING_BUT, "name")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I'm Dana", "Dana"),
        ("im dana", "Dana"),
        ("I am Dana Smith", "Dana Smith"),
        ("this is Dana from 12 Oak Ave", "Dana"),
        ("my name is dana smith", "Dana Smith"),
        ("name's Bob.", "Bob"),
        ("Call me Bob!", "Bob"),
        ("Hi, this is Maria-Jose", "Maria-Jose"),
        ("I\u2019m Dana", "Dana"),
    ],
)
def test_name_extraction(text: str, name: str) -> None:
    assert extract(text, NOTHING_MISSING_BUT, "address").get("name") == name


@pytest.mark.parametrize(
    "text",
    [
        "I'm renting",
        "I'm not sure",
        "I am available tomorrow",
        "this is urgent",
        "this is for my kitchen",
        "I'm at 60614",
        "it's leaking",
        "I'm looking for a plumber",
        "im confused",
    ],
)
def test_not_a_name(text: str) -> None:
    assert "name" not in extract(text, NOTHING_MISSING_BUT, "address")


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("asap", "asap"),
        ("today", "today"),
        ("tonight works", "tonight"),
        ("tomorrow morning", "tomorrow morning"),
        ("Friday after 5", "Friday after 5"),
        ("next tuesday", "next tuesday"),
        ("11/24", "11/24"),
        ("11/24 at 3pm", "11/24 at 3pm"),
        ("Nov 24th", "Nov 24th"),
        ("at 3pm", "at 3pm"),
        ("around 10:30am", "around 10:30am"),
        ("weekdays after 6pm", "weekdays after 6pm"),
        ("can you come this afternoon?", "this afternoon"),
        ("I'm free in the evening", "in the evening"),
        ("my AC broke this morning, can you come tomorrow?", "tomorrow"),
        ("Good morning! tomorrow works", "tomorrow"),
    ],
)
def test_time_extraction(text: str, when: str) -> None:
    assert extract(text, NOTHING_MISSING_BUT, "name").get("preferred_time") == when


@pytest.mark.parametrize(
    "text",
    [
        "it started leaking this morning",
        "it broke yesterday",
        "the heater died last night",
        "leaking since Monday",
        "it broke 2 days ago",
        "I have 3 leaks",
        "Good morning",
    ],
)
def test_past_and_passing_times_are_not_a_preferred_time(text: str) -> None:
    assert "preferred_time" not in extract(text, NOTHING_MISSING_BUT, "name")


@pytest.mark.parametrize(
    ("text", "urgency"),
    [
        ("it's an emergency", "urgent"),
        ("URGENT please", "urgent"),
        ("asap", "urgent"),
        ("right away please", "urgent"),
        ("as soon as possible", "urgent"),
        ("my basement is flooding", "urgent"),
        ("I smell gas", "urgent"),
        ("not urgent", "not urgent"),
        ("it's not an emergency", "not urgent"),
        ("no rush", "not urgent"),
        ("whenever", "not urgent"),
        ("sometime this week", "not urgent"),
        ("I'm flexible", "not urgent"),
    ],
)
def test_urgency_extraction(text: str, urgency: str) -> None:
    assert extract(text, NOTHING_MISSING_BUT, "name").get("urgency") == urgency


def test_yes_and_no_mean_urgency_only_when_urgency_was_asked() -> None:
    assert "urgency" not in extract("yes", NOTHING_MISSING_BUT, "name")
    assert "urgency" not in extract("no", NOTHING_MISSING_BUT, "name")


# --- known values: kept unless corrected ---------------------------------------------------------


def test_passing_mentions_do_not_overwrite_known_values() -> None:
    lead = {**FULL}
    assert extract("the other house is at 60601, it leaked on Friday", lead, None) == {}


def test_corrections_overwrite_known_values() -> None:
    assert extract("Sorry, it's 60615", FULL, None) == {"address": "60615"}
    assert extract("actually make it Friday", FULL, None) == {"preferred_time": "Friday"}
    assert extract("actually, my name is Dana Lee", FULL, None) == {"name": "Dana Lee"}


def test_correction_to_the_same_value_changes_nothing() -> None:
    assert extract("actually it's 60614", FULL, None) == {}


# --- the owner's one-line summary ----------------------------------------------------------------


def test_summary_line() -> None:
    assert summary(FULL) == (
        "Need: leaking water heater | Name: Dana | Address: 60614 | When: tomorrow morning | "
        "Urgency: urgent"
    )


def test_summary_skips_missing_fields_and_stays_gsm() -> None:
    assert summary({"need": "sink \U0001f62d leak\nbad", "name": " "}) == "Need: sink leak bad"
    assert summary({}) == "No details yet"


# --- replies are always sendable: non-empty GSM-7, at most two segments --------------------------


def test_emoji_and_smart_quotes_are_never_echoed() -> None:
    lead = {**FULL, "need": "my \u201cnew\u201d sink \U0001f62d\U0001f62d leaks \u2014 badly"}
    turn = next_turn(
        {k: v for k, v in lead.items() if k != "urgency"},
        ["yes"],
        "Caf\u00e9 \u0141ukasz \U0001f527",
    )
    assert_sendable(turn)
    assert 'your "new" sink leaks - badly' in turn.reply
    assert "Caf\u00e9 Lukasz will contact you" in turn.reply  # é is GSM-7; Ł folds to L


def test_long_values_are_cut_to_fit_two_segments() -> None:
    lead = {
        "need": "water everywhere " * 60,
        "name": "Bartholomew " * 10,
        "address": "1234 Very Long Street Name Boulevard " * 5,
        "preferred_time": "any weekday morning before noon " * 5,
    }
    turn = next_turn(lead, ["yes"], "The Extremely Long Business Name Plumbing and Heating LLC" * 3)
    assert turn.complete
    assert_sendable(turn)


def test_no_business_name_still_reads() -> None:
    turn = next_turn({k: v for k, v in FULL.items() if k != "urgency"}, ["yes"], "")
    assert turn.reply.endswith("We will contact you shortly to confirm.")


_lead_values = st.one_of(st.text(max_size=400), st.sampled_from(["", " ", "Dana", "60614"]))


@settings(max_examples=300, deadline=None)
@given(
    lead=st.dictionaries(st.sampled_from(FIELDS), _lead_values, max_size=5),
    texts=st.lists(st.text(max_size=400), max_size=4),
    business_name=st.text(max_size=120),
)
def test_next_turn_never_raises_and_always_replies_sendably(
    lead: dict[str, str], texts: list[str], business_name: str
) -> None:
    turn = next_turn(lead, texts, business_name)
    assert_sendable(turn)
    assert turn.complete == (next_missing(turn.lead) is None)
    for field, value in lead.items():  # nothing known is lost
        if value.strip():
            assert turn.lead[field].strip()


_phrases = st.sampled_from(
    [
        "my sink is leaking",
        "I'm Dana",
        "60614",
        "123 Main St",
        "tomorrow morning",
        "asap",
        "no rush",
        "yes",
        "no",
        "actually",
        "hi",
        "?",
        "how much?",
        "Friday at 3pm",
        "\U0001f62d",
        "\u201cquoted\u201d",
        "{braces} [and] ~tilde~ |pipe| \u20ac5",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_phrases, min_size=1, max_size=4).map(" ".join), min_size=1, max_size=8))
def test_conversations_of_realistic_pieces_stay_sendable_and_deterministic(
    messages: list[str],
) -> None:
    lead: dict[str, str] = {}
    for message in messages:
        turn = next_turn(lead, [message], BIZ)
        assert turn == next_turn(lead, [message], BIZ)
        assert_sendable(turn)
        lead = turn.lead
