"""Every message that crosses a process has one contract, and each round-trips its wire shape.

What this catches: an event type routed by the subscription declaration with no model (its
consumer would fail at the door), a producer field that the consumer reads under another name,
and a wire key changed under messages already sitting in a queue.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared_code import contracts
from shared_code.platform.subscriptions import load_subscriptions

BUSINESS = uuid.uuid4()
CONVERSATION = uuid.uuid4()
NOW = datetime(2026, 12, 2, 14, 30, tzinfo=UTC)

EXAMPLES: list[contracts.Event] = [
    contracts.CallMissed(
        business_id=BUSINESS, call_sid="CA" + "a" * 32, caller="+13125550123",
        business_number="+13125550100", reason="no-answer", text_back_status="sent",
        conversation_id=CONVERSATION, conversation_ref=12, received_at=NOW,
    ),
    contracts.MessageReceived(
        business_id=BUSINESS, conversation_id=CONVERSATION, message_sid="SM" + "b" * 32,
        message_id=41, from_number="+13125550123",
    ),
    contracts.MessageSent(
        business_id=BUSINESS, conversation_id=None, message_sid="SM" + "c" * 32,
        to="+13125550101", from_number="+13125550100", kind="owner_alert", author="system",
        segments=1, encoding="GSM-7",
    ),
    contracts.LeadQualified(
        business_id=BUSINESS, conversation_id=CONVERSATION, conversation_ref=12,
        customer="+13125550123", lead={"job": "leak"}, summary="leak",
    ),
    contracts.ConversationEscalated(
        business_id=BUSINESS, conversation_id=CONVERSATION, conversation_ref=12,
        customer="+13125550123", reason="emergency: gas", last_text="smell gas",
        message_sid="SM" + "d" * 32,
    ),
    contracts.UsageRecorded(
        business_id=BUSINESS, kind="ai", call_id=uuid.uuid4(), reservation_id=uuid.uuid4(),
        conversation_id=CONVERSATION, model="gpt-4o-mini", input_tokens=900, cached_tokens=100,
        output_tokens=40, latency_ms=800,
    ),
    contracts.UsageRecorded(
        business_id=BUSINESS, kind="sms", message_sid="SM" + "e" * 32, direction="outbound",
        segments=2, encoding="UCS-2",
    ),
    contracts.CreditsLow(
        business_id=BUSINESS, balance_micro=900, threshold_micro=1000, reason="low", since=NOW
    ),
    contracts.ActivityRecorded(
        business_id=BUSINESS, kind="owner_reply", occurred_at=NOW, about="SM" + "f" * 32
    ),
    contracts.StreakRewardGranted(
        business_id=BUSINESS, day="2026-12-01", kind="milestone:7", amount_micro=5, streak=7
    ),
    contracts.FollowupSent(
        business_id=BUSINESS, conversation_id=CONVERSATION, conversation_ref=12,
        customer="+13125550123", step=2, text_id=41,
    ),
    contracts.OutcomeRecorded(
        business_id=BUSINESS, conversation_id=CONVERSATION, conversation_ref=12,
        customer="+13125550123", outcome="won", value_micro=450_000_000, source="sms",
        marking_id=7, recorded_at=NOW,
    ),
    contracts.VoicemailReceived(
        business_id=BUSINESS, recording_sid="RE" + "7" * 32, call_sid="CA" + "a" * 32,
        caller="+13125550123", duration_seconds=14, transcript="my furnace is out",
        transcription_status="done", conversation_id=CONVERSATION, conversation_ref=3,
        received_at=NOW,
    ),
]  # fmt: skip


def test_every_routed_event_type_has_a_contract() -> None:
    routed = {t for types in load_subscriptions().values() for t in types}
    assert routed <= contracts.EVENT_TYPES


def test_every_contract_has_an_example_here() -> None:
    assert {type(e) for e in EXAMPLES} == set(contracts.EVENT_MODELS.values())


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type)
def test_each_event_round_trips_through_its_json(event: contracts.Event) -> None:
    wire = json.loads(json.dumps(event.to_json()))  # as it travels in the CloudEvent data
    parsed = contracts.parse_event(event.type, wire)
    assert parsed.to_json() == event.to_json()
    assert parsed.subject() == event.subject()


def test_event_ids_are_stable_per_fact_and_differ_between_facts() -> None:
    sent = EXAMPLES[2]
    assert sent.id == contracts.event_id(sent.type, "SM" + "c" * 32)
    again = sent.model_copy(update={"segments": 3})  # same fact, other details
    assert again.id == sent.id
    other = sent.model_copy(update={"message_sid": "SM" + "9" * 32})
    assert other.id != sent.id


def test_unknown_event_type_and_malformed_payloads_fail_at_the_door() -> None:
    with pytest.raises(contracts.UnknownEventType):
        contracts.parse_event("nevermiss.no.such", {})
    with pytest.raises(ValidationError):
        contracts.parse_event("nevermiss.usage.recorded", {"business_id": str(BUSINESS)})
    with pytest.raises(ValidationError):  # an ai usage event without its tokens
        contracts.parse_event(
            "nevermiss.usage.recorded",
            {"business_id": str(BUSINESS), "kind": "ai", "model": "gpt-4o-mini"},
        )


TASKS: list[contracts.QueueTask] = [
    contracts.CallReport(
        call_sid="CA" + "1" * 32, from_number="+13125550123", to_number="+13125550100",
        source="dial-status", dial_status="no-answer", duration_seconds=0,
    ),
    contracts.InboundText(
        message_sid="SM" + "2" * 32, from_number="+13125550123", to_number="+13125550100",
        body="hi", media=(contracts.InboundMedia(url="https://x/1", content_type="image/png"),),
        received_at=NOW,
    ),
    contracts.ReplyTask(conversation_id=CONVERSATION, after_message_id=9),
    contracts.HeldOwnerAlert(
        event_id=uuid.uuid4(), event_type=EXAMPLES[-1].type, data=EXAMPLES[-1].to_json()
    ),
    contracts.CallReport(
        call_sid="CA" + "4" * 32, from_number="+13125550123", to_number="+13125550100",
        source="dial-status", dial_status="completed", duration_seconds=31,
        answer_check="press_key", accepted=False, leg_sid="CA" + "5" * 32, greeting="text_soon",
    ),
    contracts.RecordingReport(
        recording_sid="RE" + "6" * 32, call_sid="CA" + "4" * 32, duration_seconds=12,
        recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "6" * 32,
        received_at=NOW,
    ),
    contracts.TranscriptionReport(
        recording_sid="RE" + "6" * 32, call_sid="CA" + "4" * 32, status="completed", text="hi",
    ),
]  # fmt: skip


@pytest.mark.parametrize("task", TASKS, ids=lambda t: type(t).__name__)
def test_each_queue_task_round_trips_through_its_queue_message(task: contracts.QueueTask) -> None:
    body = json.dumps(task.to_json())
    assert contracts.parse_task(contracts.queue_of(task), body) == task


def test_queue_messages_keep_the_wire_keys_earlier_releases_wrote() -> None:
    """A message queued before a deploy must parse after it."""
    old_call = {
        "call_sid": "CA" + "3" * 32, "from": "+13125550123", "to": "+13125550100",
        "source": "after-hours", "dial_status": "after-hours", "duration": "", "answered_by": None,
    }  # fmt: skip
    report = contracts.parse_task(contracts.CALLS_QUEUE, json.dumps(old_call))
    assert isinstance(report, contracts.CallReport)
    assert (report.from_number, report.duration_seconds) == ("+13125550123", None)
    assert set(old_call) <= set(report.to_json())
    old_inbound = {
        "kind": "inbound", "message_sid": "SM" + "4" * 32, "from": "+13125550123",
        "to": "+13125550100", "body": "hi", "media": [], "received_at": NOW.isoformat(),
    }  # fmt: skip
    text = contracts.parse_task(contracts.MESSAGES_QUEUE, json.dumps(old_inbound))
    assert isinstance(text, contracts.InboundText) and text.to_json()["from"] == "+13125550123"


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "reply", "conversation_id": "not-a-uuid", "after_message_id": 1},
        {"kind": "nope"},
        {"kind": "inbound", "message_sid": "SM1\x00", "from": "+1", "to": "+2"},
        {"call_sid": "XX123", "to": "+1", "source": "status"},
    ],
)
def test_malformed_tasks_are_refused(bad: dict) -> None:
    queue = contracts.CALLS_QUEUE if "call_sid" in bad else contracts.MESSAGES_QUEUE
    with pytest.raises(ValueError):
        contracts.parse_task(queue, json.dumps(bad))
