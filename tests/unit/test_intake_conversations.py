"""Pure rules, no stack: the scripted intake's conversations, its summary and its sendable replies.

The scripted intake qualifies a lead without a language model. These tests run whole
conversations through `next_turn` (questions asked in field order, several answers in one text,
bursts, price questions, corrections after completion), the owner's one-line summary, and the
promise that every reply is non-empty GSM-7 in at most two segments, including property tests
over arbitrary and realistic input. What `extract` reads from a single text is in
test_intake_extraction.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from shared_code.assistant.intake import (
    FIELDS,
    QUESTIONS,
    IntakeTurn,
    next_missing,
    next_turn,
    summary,
)
from shared_code.platform.sms_segments import count_segments

BIZ = "Ace Plumbing"
NOW = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
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


def core(lead: dict[str, str]) -> dict[str, str]:
    """The intake's own fields of a lead (its parts: windows, address parts... left out)."""
    return {field: lead[field] for field in FIELDS if field in lead}


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
    # Nothing in these answers says how urgent it is (no cue, no day), so it is asked last.
    turns = talk("noisy water heater", "Dana", "60614", "after 5", "yes")
    assert [t.reply for t in turns] == [
        "Thanks! What's your name?",
        "Thanks, Dana! What's the address or ZIP code for the job?",
        "Thanks! When would you like us to come out?",
        "Thanks! Is this urgent, or can it wait a few days?",
        "Thanks Dana! We have: noisy water heater at 60614, after 5 (urgent). "
        "Ace Plumbing will contact you shortly to confirm.",
    ]
    assert [t.complete for t in turns] == [False, False, False, False, True]
    assert core(turns[-1].lead) == {
        **FULL,
        "need": "noisy water heater",
        "preferred_time": "after 5",
    }


def test_greeting_first_gets_the_first_question() -> None:
    (turn,) = talk("hi")
    assert turn.reply == "Hi! What can we help you with today?"
    assert turn.lead == {} and not turn.complete


def test_first_message_with_several_fields_skips_those_questions() -> None:
    (turn,) = talk("my sink is leaking and I'm Dana at 60614")
    assert core(turn.lead) == {
        "need": "my sink is leaking",
        "name": "Dana",
        "address": "60614",
        "urgency": "urgent",  # a leak is urgent without saying so
    }
    assert turn.reply == "Thanks, Dana! When would you like us to come out?"


def test_everything_in_one_text_completes_at_once() -> None:
    (turn,) = talk(
        "My basement is flooding! I'm Dana Smith, 123 N Main St, Chicago, IL 60614. "
        "Can you come asap?"
    )
    assert turn.complete
    assert core(turn.lead) == {
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
    assert turns[1].lead["urgency"] == "not urgent"  # a later day: not urgent, not asked
    assert turns[1].reply == "Thanks! What's your name?"
    assert turns[2].reply == "Thanks, Sam! What's the address or ZIP code for the job?"
    assert turns[3].lead["urgency"] == "not urgent"
    assert turns[3].reply == "Thanks! What's the address or ZIP code for the job?"
    assert turns[4].complete
    assert core(turns[4].lead) == {
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
    assert turn.complete  # friday: not urgent, so not asked
    assert turn.reply.startswith(
        "Thanks Dana! We have: your kitchen sink is clogged at 60614, friday morning (not urgent)."
    )
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
        turn = next_turn(lead, [message], BIZ, now=NOW)
        assert turn == next_turn(lead, [message], BIZ, now=NOW)
        assert_sendable(turn)
        lead = turn.lead
