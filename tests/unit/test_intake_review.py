"""Pure rules, no stack: what the review of the scripted intake (issue 16) found, kept fixed.

The job description holds no leftover time, urgency, request or sign-off words (scored strictly
by the bench); an hour without am/pm takes the part of the day said with it; questions about the
business's hours are not the customer's time; a date that is today stays this year (and a window
in another year says its year); deferring by days drops a same-day hour; windows are real local
times across DST changes; "is this the plumber?" is answered.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bench.intake_accuracy import NEED_NOT, need_right
from shared_code.assistant.intake import extract, next_turn
from shared_code.assistant.intake_time import describe, window

ZONE = "America/Chicago"
CHICAGO = ZoneInfo(ZONE)
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=CHICAGO)  # a Tuesday morning


def _window(phrase: str, now: datetime = NOW) -> tuple[str | None, str | None]:
    found = window(phrase, now)
    assert found is not None
    return (
        found.start.isoformat() if found.start else None,
        found.end.isoformat() if found.end else None,
    )


# --- need: the job only ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("toilet wont stop running. can u come tmrw morning? 60614", "toilet"),
        ("hola, I need a plumber for a leaky faucet, no rush", "faucet"),
        ("Basement flooding!!! 2231 N Halsted St please hurry", "basement flooding"),
        ("Hi! want to add a 240v outlet for a dryer. Thursday morning works", "240v outlet"),
        ("retainer broke, whenever you have an opening", "retainer"),
        ("Can someone come look at a running toilet tomorrow at 2", "running toilet"),
        ("water softener install quote pls", "water softener"),
        ("need someone to install a mini split. no rush at all", "mini split"),
    ],
)
def test_the_need_keeps_no_time_urgency_or_request_words(text: str, key: str) -> None:
    need = extract(text, {}, "need", NOW)["need"]
    assert need_right(key, need), need


def test_the_bench_scores_need_strictly() -> None:
    assert need_right("toilet", "toilet wont stop running")
    assert not need_right("toilet", "toilet wont stop running. can u come")
    assert not need_right("faucet", "a plumber for a leaky faucet no rush")
    assert not need_right("retainer", "retainer broke whenever you have an opening")
    assert need_right("emergency", "emergency lighting")  # the expected phrase may hold one
    assert {"no rush", "hurry", "whenever", "works", "please"} <= set(NEED_NOT)


# --- an hour takes the part of the day -------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("tonight at 8", "2026-03-10T20:00:00-05:00", "2026-03-10T21:00:00-05:00"),
        ("this evening around 7", "2026-03-10T19:00:00-05:00", "2026-03-10T20:00:00-05:00"),
        ("tomorrow night at 9", "2026-03-11T21:00:00-05:00", "2026-03-11T22:00:00-05:00"),
        ("8 tonight", "2026-03-10T20:00:00-05:00", "2026-03-10T21:00:00-05:00"),
        ("tomorrow afternoon at 3", "2026-03-11T15:00:00-05:00", "2026-03-11T16:00:00-05:00"),
        ("tomorrow morning at 9", "2026-03-11T09:00:00-05:00", "2026-03-11T10:00:00-05:00"),
    ],
)
def test_an_hour_without_am_pm_takes_the_part_of_the_day(phrase: str, start: str, end: str) -> None:
    assert _window(phrase) == (start, end)


def test_eight_tonight_is_read_as_a_time_with_its_hour() -> None:
    found = extract("can I bring it in 8 tonight", {"need": "brakes"}, "name", NOW)
    assert found["preferred_time"] == "8 tonight" and found["urgency"] == "urgent"
    turn = next_turn({}, ["sink backing up, tonight at 8?"], "Ace", time_zone=ZONE, now=NOW)
    assert turn.lead["when_start"] == "2026-03-10T20:00:00-05:00"
    assert turn.lead["urgency"] == "urgent"


# --- the business's hours are not the customer's time ----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "what time do you close today?",
        "are you open saturday?",
        "do you guys work weekends?",
        "need an oil change, what time do you open tomorrow?",
    ],
)
def test_a_question_about_our_hours_gives_no_time_or_urgency(text: str) -> None:
    found = extract(text, {}, "need", NOW)
    assert "preferred_time" not in found and "urgency" not in found


# --- dates -----------------------------------------------------------------------------------


def test_a_date_that_is_today_is_today() -> None:
    assert _window("3/10") == ("2026-03-10T00:00:00-05:00", "2026-03-11T00:00:00-05:00")
    assert _window("March 10th") == ("2026-03-10T00:00:00-05:00", "2026-03-11T00:00:00-05:00")
    assert _window("3/9")[0] == "2027-03-09T00:00:00-06:00"  # past: next year
    found = extract("can I come in on 3/10? I lost a filling", {}, "need", NOW)
    assert found["urgency"] == "urgent"  # today, by its date


def test_describe_shows_the_year_when_it_is_not_this_year() -> None:
    start, end = "2027-03-09T00:00:00-06:00", "2027-03-10T00:00:00-06:00"
    assert describe(start, end, today=date(2026, 3, 10)) == "Tue Mar 9 2027"
    this_year = ("2026-03-11T08:00:00-05:00", "2026-03-11T12:00:00-05:00")
    assert describe(*this_year, today=date(2026, 3, 10)) == "Wed Mar 11 08:00-12:00"


# --- deferring by days -----------------------------------------------------------------------


def test_waiting_a_few_days_drops_the_same_day_hour() -> None:
    lead: dict[str, str] = {}
    turn = None
    texts = ("the furnace is squealing", "Tom Reyes", "60640", "around 2", "it can wait a few days")
    for text in texts:
        turn = next_turn(lead, [text], "Polar Air", time_zone=ZONE, now=NOW)
        lead = turn.lead
    assert turn is not None and turn.complete
    assert lead["preferred_time"] == "in a few days" and lead["urgency"] == "not urgent"
    assert not lead.get("when_start") and not lead.get("when_end")
    assert "around 2" not in turn.reply and "in a few days (not urgent)" in turn.reply


# --- DST -------------------------------------------------------------------------------------


def test_spring_forward_an_hour_in_the_gap_is_a_real_time() -> None:
    saturday_night = datetime(2026, 3, 7, 20, 0, tzinfo=CHICAGO)  # clocks go forward at 2:00
    start, end = _window("at 2:30am", saturday_night)
    assert (start, end) == ("2026-03-08T03:30:00-05:00", "2026-03-08T04:30:00-05:00")
    assert datetime.fromisoformat(start).astimezone(CHICAGO).isoformat() == start


def test_fall_back_tomorrow_morning_is_in_standard_time() -> None:
    saturday = datetime(2026, 10, 31, 10, 0, tzinfo=CHICAGO)  # CDT; clocks go back at 2:00
    assert _window("tomorrow morning", saturday) == (
        "2026-11-01T08:00:00-06:00",
        "2026-11-01T12:00:00-06:00",
    )


# --- who we are ------------------------------------------------------------------------------


def test_is_this_the_plumber_is_answered() -> None:
    first = next_turn({}, ["Hi is this the plumber?"], "Ace Plumbing", first=True)
    assert first.reply == (
        "Hi! Yes, this is Ace Plumbing. What can we help you with today? Reply STOP to opt out."
    )
    later = next_turn({}, ["is this the plumber?"], "Ace Plumbing")
    assert later.reply == "Yes, this is Ace Plumbing. What can we help you with today?"
    other = next_turn({}, ["is this the dentist?"], "Ace Plumbing")
    assert other.reply.startswith("This is Ace Plumbing.")  # never a false "yes"


def test_the_readme_lists_the_words_that_say_not_urgent() -> None:
    readme = (Path(__file__).parents[1] / "data" / "intake" / "README.md").read_text()
    urgency = readme[readme.index("- `urgency`") :]
    for word in ("whenever", "anytime", "flexible"):
        assert f'"{word}"' in urgency
