"""What a missed caller hears (`calls.greetings`): pure, no servers.

The greeting promises a text only when one will go; the same choices are exercised through the
voice webhooks in tests/calls/test_voicemail.py.
"""

from __future__ import annotations

import uuid

import pytest

from shared_code.businesses.store import Business
from shared_code.calls.greetings import (
    GreetingFacts,
    choose_greeting,
    greeting_text,
)

BUSINESS = Business(
    id=uuid.uuid4(), name="Acme Plumbing", phone_number="+15005550006",
    owner_phone="+14155550100", owner_name="Ann", time_zone="America/Chicago",
    weekly_hours={}, templates={}, ring_timeout_seconds=18,
)  # fmt: skip
PROMISE = "text you"


def test_a_caller_nothing_stops_hears_a_text_is_coming():
    assert choose_greeting(GreetingFacts()) == "text_soon"


@pytest.mark.parametrize(
    "block",
    ["opted_out", "landline", "undeliverable", "blocked", "own_number", "invalid_number"],
)
def test_a_caller_who_will_not_be_texted_is_promised_nothing(block):
    assert choose_greeting(GreetingFacts(block=block)) == "no_text"
    assert choose_greeting(GreetingFacts(block=block, quiet_hours=True)) == "no_text"


@pytest.mark.parametrize(
    "facts",
    [GreetingFacts(open_conversation=True), GreetingFacts(sending_paused=True)],
    ids=["open-conversation", "sending-paused"],
)
def test_no_promise_when_the_text_back_rules_hold_the_text(facts):
    assert choose_greeting(facts) == "no_text"


def test_facts_not_read_in_time_promise_nothing():
    assert choose_greeting(None) == "no_text"


def test_quiet_hours_promise_the_morning():
    assert choose_greeting(GreetingFacts(quiet_hours=True)) == "text_morning"


def test_each_greeting_renders_its_template():
    soon = greeting_text(BUSINESS, "text_soon", after_hours=False)
    morning = greeting_text(BUSINESS, "text_morning", after_hours=False)
    nothing = greeting_text(BUSINESS, "no_text", after_hours=False)
    assert "Acme Plumbing" in soon and "in a moment" in soon
    assert "Acme Plumbing" in morning and "in the morning" in morning
    assert "Acme Plumbing" in nothing and PROMISE not in nothing


def test_after_hours_uses_its_own_template_with_the_note():
    soon = greeting_text(BUSINESS, "text_soon", after_hours=True)
    assert soon == (
        "Thanks for calling Acme Plumbing. We're closed right now. We'll text you in a moment."
    )
    morning = greeting_text(BUSINESS, "text_morning", after_hours=True)
    assert morning.endswith("We'll text you in the morning.")
    assert greeting_text(BUSINESS, "no_text", after_hours=True) == (
        "Thanks for calling Acme Plumbing. We're closed right now."
    )


def test_an_owner_template_is_used():
    business = Business(
        **{
            **BUSINESS.__dict__,
            "templates": {"after_hours_greeting": "{business_name} is shut. {text_note}"},
        }
    )
    assert greeting_text(business, "no_text", after_hours=True) == "Acme Plumbing is shut."


def test_with_no_business_known_the_greeting_names_none_and_promises_nothing():
    text = greeting_text(None, "no_text", after_hours=False)
    assert text == "Sorry, we can't take your call right now."


def test_a_caller_texted_within_the_cooldown_is_promised_nothing():
    assert choose_greeting(GreetingFacts(cooldown_over=False)) == "no_text"
    assert choose_greeting(GreetingFacts(cooldown_over=False, quiet_hours=True)) == "no_text"
    assert choose_greeting(GreetingFacts(cooldown_over=True, quiet_hours=True)) == "text_morning"
