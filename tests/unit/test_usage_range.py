"""The usage report's default days: the business's today, wherever the server is."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared_code.credits.usage_report import DEFAULT_DAYS, report_range

# 12:00 UTC on 10 March: already 11 March in Kiritimati (UTC+14), still 10 March in Chicago
# and Pago Pago (UTC-11, 01:00 on the 10th).
NOON_UTC = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "today"),
    [
        ("Pacific/Kiritimati", date(2026, 3, 11)),
        ("Asia/Tokyo", date(2026, 3, 10)),
        ("America/Chicago", date(2026, 3, 10)),
        ("Pacific/Pago_Pago", date(2026, 3, 10)),
    ],
)
def test_default_end_is_today_in_the_business_zone(zone: str, today: date) -> None:
    start, end = report_range(zone, NOON_UTC)
    assert end == today
    assert (end - start).days == DEFAULT_DAYS


def test_west_of_utc_is_still_yesterday_when_utc_has_moved_on() -> None:
    just_after_midnight_utc = datetime(2026, 3, 11, 0, 30, tzinfo=UTC)
    assert report_range("America/Chicago", just_after_midnight_utc)[1] == date(2026, 3, 10)


def test_a_given_end_is_kept_and_the_start_counts_back_from_it() -> None:
    start, end = report_range("Pacific/Kiritimati", NOON_UTC, end=date(2026, 1, 31))
    assert (start, end) == (date(2026, 1, 1), date(2026, 1, 31))
    given = report_range("Pacific/Kiritimati", NOON_UTC, date(2026, 3, 1), date(2026, 3, 2))
    assert given == (date(2026, 3, 1), date(2026, 3, 2))
