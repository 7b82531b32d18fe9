"""The responder's decisions, without any server: compliance keywords, owner relay, escalation,
and when a reply task still has work. Each case is a rule a wrong branch would break."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared_code.assistant.keywords import Intent, KeywordMatch, classify
from shared_code.messaging.inbound_decisions import (
    Notice,
    Route,
    decide_inbound,
    decide_route,
    reply_gate,
)

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def match(intent: Intent, exact: bool = False) -> KeywordMatch:
    return KeywordMatch(intent, exact_keyword=exact)


@pytest.mark.parametrize(
    ("intent", "exact", "opted_out", "store", "notice", "outcome"),
    [
        # exact keywords: Twilio confirms them itself, we only record
        (Intent.OPT_OUT, True, False, True, None, "opted_out_now"),
        (Intent.OPT_IN, True, True, True, None, "opted_in"),
        # natural-language forms are ours to confirm
        (Intent.OPT_OUT, False, False, True, Notice.OPT_OUT, "opted_out_now"),
        (Intent.OPT_IN, False, True, True, Notice.OPT_IN, "opted_in"),
        # STOP again from an opted-out number: recorded, not confirmed twice, not stored
        (Intent.OPT_OUT, False, True, False, None, "opted_out_now"),
        # exact HELP/INFO: Twilio answers it; we store it for the owner and answer nothing
        (Intent.HELP, True, False, True, None, "help"),
        # an opted-out number's ordinary text or HELP: recorded, never answered
        (Intent.NONE, False, True, False, None, "opted_out"),
        (Intent.HELP, True, True, False, None, "opted_out"),
        # an ordinary text from a subscribed number goes on to routing
        (Intent.NONE, False, False, True, None, ""),
    ],
)
def test_compliance_keywords_decide_storage_confirmation_and_outcome(
    intent: Intent, exact: bool, opted_out: bool, store: bool, notice: Notice | None, outcome: str
) -> None:
    plan = decide_inbound(match(intent, exact), opted_out)
    assert (plan.store, plan.notice, plan.outcome) == (store, notice, outcome)


def test_yes_from_a_subscribed_number_is_an_ordinary_text_not_an_opt_in() -> None:
    plan = decide_inbound(match(Intent.OPT_IN, exact=True), opted_out=False)
    assert plan.intent is Intent.NONE and plan.notice is None and plan.outcome == ""


# --- Twilio's verdict (Advanced Opt-Out's OptOutType) and HELP as Twilio handles it ---------


@pytest.mark.parametrize(
    ("body", "opt_out_type", "opted_out", "intent", "store", "outcome"),
    [
        # a keyword Twilio was configured with that we don't know ("ARRET"): Twilio said STOP
        ("ARRET", "STOP", False, Intent.OPT_OUT, True, "opted_out_now"),
        ("Alto", "stop", False, Intent.OPT_OUT, True, "opted_out_now"),
        # START from a number that never opted out: Twilio already confirmed it, so it is not an
        # ordinary "yes" for the assistant to answer a second time
        ("yes", "START", False, Intent.OPT_IN, True, "opted_in"),
        ("COMMENCER", "START", True, Intent.OPT_IN, True, "opted_in"),
        ("AIDE", "HELP", False, Intent.HELP, True, "help"),
        # an opted-out number's HELP is recorded and never answered (Twilio doesn't either)
        ("HELP", "HELP", True, Intent.HELP, False, "opted_out"),
    ],
)
def test_twilio_verdict_is_acted_on_and_never_answered_again(
    body: str, opt_out_type: str, opted_out: bool, intent: Intent, store: bool, outcome: str
) -> None:
    plan = decide_inbound(classify(body, opt_out_type), opted_out)
    assert (plan.intent, plan.store, plan.notice, plan.outcome) == (intent, store, None, outcome)


def test_the_verdict_wins_over_our_reading_of_the_body() -> None:
    """Twilio decides what the whole body was: a body we'd read as natural-language (and so
    confirm ourselves) is Twilio's to answer when it says so."""
    assert decide_inbound(classify("stop texting me"), False).notice is Notice.OPT_OUT
    assert decide_inbound(classify("stop texting me", "STOP"), False).notice is None


@pytest.mark.parametrize("opt_out_type", [None, "", "  ", "UNKNOWN", "STOPALL"])
def test_without_a_known_verdict_the_body_decides(opt_out_type: str | None) -> None:
    assert classify("Can you come today?", opt_out_type) == KeywordMatch(Intent.NONE, False)
    assert classify("STOP", opt_out_type) == KeywordMatch(Intent.OPT_OUT, exact_keyword=True)


@pytest.mark.parametrize("body", ["HELP", "help", "Info", "  INFO\n", "hElP"])
def test_exact_help_or_info_is_recorded_not_answered(body: str) -> None:
    plan = decide_inbound(classify(body), opted_out=False)
    assert (plan.intent, plan.store, plan.notice, plan.outcome) == (Intent.HELP, True, None, "help")


@pytest.mark.parametrize("body", ["help?", "HELP!", "help me", "Help. My sink is leaking", "info?"])
def test_help_that_twilio_does_not_answer_goes_to_the_assistant(body: str) -> None:
    """Twilio answers only the bare word: anything else is an ordinary text we must answer."""
    plan = decide_inbound(classify(body), opted_out=False)
    assert (plan.intent, plan.notice, plan.outcome) == (Intent.NONE, None, "")


def conversation(**fields: Any) -> dict[str, Any]:
    row = {
        "mode": "assistant", "owner_active_at": None, "escalated_at": None, "status": "open",
        "auto_paused_reason": None,
    }  # fmt: skip
    return {**row, **fields}


def test_text_to_an_active_owner_is_relayed_even_with_an_emergency_word() -> None:
    owner = conversation(mode="owner", owner_active_at=NOW - timedelta(minutes=1))
    assert decide_route(owner, "flood", NOW).route is Route.RELAY_TO_OWNER


def test_idle_owner_hands_back_to_the_assistant() -> None:
    idle = conversation(mode="owner", owner_active_at=NOW - timedelta(days=1))
    plan = decide_route(idle, None, NOW)
    assert plan.route is Route.REPLY and plan.resume_assistant and plan.escalate is None


def test_emergency_escalates_once() -> None:
    assert decide_route(conversation(), "gas leak", NOW).escalate == "emergency: gas leak"
    assert decide_route(conversation(escalated_at=NOW), "gas leak", NOW).escalate is None
    assert decide_route(conversation(), None, NOW).escalate is None


@pytest.mark.parametrize(
    ("fields", "pending", "after_id", "expected"),
    [
        ({"status": "closed"}, [5], 5, "paused"),
        ({"auto_paused_reason": "loop_guard"}, [5], 5, "paused"),
        ({"mode": "owner", "owner_active_at": NOW}, [5], 5, "owner_active"),
        ({}, [], 5, "nothing_new"),
        ({}, [4, 6], 5, "superseded"),  # a newer text's task answers the burst
        ({}, [3, 5], 5, None),  # the newest text's task answers
    ],
)
def test_reply_gate(
    fields: dict[str, Any], pending: list[int], after_id: int, expected: str | None
) -> None:
    assert reply_gate(conversation(**fields), pending, after_id, NOW) == expected
