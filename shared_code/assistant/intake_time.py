"""A preferred time as a window: the customer's phrase made into local start and end times.

"tomorrow morning" said on Tuesday at 10:00 in the business's zone is Wednesday 08:00-12:00 there;
"after 5" is today from 17:00, open-ended; "this weekend" is Saturday 00:00 to Monday 00:00. The
phrase is read relative to the text's local time (`now`, zone-aware, in the business's zone), so
the window is what the customer meant where they are, and is stored with the lead as ISO times
carrying their UTC offset (the owner's summary shows it in that local time).

The rules (also in tests/data/intake/README.md, which the corpus is written to):
- day parts: morning 08-12, afternoon 12-17, evening / tonight 17-21, noon / lunch 12-13;
- "at 3", "around 3pm", "4ish": an hour from then; "after 5": from 17:00, open; "before noon":
  until 12:00; "between 1 and 3", "1-3pm": 13:00-15:00; without am/pm an hour takes the part of
  the day said with it ("tonight at 8", "8 tonight": 20:00; "9 in the morning"), else 1-6 is pm,
  7-11 am;
- a day alone is the whole day; a weekday name is the next such day after today; explicit dates
  ("3/14", "March 20th") go through `dateparser`, preferring the future from local midnight (a
  date that is today is today, not next year);
- times are real local times: one in the spring-forward gap ("2:30am") moves on past it;
- no day given: today if the window has not begun yet, else tomorrow (a correction that gives only
  an hour keeps the day it corrects);
- "asap", "now": from now, open; "whenever", "flexible": no window.

`urgency_of` says what the phrase implies for urgency: today / now is urgent, a later day is not
(a date that is today's is urgent: `dated_today`, which needs the text's time),
an hour or a day part alone says nothing. `dateparser` is imported on first use (it is not cheap,
and only the scripted intake needs it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from shared_code.assistant.intake_patterns import NOT_URGENT, URGENT

_TYPOS = {
    r"\b(?:tmrw|tmr|tmrow|tomorow|tommorow|tommorrow|tomm?or+ow|2moro|2morrow|tmw)\b": "tomorrow",
    r"\btn\b|\btonite\b|\b2nite\b": "tonight",
    r"\ba\.m\.": "am",
    r"\bp\.m\.": "pm",
    r"\ba\.s\.a\.p\b": "asap",
}
_WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "weds": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5,
    "saturday": 5, "sun": 6, "sunday": 6,
}  # fmt: skip
_WEEKDAY = re.compile(r"\b(" + "|".join(sorted(_WEEKDAYS, key=len, reverse=True)) + r")\b")
_ASAP = re.compile(
    r"\b(?:asap|as\s+soon\s+as\s+possible|right\s+away|right\s+now|immediately|now)\b"
)
_TODAY = re.compile(r"\b(?:today|tonight|this\s+(?:morning|afternoon|evening)|later\s+today)\b")
_MONTHS = (
    r"jan|january|feb|february|mar|march|apr|april|may|june?|july?|aug|august|sept?|september|"
    r"oct|october|nov|november|dec|december"
)
_DATE = re.compile(
    r"\b(?:(?:" + _MONTHS + r")\.?\s+\d{1,2}(?:st|nd|rd|th)?|\d{1,2}/\d{1,2}(?:/\d{2,4})?)\b"
)
_HOUR = r"(1[0-2]|0?[1-9])(?::([0-5]\d))?\s*(am|pm)?"
_RANGE = re.compile(
    r"(?:between\s+|from\s+)?" + _HOUR + r"\s*(?:-|to|and|til|till|until)\s*" + _HOUR
)
_AT = re.compile(
    r"(after|before|by|until|till|at|around|about|like|say|from|~)?\s*\b"
    + _HOUR
    + r"(ish)?(?!\s*(?:/|weeks?|days?|hours?|hrs?|years?|yrs?|months?|mins?|minutes?|people|kids))"
)
_PARTS: tuple[tuple[re.Pattern[str], tuple[int | None, int | None]], ...] = (
    (re.compile(r"\b(?:before|by|until|till)\s+(?:noon|midday|lunch)\b"), (None, 12)),
    (re.compile(r"\bafter\s+work\b"), (17, None)),
    (re.compile(r"\bafter\s+lunch\b"), (13, None)),
    (re.compile(r"\bafter\s+school\b"), (15, None)),
    (re.compile(r"\b(?:noon|midday|lunch|lunchtime)\b"), (12, 13)),
    (re.compile(r"\b(?:morning|mornings|am|early)\b"), (8, 12)),
    (re.compile(r"\b(?:afternoon|afternoons|pm)\b"), (12, 17)),
    (re.compile(r"\b(?:evening|evenings|tonight|night|nights)\b"), (17, 21)),
)
_WHENEVER = re.compile(r"\b(?:whenever|any\s*time|anytime|flexible|no\s+preference)\b")


@dataclass(frozen=True)
class Window:
    start: datetime | None
    end: datetime | None


def _clean(phrase: str) -> str:
    text = phrase.lower()
    for pattern, replacement in _TYPOS.items():
        text = re.sub(pattern, replacement, text)
    return text


def _dateparser_date(text: str, now: datetime) -> date | None:
    import dateparser  # first use only: a second of import the webhooks never pay

    settings: Any = {
        "PREFER_DATES_FROM": "future",
        # From local midnight: a date that is today ("3/10" sent on 3/10) is today, not next year.
        "RELATIVE_BASE": now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None),
        "DATE_ORDER": "MDY",
        "REQUIRE_PARTS": ["day", "month"],
    }
    try:
        parsed = dateparser.parse(text, languages=["en"], settings=settings)
    except Exception:  # dateparser on odd input: no date rather than no reply
        return None
    if parsed is None:
        return None
    found, today = parsed.date(), now.date()
    if not re.search(
        r"\d{4}|/\d{1,2}/\d{2}", text
    ):  # no year said: the next such date, today included
        try:
            this_year = found.replace(year=today.year)
        except ValueError:  # Feb 29
            return found
        found = this_year if this_year >= today else found
    return found


def _days(text: str, now: datetime) -> tuple[date, date] | None:
    """The day range the phrase names: (first day, day after the last), or None."""
    today = now.date()
    match = _DATE.search(text)
    if match:
        found = _dateparser_date(match.group(0), now)
        if found is not None:
            return found, found + timedelta(days=1)
    if re.search(r"\btomorrow\b", text):
        return today + timedelta(days=1), today + timedelta(days=2)
    if _TODAY.search(text):
        return today, today + timedelta(days=1)
    weekday = _WEEKDAY.search(text)
    if weekday:
        ahead = (_WEEKDAYS[weekday.group(1)] - today.weekday()) % 7 or 7
        day = today + timedelta(days=ahead)
        return day, day + timedelta(days=1)
    monday = today + timedelta(days=7 - today.weekday())
    if re.search(r"\bweekend\b", text):
        saturday = today + timedelta(days=(5 - today.weekday()) % 7)
        if today.weekday() == 6:
            saturday = today - timedelta(days=1)
        if re.search(r"\bnext\s+weekend\b", text):
            saturday += timedelta(days=7)
        return saturday, saturday + timedelta(days=2)
    if re.search(r"\bnext\s+week\b", text):
        return monday, monday + timedelta(days=7)
    if re.search(r"\bthis\s+week\b", text):
        return today, monday
    return None


_PM_PARTS = re.compile(r"\b(?:afternoons?|evenings?|tonight|nights?)\b")
_AM_PARTS = re.compile(r"\b(?:mornings?)\b")
_BARE_HOUR_THEN_PART = re.compile(
    r"\s*(?:tonight|tomorrow|this\s+(?:morning|afternoon|evening)|in\s+the\s+"
    r"(?:morning|afternoon|evening)|at\s+night)"
)


def _hour(hour: str, minute: str | None, meridiem: str | None) -> time:
    h = int(hour) % 12
    if meridiem == "pm" or (meridiem is None and 1 <= int(hour) <= 6):
        h += 12
    elif meridiem is None and int(hour) == 12:
        h = 12
    return time(h, int(minute or 0))


def _hours(text: str) -> tuple[time | None, time | None] | None:
    """The hours the phrase names as (start, end), either open, or None. An hour without am/pm
    takes the part of the day said with it ("tonight at 8": 20:00; "9 in the morning")."""
    part = "pm" if _PM_PARTS.search(text) else "am" if _AM_PARTS.search(text) else None
    ranged = _RANGE.search(text)
    if ranged:
        h1, m1, ap1, h2, m2, ap2 = ranged.groups()
        ap2 = ap2 or (part if int(h2) != 12 else None)
        end = _hour(h2, m2, ap2)
        if ap1 is None and ap2 is not None and int(h1) <= int(h2) and int(h2) != 12:
            ap1 = ap2  # "1-3pm": both pm
        start = _hour(h1, m1, ap1)
        if start < end:
            return start, end
    for match in _AT.finditer(text):
        word, hour, minute, meridiem, ish = match.groups()
        then_part = _BARE_HOUR_THEN_PART.match(text, match.end())
        if not (word or minute or meridiem or ish or then_part):
            continue  # a bare number is not a time ("2 boys"); "8 tonight" is
        if meridiem is None and int(hour) != 12:
            meridiem = part
        at = _hour(hour, minute, meridiem)
        if word == "after" or word == "from":
            return at, None
        if word in ("before", "by", "until", "till"):
            return None, at
        end = (datetime.combine(date.min, at) + timedelta(hours=1)).time()
        return at, (end if end > at else None)
    for pattern, (start_h, end_h) in _PARTS:
        if pattern.search(text):
            return (
                time(start_h) if start_h is not None else None,
                time(end_h) if end_h is not None else None,
            )
    return None


def window(phrase: str, now: datetime, *, base_day: date | None = None) -> Window | None:
    """The window `phrase` names, read at `now` (zone-aware local time); None for no window."""
    text = _clean(phrase)
    zone = now.tzinfo
    days = _days(text, now)
    hours = _hours(text)
    if days is None and hours is None:
        if _ASAP.search(text):
            return Window(now.replace(second=0, microsecond=0), None)
        return None
    if days is not None and (hours is None or (days[1] - days[0]).days > 1):
        first, after = days
        return Window(datetime.combine(first, time(), zone), datetime.combine(after, time(), zone))
    assert hours is not None
    start_t, end_t = hours
    if days is not None:
        day = days[0]
    elif base_day is not None:
        day = base_day
    else:
        day = now.date()
        edge = start_t if start_t is not None else end_t
        assert edge is not None
        if datetime.combine(day, edge, zone) <= now:
            day += timedelta(days=1)
    start = _real(datetime.combine(day, start_t, zone)) if start_t is not None else None
    end = _real(datetime.combine(day, end_t, zone)) if end_t is not None else None
    if start is not None and end is not None and end <= start:
        end = (start.astimezone(UTC) + timedelta(hours=1)).astimezone(zone)  # "at 2:30am", DST
    return Window(start, end)


def _real(moment: datetime) -> datetime:
    """A local time that exists: one in the spring-forward gap (02:30) moves on past it."""
    assert moment.tzinfo is not None
    return moment.astimezone(UTC).astimezone(moment.tzinfo)


def has_day(phrase: str) -> bool:
    """Whether the phrase names a day (not only hours or a part of a day)."""
    text = _clean(phrase)
    return _days(text, datetime(2000, 1, 3)) is not None  # any Monday: only presence matters


def urgency_of(phrase: str) -> str | None:
    """What a requested time says about urgency: today or now urgent, a later day not."""
    text = _clean(phrase)
    if _ASAP.search(text) or _TODAY.search(text):
        return URGENT
    if (
        _DATE.search(text)
        or _WEEKDAY.search(text)
        or re.search(r"\b(?:tomorrow|week|weekend|days)\b", text)
    ):
        return NOT_URGENT
    return None


def dated_today(phrase: str, now: datetime) -> bool:
    """Whether the phrase names today by its date ("3/10" sent on 3/10): that is urgent."""
    text = _clean(phrase)
    days = _days(text, now) if _DATE.search(text) else None
    return days is not None and days[0] == now.date()


def describe(start: str, end: str, *, today: date | None = None) -> str:
    """A stored window (ISO times) for the owner, in its local time: "Wed Mar 11 08:00-12:00";
    the year is shown when it is not this year (`today`: default the present, there)."""
    try:
        first = datetime.fromisoformat(start) if start else None
        last = datetime.fromisoformat(end) if end else None
    except ValueError:
        return ""
    if first is None and last is None:
        return ""

    shown = first or last
    assert shown is not None
    this_year = (today or datetime.now(shown.tzinfo).date()).year

    def day(moment: datetime) -> str:
        year = f" {moment.year}" if moment.year != this_year else ""
        return f"{moment:%a %b} {moment.day}{year}"

    if first is not None and last is not None:
        if first.time() == time() and last.time() == time():
            final = last - timedelta(days=1)
            if final.date() == first.date():
                return day(first)
            return f"{day(first)} - {day(final)}"
        if first.date() == last.date():
            return f"{day(first)} {first:%H:%M}-{last:%H:%M}"
        return f"{day(first)} {first:%H:%M} - {day(last)} {last:%H:%M}"
    if first is not None:
        return f"{day(first)} from {first:%H:%M}"
    assert last is not None
    return f"{day(last)} before {last:%H:%M}"
