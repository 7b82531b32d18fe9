"""Pure rules, no stack: business hours, quiet hours, templates, SMS segments, phone numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared_code.businesses import hours, templates
from shared_code.platform.phones import InvalidPhoneNumber, to_e164, try_e164
from shared_code.platform.sms_segments import _GSM7_BASIC, _GSM7_EXTENDED, count_segments

LA = ZoneInfo("America/Los_Angeles")
CHICAGO = "America/Chicago"


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


# --- business hours -------------------------------------------------------------------------

# 2026-01-02 is a Friday, 2026-01-03 a Saturday.
LATE_NIGHT = {"fri": [["22:00", "24:00"]], "sat": [["00:00", "02:00"]]}


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ((2026, 1, 2, 21, 59), False),
        ((2026, 1, 2, 22, 0), True),
        ((2026, 1, 2, 23, 30), True),
        ((2026, 1, 3, 0, 0), True),
        ((2026, 1, 3, 1, 59), True),
        ((2026, 1, 3, 2, 0), False),
        ((2026, 1, 3, 12, 0), False),
    ],
)
def test_is_open_across_midnight(when, expected):
    assert hours.is_open(LATE_NIGHT, CHICAGO, local(CHICAGO, *when)) is expected


def test_is_open_reads_the_clock_in_the_business_zone():
    schedule = {"fri": [["09:00", "17:00"]]}
    # 16:30 UTC on a Friday is 10:30 in Chicago (open) and 08:30 in Los Angeles (closed).
    at = datetime(2026, 1, 2, 16, 30, tzinfo=UTC)
    assert hours.is_open(schedule, CHICAGO, at) is True
    assert hours.is_open(schedule, "America/Los_Angeles", at) is False


def test_empty_schedule_is_always_open():
    for hour in (0, 3, 12, 23):
        assert hours.is_open({}, CHICAGO, local(CHICAGO, 2026, 1, 4, hour, 0)) is True


def test_a_day_missing_from_the_schedule_is_closed():
    schedule = {"mon": [["00:00", "24:00"]]}
    assert hours.is_open(schedule, CHICAGO, local(CHICAGO, 2026, 1, 5, 12, 0)) is True  # Monday
    assert hours.is_open(schedule, CHICAGO, local(CHICAGO, 2026, 1, 6, 12, 0)) is False  # Tuesday


def test_several_ranges_in_one_day():
    schedule = {"fri": [["08:00", "12:00"], ["13:00", "17:00"]]}
    assert hours.is_open(schedule, CHICAGO, local(CHICAGO, 2026, 1, 2, 11, 59))
    assert not hours.is_open(schedule, CHICAGO, local(CHICAGO, 2026, 1, 2, 12, 30))
    assert hours.is_open(schedule, CHICAGO, local(CHICAGO, 2026, 1, 2, 13, 0))


@pytest.mark.parametrize(
    "bad",
    [
        {"funday": [["09:00", "17:00"]]},
        {"mon": [["17:00", "09:00"]]},
        {"mon": [["09:00", "09:00"]]},
        {"mon": [["09:00"]]},
        {"mon": [["9am", "5pm"]]},
        {"mon": [["25:00", "26:00"]]},
    ],
)
def test_check_weekly_hours_rejects_bad_schedules(bad):
    with pytest.raises(ValueError):
        hours.check_weekly_hours(bad)


def test_check_weekly_hours_accepts_a_full_day():
    hours.check_weekly_hours({"mon": [["00:00", "24:00"]], "tue": []})


# --- quiet hours ----------------------------------------------------------------------------

NINE_PM, EIGHT_AM = time(21, 0), time(8, 0)


def test_quiet_until_late_evening_ends_next_morning():
    until = hours.quiet_until(CHICAGO, local(CHICAGO, 2026, 1, 5, 23, 0), NINE_PM, EIGHT_AM)
    assert until == local(CHICAGO, 2026, 1, 6, 8, 0)
    assert until is not None and until.utcoffset() == UTC.utcoffset(None)


def test_quiet_until_early_morning_ends_same_morning():
    until = hours.quiet_until(CHICAGO, local(CHICAGO, 2026, 1, 6, 7, 59), NINE_PM, EIGHT_AM)
    assert until == local(CHICAGO, 2026, 1, 6, 8, 0)


@pytest.mark.parametrize("hour_minute", [(8, 0), (12, 0), (20, 59)])
def test_not_quiet_during_the_day(hour_minute):
    at = local(CHICAGO, 2026, 1, 6, *hour_minute)
    assert hours.quiet_until(CHICAGO, at, NINE_PM, EIGHT_AM) is None


def test_quiet_window_within_one_day():
    start, end = time(12, 0), time(13, 0)
    assert hours.quiet_until(CHICAGO, local(CHICAGO, 2026, 1, 6, 11, 59), start, end) is None
    assert hours.quiet_until(CHICAGO, local(CHICAGO, 2026, 1, 6, 12, 30), start, end) == local(
        CHICAGO, 2026, 1, 6, 13, 0
    )
    assert hours.quiet_until(CHICAGO, local(CHICAGO, 2026, 1, 6, 13, 0), start, end) is None


def test_equal_start_and_end_means_no_quiet_hours():
    at = local(CHICAGO, 2026, 1, 6, 3, 0)
    assert hours.quiet_until(CHICAGO, at, time(0, 0), time(0, 0)) is None


def test_quiet_until_on_dst_spring_forward_day():
    # 2026-03-08 01:30 PST (UTC-8); clocks jump 02:00 -> 03:00; 08:00 that day is PDT (UTC-7).
    at = datetime(2026, 3, 8, 1, 30, tzinfo=LA)
    assert at.utcoffset().total_seconds() == -8 * 3600  # type: ignore[union-attr]
    until = hours.quiet_until("America/Los_Angeles", at, NINE_PM, EIGHT_AM)
    assert until == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)
    assert until is not None and until.astimezone(LA).hour == 8


def test_quiet_end_inside_the_dst_gap_resolves_forward():
    # 02:30 does not exist on 2026-03-08 in Los Angeles: the hold ends after `at`, at 03:30 PDT.
    at = datetime(2026, 3, 8, 1, 30, tzinfo=LA)
    until = hours.quiet_until("America/Los_Angeles", at, NINE_PM, time(2, 30))
    assert until == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)
    assert until > at


# --- templates ------------------------------------------------------------------------------


def test_check_template_accepts_known_fields():
    templates.check_template("text_back", "Hi from {business_name}, {owner_name} here. STOP")
    for name, text in templates.DEFAULTS.items():
        templates.check_template(name, text)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("text_back", "Hi {customer_name}"),  # not a merge field at all
        ("missed_call_greeting", "Hi {caller}"),  # a field of another template
        ("text_back", "Hi {business_name"),  # unbalanced brace
        ("text_back", "Hi {}"),
        ("text_back", "Hi {0}"),
        ("text_back", "Hi {business_name.upper}"),
        ("text_back", "Hi {business_name[0]}"),
        ("no_such_template", "Hi"),
        ("text_back", "   "),
        ("text_back", "x" * 641),
        # Would pass a field-name check but blow up (or balloon) when rendered:
        ("text_back", "Hi {business_name:{caller}}"),
        ("text_back", "Hi {business_name:{nope}}"),
        ("text_back", "Hi {business_name:d}"),
        ("text_back", "Hi {business_name:>999999999}"),
        ("text_back", "Hi {business_name!z}"),
    ],
)
def test_check_template_rejects(name, text):
    with pytest.raises(templates.TemplateError):
        templates.check_template(name, text)


def test_render_uses_override_then_default_and_blanks_missing_fields():
    assert templates.render(
        "text_back", {"text_back": "Hey, {business_name}!"}, business_name="A"
    ) == ("Hey, A!")
    default = templates.render("missed_call_greeting", {}, business_name="Acme")
    assert default == "Sorry, Acme can't take your call right now. We'll text you in a moment."
    # An empty override falls back to the default; an unset field renders as empty text.
    assert templates.render("text_back", {"text_back": ""}, business_name="Acme").startswith(
        "Hi, this is Acme."
    )
    assert templates.render("text_back", {"text_back": "{owner_name} here"}) == "here"


def test_first_message_adds_business_name_and_stop_hint():
    assert templates.first_message("Thanks for calling!", "Acme Plumbing") == (
        "Acme Plumbing: Thanks for calling! Reply STOP to opt out."
    )


def test_first_message_does_not_double_them():
    text = "Hi, this is acme plumbing. Reply STOP to opt out."
    assert templates.first_message(text, "Acme Plumbing") == text
    assert templates.first_message("Acme Plumbing here", "Acme Plumbing") == (
        "Acme Plumbing here Reply STOP to opt out."
    )
    assert templates.first_message("Hi! Text STOP to end.", "Acme") == "Acme: Hi! Text STOP to end."


def test_a_bare_stop_in_the_text_is_not_an_opt_out_hint():
    """An owner's text-back template saying "before it won't stop leaking" still needs the
    opt-out hint: only "reply/text STOP" counts."""
    text = templates.first_message("Acme: we fix pipes that won't stop leaking.", "Acme")
    assert text.endswith("Reply STOP to opt out.")


def test_rendered_default_text_back_is_already_a_valid_first_message():
    text = templates.render("text_back", {}, business_name="Acme")
    assert templates.first_message(text, "Acme") == text


# --- SMS segments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"), [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3)]
)
def test_gsm7_segments(length, segments):
    result = count_segments("a" * length)
    assert (result.encoding, result.units, result.segments) == ("GSM-7", length, segments)


def test_gsm7_extension_chars_count_double():
    assert count_segments("€" * 80) == count_segments("a" * 160)
    result = count_segments("€" * 80 + "a")
    assert (result.encoding, result.units, result.segments) == ("GSM-7", 161, 2)
    assert count_segments("{}[]~|^\\").units == 16


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3)])
def test_ucs2_segments(length, segments):
    # A smart quote is outside GSM-7 and one UTF-16 unit: the whole message becomes UCS-2.
    result = count_segments("\u2019" + "a" * (length - 1))
    assert (result.encoding, result.units, result.segments) == ("UCS-2", length, segments)


def test_one_emoji_makes_it_ucs2_and_counts_two_units():
    assert count_segments("a" * 159 + "x").segments == 1
    one = count_segments("\U0001f600" + "a" * 68)
    assert (one.encoding, one.units, one.segments) == ("UCS-2", 70, 1)
    two = count_segments("\U0001f600" + "a" * 69)
    assert (two.encoding, two.units, two.segments) == ("UCS-2", 71, 2)


GSM_CHARS = sorted(_GSM7_BASIC | _GSM7_EXTENDED)
GSM_BASIC = sorted(_GSM7_BASIC)


@given(st.text(alphabet=GSM_BASIC, max_size=1000))
def test_basic_gsm_text_segments_exactly(text):
    result = count_segments(text)
    assert result.encoding == "GSM-7" and result.units == len(text)
    assert result.segments == (1 if len(text) <= 160 else math.ceil(len(text) / 153))


@given(st.text(alphabet=GSM_CHARS, max_size=1000))
def test_gsm_text_never_below_ceil_len_over_153(text):
    result = count_segments(text)
    assert result.encoding == "GSM-7"
    assert len(text) <= result.units <= 2 * len(text)
    assert result.segments >= max(1, math.ceil(len(text) / 153))


@given(
    st.text(alphabet=GSM_CHARS, max_size=300),
    st.characters(exclude_characters=GSM_CHARS, exclude_categories=("Cs",)),
    st.text(alphabet=GSM_CHARS, max_size=300),
)
def test_any_non_gsm_char_switches_to_ucs2(before, odd, after):
    text = before + odd + after
    result = count_segments(text)
    assert result.encoding == "UCS-2"
    units = len(text.encode("utf-16-le")) // 2
    assert result.units == units
    assert result.segments == (1 if units <= 70 else math.ceil(units / 67))


# --- phone numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(312) 555-0123", "+13125550123"),
        ("312-555-0123", "+13125550123"),
        ("312.555.0123", "+13125550123"),
        ("1 312 555 0123", "+13125550123"),
        ("+1 (312) 555-0123", "+13125550123"),
        ("  +13125550123  ", "+13125550123"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_to_e164_formats(raw, expected):
    assert to_e164(raw) == expected
    assert to_e164(expected) == expected


@pytest.mark.parametrize("raw", ["", "123", "abc", "555-0123", "+1 555 555 5555", "+999 1234"])
def test_to_e164_rejects_invalid(raw):
    with pytest.raises(InvalidPhoneNumber):
        to_e164(raw)
    assert try_e164(raw) is None


def test_try_e164_handles_missing_and_anonymous():
    assert try_e164(None) is None
    assert try_e164("anonymous") is None
    assert try_e164("(312) 555-0123") == "+13125550123"
