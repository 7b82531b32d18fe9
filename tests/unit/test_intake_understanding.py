"""Pure rules, no stack: the scripted intake understanding people (issue 16).

The two conversations of the issue, with their confirmations and the owner's summary; later
answers winning (also after the confirmation); any answer to any question; times as windows in
the business's zone; urgency from cues, asked only when unclear; real ZIPs and the service area;
addresses in parts; and the first reply naming the business and saying how to opt out within
two segments. The corpus figures are guarded in test_intake_corpus.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared_code.assistant.intake import IntakeTurn, next_turn, summary
from shared_code.assistant.intake_place import outside_area, split_address
from shared_code.assistant.intake_time import describe, window
from shared_code.messaging.outbound import identified
from shared_code.platform.sms_segments import count_segments

BIZ = "Ace Plumbing"
ZONE = "America/Chicago"
CHICAGO = ZoneInfo(ZONE)
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=CHICAGO)  # a Tuesday morning


def talk(*texts: str, area: str = "", lead: dict[str, str] | None = None) -> list[IntakeTurn]:
    turns, current = [], dict(lead or {})
    for i, text in enumerate(texts):
        turn = next_turn(
            current, [text], BIZ, time_zone=ZONE, now=NOW, service_area=area,
            first=i == 0 and not lead,
        )  # fmt: skip
        assert len(turn.reply) <= 300 and count_segments(turn.reply).segments <= 2
        assert count_segments(turn.reply).encoding == "GSM-7"
        turns.append(turn)
        current = turn.lead
    return turns


# --- the issue's two conversations ---------------------------------------------------------------


def test_a_time_answer_to_the_urgency_question_answers_both() -> None:
    # As the issue found it: "today" known, urgency asked; "tomorrow morning works" came back.
    lead = {
        "need": "my water heater is leaking",
        "name": "Dana",
        "address": "60614",
        "preferred_time": "today",
    }
    (turn,) = talk("tomorrow morning works", lead=lead)
    assert "didn't catch" not in turn.reply
    assert turn.complete
    assert turn.lead["preferred_time"] == "tomorrow morning"
    assert turn.lead["urgency"] == "not urgent"
    assert turn.reply == (
        "Thanks Dana! We have: your water heater is leaking at 60614, tomorrow morning"
        " (not urgent). Ace Plumbing will contact you shortly to confirm."
    )
    assert summary(turn.lead) == (
        "Need: my water heater is leaking | Name: Dana | Address: 60614"
        " | When: tomorrow morning (Wed Mar 11 08:00-12:00) | Urgency: not urgent"
    )


def test_the_issue_conversation_from_the_first_text_with_its_correction() -> None:
    turns = talk(
        "Hi, my water heater is leaking, can someone come today?",
        "Dana",
        "1420 W Wrightwood Ave 60614",
        "it can wait, tomorrow morning is fine",
    )
    # Urgent and today are clear from the first text: only the name and the address are asked.
    assert turns[0].lead["urgency"] == "urgent" and turns[0].lead["preferred_time"] == "today"
    assert turns[0].reply == (
        "Hi, this is Ace Plumbing. Thanks! What's your name? Reply STOP to opt out."
    )
    assert turns[1].reply == "Thanks, Dana! What's the address or ZIP code for the job?"
    assert turns[2].complete and "today (urgent)" in turns[2].reply
    last = turns[3]
    assert last.complete
    assert last.reply == (
        "Thanks Dana! We have: your water heater is leaking at 1420 W Wrightwood Ave 60614,"
        " tomorrow morning (not urgent). Ace Plumbing will contact you shortly to confirm."
    )
    assert "today" not in last.reply
    assert summary(last.lead) == (
        "Need: my water heater is leaking | Name: Dana | Address: 1420 W Wrightwood Ave 60614"
        " | When: tomorrow morning (Wed Mar 11 08:00-12:00) | Urgency: not urgent"
    )
    assert last.lead["when_start"] == "2026-03-11T08:00:00-05:00"
    assert last.lead["when_end"] == "2026-03-11T12:00:00-05:00"
    assert (last.lead["street"], last.lead["zip"]) == ("1420 W Wrightwood Ave", "60614")


# --- corrections win ----------------------------------------------------------------------------


def test_a_correction_after_the_confirmation_replaces_the_street_and_keeps_the_rest() -> None:
    turns = talk(
        "toilet is leaking at the base", "Rosa", "42 Oak St, Evanston 60201", "tomorrow afternoon"
    )
    assert turns[-1].complete
    (turn,) = talk("actually it's 44 Oak St", lead=turns[-1].lead)
    assert turn.complete
    assert turn.lead["address"] == "44 Oak St, Evanston, 60201"
    assert (turn.lead["street"], turn.lead["city"], turn.lead["zip"]) == (
        "44 Oak St",
        "Evanston",
        "60201",
    )
    assert "44 Oak St" in turn.reply and "42 Oak" not in turn.reply
    assert "Address: 44 Oak St, Evanston, 60201" in summary(turn.lead)


def test_a_correction_of_only_the_hour_keeps_the_day() -> None:
    turns = talk("beard trim and cut", "Marcus", "60614", "thursday around noon")
    (turn,) = talk("actually 1pm is better", lead=turns[-1].lead)
    assert turn.lead["preferred_time"] == "1pm"
    assert turn.lead["when_start"] == "2026-03-12T13:00:00-05:00"


def test_what_the_customer_says_about_urgency_beats_a_cue_and_later_beats_earlier() -> None:
    lead = talk("pipe is leaking under the sink")[0].lead
    assert (lead["urgency"], lead["urgency_basis"]) == ("urgent", "cue")
    lead = talk("tomorrow is fine", lead=lead)[0].lead
    assert lead["urgency"] == "urgent"  # a day asked for does not outweigh the leak
    lead = talk("honestly no rush", lead=lead)[0].lead
    assert lead["urgency"] == "not urgent"


def test_urgency_is_asked_only_when_unclear() -> None:
    turns = talk("water heater making noise", "Sam", "60614", "around 2")
    assert turns[-1].reply.endswith("Is this urgent, or can it wait a few days?")
    for clear in ("tomorrow at 2", "today at 2", "asap"):
        turns = talk("water heater making noise", "Sam", "60614", clear)
        assert turns[-1].complete, clear


# --- windows ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("tomorrow morning", "2026-03-11T08:00", "2026-03-11T12:00"),
        ("tmrw morning", "2026-03-11T08:00", "2026-03-11T12:00"),
        ("after 5", "2026-03-10T17:00", None),
        ("this weekend", "2026-03-14T00:00", "2026-03-16T00:00"),
        ("today", "2026-03-10T00:00", "2026-03-11T00:00"),
        ("tonight", "2026-03-10T17:00", "2026-03-10T21:00"),
        ("asap", "2026-03-10T10:00", None),
        ("friday at 3", "2026-03-13T15:00", "2026-03-13T16:00"),
        ("thursday between 1 and 3", "2026-03-12T13:00", "2026-03-12T15:00"),
        ("before noon", None, "2026-03-10T12:00"),
        ("next week", "2026-03-16T00:00", "2026-03-23T00:00"),
        ("3/14", "2026-03-14T00:00", "2026-03-15T00:00"),
        ("March 20th at 1pm", "2026-03-20T13:00", "2026-03-20T14:00"),
        ("saturday am", "2026-03-14T08:00", "2026-03-14T12:00"),
        ("at 9", "2026-03-11T09:00", "2026-03-11T10:00"),  # 9 has passed today: tomorrow
        ("tuesday", "2026-03-17T00:00", "2026-03-18T00:00"),  # the next one, not today
    ],
)
def test_times_become_local_windows(phrase: str, start: str | None, end: str | None) -> None:
    found = window(phrase, NOW)
    assert found is not None
    got = (
        found.start.strftime("%Y-%m-%dT%H:%M") if found.start else None,
        found.end.strftime("%Y-%m-%dT%H:%M") if found.end else None,
    )
    assert got == (start, end)


@pytest.mark.parametrize("phrase", ["whenever", "anytime", "I'm flexible"])
def test_no_window_for_any_time(phrase: str) -> None:
    assert window(phrase, NOW) is None


def test_the_window_is_read_in_the_business_zone_at_the_text_local_time() -> None:
    # 03:30 UTC Wednesday is still Tuesday evening in Chicago: "tomorrow" is Wednesday there.
    late = datetime(2026, 3, 11, 3, 30, tzinfo=UTC)
    turn = next_turn({}, ["need a drain cleaned tomorrow morning"], BIZ, time_zone=ZONE, now=late)
    assert turn.lead["when_start"] == "2026-03-11T08:00:00-05:00"
    assert describe(turn.lead["when_start"], turn.lead["when_end"]) == "Wed Mar 11 08:00-12:00"
    # An unknown zone reads in UTC rather than failing.
    assert next_turn({}, ["sink clogged tomorrow"], BIZ, time_zone="Nowhere/Else", now=late).lead


# --- places -------------------------------------------------------------------------------------


def test_a_zip_that_is_not_real_is_asked_again() -> None:
    turns = talk("furnace blowing cold air", "Maria", "00000", "sorry 60618")
    assert "address" not in turns[2].lead
    assert turns[2].reply == (
        "00000 doesn't look like a US ZIP code. What's the address or ZIP code for the job?"
    )
    assert turns[3].lead["zip"] == "60618"


def test_a_zip_outside_the_service_area_is_answered_honestly() -> None:
    turns = talk("ac not cooling at all", "Ben", "90210", area="Chicago, Evanston, Oak Park")
    assert turns[-1].lead["zip"] == "90210"
    assert "90210 looks outside our service area (Chicago, Evanston, Oak Park)" in turns[-1].reply
    inside = talk("ac not cooling", "Ben", "60201", area="Chicago, Evanston, Oak Park")
    assert "outside" not in inside[-1].reply


@pytest.mark.parametrize(
    ("zip_code", "area", "outside"),
    [
        ("60614", "Chicago", False),
        ("60201", "Chicago", True),
        ("60201", "60201, 60202", False),
        ("90210", "60614 and Evanston", True),
        ("90210", "", None),  # no service area set
        ("90210", "the north side", None),  # can't tell
        ("00000", "Chicago", None),  # not a ZIP
    ],
)
def test_service_area(zip_code: str, area: str, outside: bool | None) -> None:
    assert outside_area(zip_code, area) is outside


def test_addresses_are_split_for_the_lead() -> None:
    assert split_address("4567 W. Elm Street Apt 3B, Chicago, IL 60614") == {
        "street": "4567 W. Elm Street",
        "unit": "Apt 3B",
        "city": "Chicago",
        "state": "IL",
        "zip": "60614",
    }
    turn = talk("sink clogged. 88 Lake Shore Dr 60611")[0]
    assert (turn.lead["street"], turn.lead["zip"]) == ("88 Lake Shore Dr", "60611")


# --- the first message --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "hi",
        "how much for a new water heater?",
        "My basement is flooding! I'm Dana Smith, 123 N Main St, Chicago, IL 60614. Can you come"
        " asap? " + "Water is everywhere and rising, the carpet is soaked " * 3,
    ],
)
def test_the_first_reply_names_the_business_and_says_how_to_opt_out(text: str) -> None:
    turn = next_turn({}, [text], BIZ, time_zone=ZONE, now=NOW, first=True)
    assert turn.reply.startswith("Hi, this is Ace Plumbing.")
    assert turn.reply.endswith("Reply STOP to opt out.")
    assert len(turn.reply) <= 300 and count_segments(turn.reply).segments <= 2
    later = next_turn(turn.lead, ["ok"], BIZ, time_zone=ZONE, now=NOW)
    assert "STOP" not in later.reply


def test_outbound_identifies_any_first_text_within_its_budget() -> None:
    assert identified("Sure, what's your name?", BIZ, shorten=True) == (
        "Ace Plumbing: Sure, what's your name? Reply STOP to opt out."
    )
    done = "Hi, this is Ace Plumbing. Reply STOP to opt out."
    assert identified(done, BIZ, shorten=True) == done
    # "won't stop leaking" is not an opt-out instruction
    assert identified("Sorry it won't stop leaking!", BIZ, shorten=True).endswith(
        "Reply STOP to opt out."
    )
    long_reply = "We can help with that. " * 13  # 299 characters: two segments
    assert count_segments(long_reply).segments == 2
    wrapped = identified(long_reply, BIZ, shorten=True)
    assert count_segments(wrapped).segments == 2
    assert wrapped.startswith("Ace Plumbing: We can help") and wrapped.endswith("to opt out.")
    owner = identified(long_reply, BIZ, shorten=False)  # the owner's words are sent whole
    assert long_reply.strip() in owner and count_segments(owner).segments == 3


def test_a_vaguer_restatement_keeps_the_narrower_time() -> None:
    lead = talk("drain clogged", "Sam", "60614", "tomorrow morning")[-1].lead
    (turn,) = talk("ok tomorrow works, thanks", lead=lead)
    assert turn.lead["preferred_time"] == "tomorrow morning"
    (turn,) = talk("friday works better actually", lead=lead)
    assert turn.lead["preferred_time"] == "friday"
