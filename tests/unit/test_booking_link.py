"""The booking link: offered by the scripted intake when the customer asks to book (or with the
confirmation), whole or not at all, and named to the model as the one link it may send."""

from __future__ import annotations

from datetime import UTC, datetime

from shared_code.assistant.intake import MAX_REPLY_CHARS, next_turn
from shared_code.assistant.prompt import BusinessProfile, system_prompt

URL = "https://book.example.com/acme"
BIZ = "Acme Plumbing"
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def _turn(texts: list[str], lead: dict[str, str] | None = None, url: str = URL) -> str:
    return next_turn(
        lead or {}, texts, BIZ, time_zone="America/Chicago", now=NOW, booking_url=url
    ).reply


def test_a_customer_asking_to_book_gets_the_link() -> None:
    reply = _turn(["can I book an appointment to fix my leaking sink?"])
    assert f"Book a time: {URL}" in reply
    assert len(reply) <= MAX_REPLY_CHARS


def test_no_link_when_not_asked_and_the_lead_is_incomplete() -> None:
    assert URL not in _turn(["my sink is leaking"])


def test_no_link_when_the_business_has_none_or_it_was_already_sent() -> None:
    assert "Book a time" not in _turn(["can I book an appointment?"], url="")


def test_the_confirmation_carries_the_link() -> None:
    lead = {
        "need": "leaking sink",
        "name": "Dana",
        "address": "12 Oak St, Chicago, IL 60614",
        "preferred_time": "tomorrow morning",
    }
    reply = _turn(["not urgent, it can wait"], lead=lead)
    assert URL in reply


def test_a_link_that_would_not_fit_whole_is_left_out() -> None:
    long_url = "https://book.example.com/" + "x" * 280
    reply = _turn(["can I book an appointment?"], url=long_url)
    assert "Book a time" not in reply  # never a link cut in the middle


def test_the_model_is_told_the_booking_link_is_the_one_link_it_may_send() -> None:
    profile = BusinessProfile(
        name=BIZ, services="plumbing", service_area="", hours_text="", faq=[], owner_name="Sam",
        booking_url=URL,
    )  # fmt: skip
    prompt = system_prompt(profile, {})
    assert f"- Booking link: {URL}" in prompt
    assert "no links other than the booking link" in prompt
    plain = system_prompt(BusinessProfile(BIZ, "", "", "", [], "Sam"), {})
    assert "Booking link" not in plain and "no links." in plain


def test_the_link_is_offered_once_per_conversation() -> None:
    from types import SimpleNamespace

    from shared_code.assistant.composer import _booking_url_to_offer

    business = SimpleNamespace(booking_url=URL)
    asked = [{"role": "customer", "text": f"is {URL} yours?"}]
    assert _booking_url_to_offer(business, asked) == URL  # a customer quoting it is no offer
    sent = [*asked, {"role": "assistant", "text": f"Sure. Book a time: {URL}"}]
    assert _booking_url_to_offer(business, sent) == ""
    assert _booking_url_to_offer(SimpleNamespace(booking_url=None), asked) == ""
