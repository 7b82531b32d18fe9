"""Every row of the missed-call classification table (pure, no stack).

The rows are the `<Dial action>` parameter sets Twilio really sends (DialCallStatus,
DialCallDuration, DialBridged; never AnsweredBy), with what the leg's human check recorded:
the acceptance (press 1) and the AMD verdict, which Twilio posts to their own webhooks.
"""

from __future__ import annotations

import pytest

from shared_code.calls.classification import classify

MIN = 8


def verdict(status, duration=None, *, check=None, accepted=None, answered_by=None):
    result = classify(
        status, duration, answer_check=check, accepted=accepted, answered_by=answered_by,
        min_answered_seconds=MIN,
    )  # fmt: skip
    return result.missed, result.reason


@pytest.mark.parametrize("check", ["press_key", "amd", "none", None])
@pytest.mark.parametrize(
    ("status", "reason"),
    [("no-answer", "no-answer"), ("busy", "busy"), ("failed", "failed"),
     ("canceled", "canceled"), ("NO-ANSWER", "no-answer")],
)  # fmt: skip
def test_a_leg_nobody_picked_up_is_missed_with_its_status_whatever_the_check(check, status, reason):
    assert verdict(status, 0, check=check) == (True, reason)


@pytest.mark.parametrize(
    ("duration", "accepted", "expected"),
    [
        (45, True, (False, "answered")),  # pressed 1: a person took it
        (2, True, (False, "answered")),  # a short call with a person is still answered
        (45, False, (True, "not_accepted")),  # carrier voicemail: completed, nobody pressed
        (25, None, (True, "not_accepted")),  # Decline: to voicemail, nothing recorded
        (0, False, (True, "not_accepted")),
    ],
)
def test_press_key_a_completed_leg_is_answered_only_when_a_person_accepted(
    duration, accepted, expected
):
    assert verdict("completed", duration, check="press_key", accepted=accepted) == expected


@pytest.mark.parametrize(
    ("answered_by", "expected"),
    [
        ("machine_start", (True, "machine")),
        ("machine_end_beep", (True, "machine")),
        ("machine_end_silence", (True, "machine")),
        ("machine_end_other", (True, "machine")),
        ("fax", (True, "machine")),
        ("MACHINE_END_BEEP", (True, "machine")),
        ("human", (False, "answered")),
        ("unknown", (False, "answered")),
        (None, (False, "answered")),  # no verdict yet: a later machine verdict revises it
    ],
)
def test_amd_a_machine_or_fax_is_missed_anything_else_answered(answered_by, expected):
    assert verdict("completed", 40, check="amd", answered_by=answered_by) == expected


@pytest.mark.parametrize("check", ["none", None])
@pytest.mark.parametrize(
    ("status", "duration", "expected"),
    [
        ("completed", 45, (False, "answered")),
        ("answered", 45, (False, "answered")),
        ("completed", MIN, (False, "answered")),
        ("completed", MIN - 1, (True, "too-short")),
        ("completed", None, (False, "answered")),
    ],
)
def test_without_a_check_only_a_too_short_answer_is_told_from_a_real_one(
    check, status, duration, expected
):
    assert verdict(status, duration, check=check) == expected


def test_without_a_check_nothing_else_is_read():
    """AnsweredBy never comes with the `<Dial action>`; an acceptance means nothing here."""
    assert verdict("completed", 40, check="none", answered_by="machine_start") == (
        False,
        "answered",
    )
    assert verdict("completed", 40, check=None, accepted=False) == (False, "answered")


@pytest.mark.parametrize("check", ["press_key", "amd", "none", None])
@pytest.mark.parametrize("reason", ["after-hours", "no-owner"])
def test_a_call_missed_before_dialling_keeps_its_reason(check, reason):
    assert verdict(reason, check=check) == (True, reason)


@pytest.mark.parametrize(
    ("status", "reason"),
    [("ringing", "unknown-status:ringing"), ("in-progress", "unknown-status:in-progress"),
     (None, "unknown-status:none")],
)  # fmt: skip
def test_a_status_that_is_not_an_outcome_is_not_a_miss(status, reason):
    assert verdict(status, check="press_key", accepted=False) == (False, reason)
