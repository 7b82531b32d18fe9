"""Pure rules, no stack: what the scripted intake's `extract` reads from one customer text.

The field being asked for takes what no pattern claims, unless the text is a non-answer; the
address, name, preferred-time and urgency patterns speak whatever was asked, with tables of texts
they must and must not match; and values already known are kept through passing mentions but
replaced by corrections. Whole conversations, the summary and reply limits are in
test_intake_conversations.py.
"""

from __future__ import annotations

import pytest

from shared_code.assistant.intake import FIELDS, extract
from tests.unit.test_intake_conversations import FULL

# --- the asked-for field takes what no pattern claims -------------------------------------------


@pytest.mark.parametrize(
    ("asking", "text", "expected"),
    [
        (
            "need",
            "my water heater is leaking",
            {"need": "my water heater is leaking", "urgency": "urgent"},
        ),
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
    # The asked field stays empty; a cue elsewhere ("leaking": urgent) may still be read.
    assert asking not in extract(text, lead, asking)
    assert set(extract(text, lead, asking)) <= {"urgency"}


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
