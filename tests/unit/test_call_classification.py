"""Every row of the missed-call classification table (pure, no stack)."""

from __future__ import annotations

import pytest

from shared_code.calls.classification import classify

MIN = 8


@pytest.mark.parametrize(
    ("status", "duration", "answered_by", "missed", "reason"),
    [
        ("no-answer", 0, None, True, "no-answer"),
        ("busy", 0, None, True, "busy"),
        ("failed", None, None, True, "failed"),
        ("canceled", 0, None, True, "canceled"),
        ("NO-ANSWER", 0, None, True, "no-answer"),
        ("completed", 45, None, False, "answered"),
        ("answered", 45, "human", False, "answered"),
        ("completed", MIN, None, False, "answered"),
        ("completed", MIN - 1, None, True, "too-short"),
        ("completed", 2, "human", True, "too-short"),
        ("completed", 40, "machine_start", True, "answered-by-machine"),
        ("completed", 40, "machine_end_beep", True, "answered-by-machine"),
        ("completed", 40, "machine_end_silence", True, "answered-by-machine"),
        ("completed", 40, "machine_end_other", True, "answered-by-machine"),
        ("completed", 40, "fax", True, "answered-by-machine"),
        ("completed", 40, "unknown", False, "answered"),
        ("after-hours", None, None, True, "after-hours"),
        ("no-owner", None, None, True, "no-owner"),
        ("ringing", None, None, False, "unknown-status:ringing"),
        ("in-progress", None, None, False, "unknown-status:in-progress"),
        (None, None, None, False, "unknown-status:none"),
    ],
)
def test_classification_table(status, duration, answered_by, missed, reason):
    verdict = classify(status, duration, answered_by, MIN)
    assert (verdict.missed, verdict.reason) == (missed, reason)
