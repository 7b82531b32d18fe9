"""Business hours and quiet hours, always in the business's own IANA time zone.

Weekly hours are `{"mon": [["09:00", "17:00"]], ...}`: a day missing from a non-empty schedule
is closed; an empty schedule means always open. Quiet hours may wrap midnight (21:00-08:00).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_clock(value: str) -> time:
    """'HH:MM' (24:00 allowed as an end of day) to a time; raises ValueError otherwise."""
    if value == "24:00":
        return time.max
    hours, sep, minutes = value.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2:
        raise ValueError(f"{value!r} is not HH:MM")
    return time(int(hours), int(minutes))


def check_weekly_hours(hours: dict[str, list[list[str]]]) -> None:
    for day, ranges in hours.items():
        if day not in DAYS:
            raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
        for pair in ranges:
            if len(pair) != 2:
                raise ValueError(f"{day}: each range is [open, close]")
            start, end = parse_clock(pair[0]), parse_clock(pair[1])
            if start >= end:
                raise ValueError(f"{day}: {pair[0]}-{pair[1]} opens after it closes")


def is_open(hours: dict[str, list[list[str]]], time_zone: str, at: datetime) -> bool:
    if not hours:
        return True
    local = at.astimezone(ZoneInfo(time_zone))
    now = local.time()
    return any(
        parse_clock(start) <= now < parse_clock(end)
        for start, end in hours.get(DAYS[local.weekday()], [])
    )


def quiet_until(time_zone: str, at: datetime, start: time, end: time) -> datetime | None:
    """When quiet hours covering `at` end (as an aware UTC datetime), or None if not quiet."""
    if start == end:
        return None
    zone = ZoneInfo(time_zone)
    local = at.astimezone(zone)
    now = local.time()
    quiet = (start <= now or now < end) if start > end else (start <= now < end)
    if not quiet:
        return None
    day = local.date() if now < end else local.date() + timedelta(days=1)
    # Wall-clock end in the zone; a DST gap at that minute resolves forward via fold=0.
    return datetime.combine(day, end, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def describe_hours(hours: dict[str, list[list[str]]]) -> str:
    """Weekly hours in words for people and prompts: "mon 09:00-17:00; tue ...", or "any time"."""
    if not hours:
        return "any time"
    parts = []
    for day in DAYS:
        ranges = hours.get(day)
        if ranges:
            parts.append(f"{day} " + ", ".join(f"{a}-{b}" for a, b in ranges))
        else:
            parts.append(f"{day} closed")
    return "; ".join(parts)
