"""What one delivery of a call report does (`calls.decision.decide`): pure, no servers.

The same rules run against the database in tests/calls/test_suppression.py; here every branch
and the order of the rules are pinned down on plain values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared_code.calls.classification import Classification
from shared_code.calls.decision import (
    CallAsFound,
    SuppressionFacts,
    Write,
    decide,
    initial_text_back_status,
)

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=9)
NEW_MISS = CallAsFound("pending", decided=False)
CLEAR = SuppressionFacts()


def test_a_missed_call_starts_pending_and_an_answered_one_is_never_texted():
    assert initial_text_back_status(Classification(True, "no-answer")) == "pending"
    assert initial_text_back_status(Classification(False, "answered")) == "not_missed"


def test_a_new_miss_with_nothing_against_it_is_texted_and_alerted():
    decision = decide(NEW_MISS, CLEAR, NOW)
    assert decision.status == "pending" and decision.write is Write.DECISION
    assert decision.send_text_back and decision.alert_owner
    assert decision.hold_until is None


@pytest.mark.parametrize(
    ("block", "owner_alerted"),
    [
        ("invalid_number", True),  # anonymous callers: the owner still hears
        ("own_number", False),
        ("blocked", False),
        ("opted_out", True),
        ("landline", True),
    ],
)
def test_a_blocked_caller_is_suppressed_and_only_own_or_blocked_numbers_skip_the_alert(
    block, owner_alerted
):
    decision = decide(NEW_MISS, SuppressionFacts(block=block), NOW)
    assert decision.status == f"suppressed_{block}"
    assert decision.write is Write.DECISION
    assert not decision.send_text_back
    assert decision.alert_owner is owner_alerted


@pytest.mark.parametrize(
    ("facts", "status"),
    [
        (SuppressionFacts(open_conversation=True), "suppressed_open_conversation"),
        (SuppressionFacts(cooldown_over=False), "suppressed_cooldown"),
        (SuppressionFacts(quiet_until=LATER), "held"),
        # The first rule that forbids wins: block, open conversation, cooldown, quiet hours.
        (
            SuppressionFacts(
                block="opted_out", open_conversation=True, cooldown_over=False, quiet_until=LATER
            ),
            "suppressed_opted_out",
        ),
        (
            SuppressionFacts(open_conversation=True, cooldown_over=False, quiet_until=LATER),
            "suppressed_open_conversation",
        ),
        (SuppressionFacts(cooldown_over=False, quiet_until=LATER), "suppressed_cooldown"),
    ],
)
def test_the_first_rule_against_texting_decides(facts, status):
    decision = decide(NEW_MISS, facts, NOW)
    assert decision.status == status
    assert not decision.send_text_back and decision.alert_owner


def test_quiet_hours_hold_the_text_until_they_end_and_the_owner_hears_now():
    decision = decide(NEW_MISS, SuppressionFacts(quiet_until=LATER), NOW)
    assert decision.status == "held" and decision.hold_until == LATER
    assert decision.write is Write.DECISION and decision.alert_owner


def test_a_held_call_delivered_early_stays_held_and_writes_nothing():
    held = CallAsFound("held", decided=True, hold_until=LATER)
    assert not held.awaits_text_back(NOW)
    decision = decide(held, None, NOW)  # no facts needed: the row decides
    assert decision.status == "held" and decision.write is Write.NOTHING
    assert decision.hold_until == LATER  # the report comes back then
    assert not decision.send_text_back and not decision.alert_owner


def test_a_held_call_past_its_hold_is_decided_again_without_a_second_alert():
    held = CallAsFound("held", decided=True, hold_until=NOW - timedelta(seconds=1))
    assert held.awaits_text_back(NOW)
    decision = decide(held, CLEAR, NOW)
    assert decision.status == "pending" and decision.send_text_back
    assert not decision.alert_owner
    opted_out = decide(held, SuppressionFacts(block="opted_out"), NOW)
    assert opted_out.status == "suppressed_opted_out" and not opted_out.alert_owner


@pytest.mark.parametrize("status", ["sent", "suppressed_cooldown", "not_missed"])
def test_a_decided_call_is_a_duplicate_and_only_stamps_decided(status):
    decision = decide(CallAsFound(status, decided=True), None, NOW)
    assert decision.status == "duplicate" and decision.write is Write.MARK_DECIDED
    assert not decision.send_text_back and not decision.alert_owner


def test_an_answered_call_on_its_first_delivery_reports_not_missed():
    decision = decide(CallAsFound("not_missed", decided=False), None, NOW)
    assert decision.status == "not_missed" and decision.write is Write.MARK_DECIDED
    assert not decision.alert_owner


def test_a_call_awaiting_its_text_back_needs_the_facts():
    with pytest.raises(ValueError, match="suppression facts"):
        decide(NEW_MISS, None, NOW)


def test_the_call_row_is_read_as_found():
    row = {"text_back_status": "held", "decided_at": NOW, "hold_until": LATER, "other": 1}
    assert CallAsFound.from_row(row) == CallAsFound("held", decided=True, hold_until=LATER)
