"""The pure rules of issue 15, without servers: the follow-up clock across DST, what a due step
does, the owner's outcome words, money parsing, webhook signing and retry timing, the SSRF
check and the funnel's bucketing."""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared_code.businesses.followup_schedule import DEFAULT_SCHEDULE, FollowupStep, steps_of
from shared_code.crm_webhooks import signing, targets
from shared_code.crm_webhooks.retry import RetryPolicy, next_attempt
from shared_code.messaging import funnel
from shared_code.messaging.followup_plan import (
    Action,
    StepFacts,
    after_refusal,
    decide_step,
    due_after,
    step_of_fact,
    tidy,
)
from shared_code.messaging.outcomes import (
    Marking,
    command_word,
    dollars_to_micro,
    kept,
    parse_command,
    unreadable,
)

CHICAGO = ZoneInfo("America/Chicago")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)  # type: ignore[misc]


def test_a_day_step_keeps_the_clock_time_across_spring_forward_and_fall_back():
    day = FollowupStep(after_days=1)
    # 2026-03-08: clocks go 02:00 -> 03:00 in Chicago; the next day is 23 hours later.
    before = local(2026, 3, 7, 10, 15)
    due = due_after(before, day, "America/Chicago")
    assert due.astimezone(CHICAGO) == local(2026, 3, 8, 10, 15)
    assert due - before == timedelta(hours=23)
    # 2026-11-01: clocks go 02:00 -> 01:00; the next day is 25 hours later.
    autumn = local(2026, 10, 31, 10, 15)
    due = due_after(autumn, day, "America/Chicago")
    assert due.astimezone(CHICAGO).hour == 10 and due - autumn == timedelta(hours=25)
    # Three days over the change: still 10:15 local.
    assert due_after(before, FollowupStep(after_days=3), "America/Chicago").astimezone(
        CHICAGO
    ) == local(2026, 3, 10, 10, 15)


def test_a_minute_step_is_elapsed_time_and_a_gap_time_resolves_forward():
    step = FollowupStep(after_minutes=30)
    anchor = local(2026, 3, 8, 1, 45)  # 30 minutes later is 03:15 CDT (02:15 does not exist)
    due = due_after(anchor, step, "America/Chicago")
    assert due - anchor == timedelta(minutes=30) and due.astimezone(CHICAGO).hour == 3
    # A day step landing in the gap (02:30 on the change day) goes forward to 03:30.
    gap = due_after(local(2026, 3, 7, 2, 30), FollowupStep(after_days=1), "America/Chicago")
    assert gap.astimezone(CHICAGO).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 30)


def test_the_default_schedule_and_its_validation():
    assert [s.model_dump(exclude_none=True) for s in steps_of(None)] == list(DEFAULT_SCHEDULE)
    assert steps_of([]) == []
    with pytest.raises(ValueError):
        FollowupStep(after_minutes=30, after_days=1)
    with pytest.raises(ValueError):
        FollowupStep()
    with pytest.raises(ValueError):
        FollowupStep(after_minutes=1)


def facts(**changes) -> StepFacts:
    base = dict(
        step=1, steps_in_schedule=3, holds=0, conversation_status="open",
        conversation_mode="assistant", paused_reason=None, outcome=None, customer_replied=False,
        block_reason=None, quiet_until=None,
    )  # fmt: skip
    return StepFacts(**{**base, **changes})  # type: ignore[arg-type]


NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"customer_replied": True}, "replied"),
        ({"block_reason": "opted_out"}, "opted_out"),
        ({"block_reason": "blocked"}, "blocked"),
        ({"conversation_status": "closed"}, "closed"),
        ({"conversation_mode": "owner"}, "owner_mode"),
        ({"paused_reason": "auto_responder"}, "paused"),
        ({"outcome": "booked"}, "outcome_booked"),
        ({"step": 3, "steps_in_schedule": 2}, "not_in_schedule"),
        # a reply wins over quiet hours: never held, cancelled
        ({"customer_replied": True, "quiet_until": NOW + timedelta(hours=3)}, "replied"),
    ],
)
def test_a_due_step_is_cancelled_for_each_rule(changes, reason):
    decision = decide_step(facts(**changes), NOW)
    assert decision.action is Action.CANCEL and decision.reason == reason


def test_quiet_hours_hold_a_step_until_they_end_and_a_clear_step_sends():
    morning = NOW + timedelta(hours=9)
    held = decide_step(facts(quiet_until=morning), NOW)
    assert held.action is Action.HOLD and held.until == morning
    assert decide_step(facts(), NOW).action is Action.SEND


def test_a_last_moment_refusal_holds_transient_reasons_and_cancels_the_rest():
    assert after_refusal("loop_guard", 0, NOW).action is Action.HOLD
    assert after_refusal("sending_paused", 3, NOW).until == NOW + timedelta(hours=1)
    assert after_refusal("loop_guard", 48, NOW).reason == "gave_up"
    assert after_refusal("landline", 0, NOW).action is Action.CANCEL


def test_the_step_a_sent_text_was_and_tidy_text():
    assert step_of_fact("text_back:CA1", "text_back") == 0
    assert step_of_fact("followup:abc:2", "followup") == 2
    assert step_of_fact("reply:abc:9", "reply") is None
    assert tidy("Hi there.  Reply STOP. ") == "Hi there. Reply STOP."


@pytest.mark.parametrize(
    ("words", "marking"),
    [
        ("booked", Marking("booked")),
        ("Booked.", Marking("booked")),
        ("won", Marking("won")),
        ("won 450", Marking("won", value_micro=450_000_000)),
        ("WON $1,250.50", Marking("won", value_micro=1_250_500_000)),
        ("won 99.5", Marking("won", value_micro=99_500_000)),
        ("lost", Marking("lost")),
        ("lost: went with another plumber", Marking("lost", reason="went with another plumber")),
        ("spam", Marking("spam")),
        ("booked for Tuesday at 3", None),  # a message for the customer
        ("lost your address, can you resend?", None),
        ("won the lottery", None),
        ("On my way", None),
        ("won 450 dollars", Marking("won", value_micro=450_000_000)),
        ("won $450 USD", Marking("won", value_micro=450_000_000)),
        ("won 450k", None),  # not guessed: the owner is asked again (`command_word`)
        ("won $450 water heater", None),
        ("won 1.200", None),
        ("won 4,50", None),
    ],
)
def test_owner_outcome_words(words, marking):
    assert parse_command(words) == marking


def test_words_that_start_like_an_outcome_are_spotted_and_answered():
    assert command_word("won 450k") == "won" and command_word("Booked: tue") == "booked"
    assert command_word("lost your address?") == "lost" and command_word("SPAM!") == "spam"
    assert command_word("On my way") is None and command_word("wonderful") is None
    assert command_word("") is None
    assert unreadable(12, "won") == (
        "Couldn't read the amount: try #12 won 450. Nothing was sent to the customer."
    )
    assert "#12 lost: the reason" in unreadable(12, "lost")


def test_the_same_outcome_again_keeps_its_value_and_reason():
    current = {"outcome": "won", "outcome_value_micro": 450_000_000, "outcome_reason": None}
    assert kept(Marking("won"), current) == Marking("won", value_micro=450_000_000)
    assert kept(Marking("won", 5), current) == Marking("won", value_micro=5)
    assert kept(Marking("lost"), current) == Marking("lost")
    lost = {"outcome": "lost", "outcome_value_micro": None, "outcome_reason": "too far"}
    assert kept(Marking("lost"), lost) == Marking("lost", reason="too far")


def test_money_is_integer_micro_usd():
    assert dollars_to_micro("450") == 450_000_000
    assert dollars_to_micro("$0.01") == 10_000
    assert dollars_to_micro("1,2,3") is None and dollars_to_micro("12.345") is None
    assert dollars_to_micro("99999999") is None  # over the typo guard


def independent_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks verification as a receiver writes it from the spec."""
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, "sha256")
    return "v1," + base64.b64encode(mac.digest()).decode()


def test_signatures_match_an_independent_implementation_and_the_spec_example():
    # The example of the Standard Webhooks specification (its test vector).
    spec_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    assert (
        signing.sign(spec_secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
    secret = signing.new_secret()
    headers = signing.headers(secret, "evt_1", 1_700_000_000, '{"a":1}')
    assert headers["webhook-signature"] == independent_signature(
        secret, headers["webhook-id"], headers["webhook-timestamp"], b'{"a":1}'
    )


def test_retry_timing_backs_off_within_the_window_then_gives_up():
    policy = RetryPolicy()
    created = NOW
    assert next_attempt(policy, 1, created, NOW) == NOW + timedelta(seconds=5)
    assert next_attempt(policy, 2, created, NOW) == NOW + timedelta(minutes=5)
    late = created + timedelta(hours=20)
    assert next_attempt(policy, 9, created, late) == created + timedelta(hours=24)  # capped
    assert next_attempt(policy, 10, created, created + timedelta(hours=24)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://crm.example.com/hook",  # not https
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/metadata",  # the instance metadata service
        "https://[::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://localhost/hook",
        "https://100.64.0.1/hook",  # carrier-grade NAT (shared address space)
        "https://user:pw@crm.example.com/hook",
        "ftp://crm.example.com/hook",
    ],
)
def test_ssrf_refusals_in_azure(url):
    with pytest.raises(targets.TargetRefused):
        targets.check_url(url, azure=True)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
        ("2002:808:808::1", True),
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("::a00:1", False),
        ("::1", False),
        ("::", False),
        ("fec0::1", False),  # site-local
        ("feff::1", False),
        ("168.63.129.16", False),  # Azure's wire server
        ("::ffff:168.63.129.16", False),
        ("::ffff:10.0.0.1", False),
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_addresses_that_carry_an_inside_address_are_not_public(address, public):
    assert targets.is_public(address) is public
    if not public and ":" in address:
        with pytest.raises(targets.TargetRefused):
            targets.check_url(f"https://[{address}]/hook", azure=True)


def test_a_delivery_run_claims_what_fits_its_budget():
    assert RetryPolicy().per_endpoint() == 12  # 120 s at 10 s a POST
    assert RetryPolicy(timeout_seconds=0.5, run_budget_seconds=2.2).per_endpoint() == 4
    assert RetryPolicy(timeout_seconds=30, run_budget_seconds=10).per_endpoint() == 1


def test_public_https_is_fine_in_azure_and_loopback_http_is_fine_locally():
    assert targets.check_url("https://hooks.zapier.com/x", azure=True)
    assert targets.check_url("https://93.184.216.34/x", azure=True)
    assert targets.check_url("http://127.0.0.1:8080/hook", azure=False)


def test_funnel_buckets_by_local_day_and_week():
    def row(at: datetime, **extra):
        return {
            "received_at": at, "texted": True, "qualified": False, "outcome": None,
            "outcome_value_micro": None, "text_back_at": at, "first_reply_at": None,
            "steps_before_reply": None, **extra,
        }  # fmt: skip

    # 23:30 local on Dec 1 is Dec 2 in UTC: it counts on Dec 1.
    late = local(2026, 12, 1, 23, 30).astimezone(UTC)
    rows = [
        row(late, first_reply_at=late + timedelta(minutes=4), steps_before_reply=0),
        row(local(2026, 12, 2, 9, 0), outcome="won", outcome_value_micro=5_000_000),
        row(local(2026, 12, 7, 9, 0), texted=False),
    ]
    report = funnel.aggregate(rows, date(2026, 11, 30), date(2026, 12, 7), "America/Chicago", "day")
    by_day = {p["period"]: p for p in report["periods"]}
    assert len(by_day) == 8 and by_day["2026-12-01"]["replied"] == 1
    assert by_day["2026-12-01"]["median_seconds_to_first_reply"] == 240
    assert by_day["2026-12-02"]["won"] == 1 and by_day["2026-12-02"]["booked"] == 1
    assert report["total"]["missed_calls"] == 3 and report["total"]["text_backs_sent"] == 2
    weeks = funnel.aggregate(rows, date(2026, 11, 30), date(2026, 12, 7), "America/Chicago", "week")
    assert [p["period"] for p in weeks["periods"]] == ["2026-11-30", "2026-12-07"]
    assert [p["missed_calls"] for p in weeks["periods"]] == [2, 1]


def test_the_readme_receiver_snippet_verifies_our_signatures():
    import re
    import time
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Follow-ups, outcomes, funnel and webhooks", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert snippet is not None
    scope: dict = {}
    exec(snippet.group(1), scope)  # the reader's code, as printed
    secret, body = signing.new_secret(), '{"type":"call.missed"}'
    headers = signing.headers(secret, "evt_1", int(time.time()), body)
    assert scope["verify"](secret, headers, body.encode())
    assert not scope["verify"](secret, headers, body.encode() + b" ")
    assert not scope["verify"](signing.new_secret(), headers, body.encode())


async def test_the_delivery_resolver_connects_to_public_addresses_only_in_azure():
    inside = targets.PublicOnlyResolver(azure=True)
    try:
        with pytest.raises(OSError, match="SSRF"):
            await inside.resolve("localhost", 443)
    finally:
        await inside.close()
    local = targets.PublicOnlyResolver(azure=False)
    try:
        assert {r["host"] for r in await local.resolve("localhost", 80)} & {"127.0.0.1", "::1"}
    finally:
        await local.close()
