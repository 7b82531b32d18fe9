"""Every message that crosses a process: the queue tasks and the event payloads, in one file.

Producers build these and consumers parse them once, at the door (`parse_task`, `parse_event`),
so a field is named and typed in one place and a malformed message fails at the door with a
clear error instead of deep in a handler. The wire shape is what earlier releases wrote (the
same keys, `from`/`to` included), so messages already in a queue parse after a deploy.

Events are CloudEvents; `type` names the contract, `data` is the model's JSON. An event's id is
derived from the fact it reports (`fact()`): the same fact always gets the same id, so a retry
republishes the same id and consumers dedupe on it.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

_EVENT_NAMESPACE = uuid.UUID("5b0f2a52-8a8e-4f0e-9a59-6a1c1c2f6e11")

# PostgreSQL text cannot hold NUL; a NUL in a field is refused at the door.
NoNul = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]


class Contract(BaseModel):
    """A message: immutable, unknown fields ignored (producers may be a release ahead)."""

    # A field spelled differently on the wire (`from` is a Python keyword) is read by either
    # name and written by its wire name (`to_json`).
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# --- queue tasks ------------------------------------------------------------------------------

CALLS_QUEUE = "calls"
MESSAGES_QUEUE = "messages"
RECORDINGS_QUEUE = "recordings"

AnswerCheck = Literal["press_key", "amd", "none"]
# What a missed caller heard before the beep: a text soon, a text in the morning (quiet hours),
# or no promise of a text (opted out, landline, blocked, or not known).
Greeting = Literal["text_soon", "text_morning", "no_text"]


class CallReport(Contract):
    """Queue `calls`: what a voice webhook learned about a call (`source` says which webhook)."""

    call_sid: str = Field(pattern=r"^CA[0-9A-Za-z]{1,62}$")
    from_number: NoNul = Field(
        default="", max_length=64, validation_alias=AliasChoices("from"), serialization_alias="from"
    )
    to_number: NoNul = Field(
        max_length=64, validation_alias=AliasChoices("to"), serialization_alias="to"
    )
    # "amd": answering-machine detection classified the answered leg after the Dial ended.
    source: Literal["dial-status", "status", "no-owner", "after-hours", "amd"]
    dial_status: NoNul | None = Field(default=None, max_length=32)
    duration_seconds: int | None = Field(
        default=None,
        ge=0,
        validation_alias=AliasChoices("duration"),
        serialization_alias="duration",
    )
    answered_by: NoNul | None = Field(default=None, max_length=32)
    # The human check on the dialled leg(s), as the business had it when the call was dialled,
    # and whether a person accepted the leg that was answered (DialCallSid: `leg_sid`).
    answer_check: AnswerCheck | None = None
    accepted: bool | None = None
    leg_sid: str | None = Field(default=None, pattern=r"^CA[0-9A-Za-z]{1,62}$")
    greeting: Greeting | None = None
    # A report put back on the queue by its handler (a machine verdict before the call's row
    # was visible): how many times, so the retries stay bounded.
    attempt: int = Field(default=0, ge=0, le=100)

    @model_validator(mode="before")
    @classmethod
    def _blank_duration(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("duration") == "":
            return {**data, "duration": None}
        return data


class InboundMedia(Contract):
    url: str
    content_type: str = ""


class InboundText(Contract):
    """Queue `messages`: a customer's (or the owner's) text as the webhook received it."""

    kind: Literal["inbound"] = "inbound"
    message_sid: str = Field(pattern=r"^(SM|MM)[0-9A-Za-z]{1,62}$")
    from_number: NoNul = Field(
        default="", max_length=64, validation_alias=AliasChoices("from"), serialization_alias="from"
    )
    to_number: NoNul = Field(
        default="", max_length=64, validation_alias=AliasChoices("to"), serialization_alias="to"
    )
    body: NoNul = Field(default="", max_length=1600)
    media: tuple[InboundMedia, ...] = ()
    received_at: datetime | None = None
    # Advanced Opt-Out's verdict on the whole body (Messaging Services only): STOP, START, HELP.
    opt_out_type: NoNul | None = Field(default=None, max_length=16)


class ReplyTask(Contract):
    """Queue `messages`: answer the conversation's customer texts up to `after_message_id`."""

    kind: Literal["reply"] = "reply"
    conversation_id: uuid.UUID
    after_message_id: int = Field(ge=0)


class HeldOwnerAlert(Contract):
    """Queue `messages`: an owner note held through quiet hours, sent by owner alerts."""

    kind: Literal["alert"] = "alert"
    event_id: uuid.UUID
    event_type: str
    data: dict[str, Any]


class RecordingReport(Contract):
    """Queue `recordings`: a caller's voicemail Twilio finished recording (its
    `recordingStatusCallback`, RecordingStatus=completed)."""

    kind: Literal["recording"] = "recording"
    recording_sid: str = Field(pattern=r"^RE[0-9A-Za-z]{1,62}$")
    call_sid: str = Field(pattern=r"^CA[0-9A-Za-z]{1,62}$")
    recording_url: NoNul = Field(max_length=1000)
    duration_seconds: int = Field(default=0, ge=0, le=86_400)
    received_at: datetime | None = None


class TranscriptionReport(Contract):
    """Queue `recordings`: Twilio's own transcription of a voicemail (its `transcribeCallback`),
    for businesses whose operator chose TRANSCRIPTION=twilio."""

    kind: Literal["transcription"] = "transcription"
    recording_sid: str = Field(pattern=r"^RE[0-9A-Za-z]{1,62}$")
    call_sid: str = Field(pattern=r"^CA[0-9A-Za-z]{1,62}$")
    status: Literal["completed", "failed"]
    text: NoNul = Field(default="", max_length=5000)


RecordingsTask = Annotated[RecordingReport | TranscriptionReport, Field(discriminator="kind")]
_RECORDINGS_TASK: TypeAdapter[RecordingReport | TranscriptionReport] = TypeAdapter(RecordingsTask)

MessagesTask = Annotated[InboundText | ReplyTask | HeldOwnerAlert, Field(discriminator="kind")]
_MESSAGES_TASK: TypeAdapter[InboundText | ReplyTask | HeldOwnerAlert] = TypeAdapter(MessagesTask)
QueueTask = (
    CallReport | InboundText | ReplyTask | HeldOwnerAlert | RecordingReport | TranscriptionReport
)


def parse_task(queue: str, body: bytes | str) -> QueueTask:
    """The task in a queue message; raises pydantic.ValidationError (a ValueError) when it is
    malformed, which the host retries and then moves to `<queue>-poison`."""
    if queue == CALLS_QUEUE:
        return CallReport.model_validate_json(body)
    if queue == MESSAGES_QUEUE:
        return _MESSAGES_TASK.validate_json(body)
    if queue == RECORDINGS_QUEUE:
        return _RECORDINGS_TASK.validate_json(body)
    raise ValueError(f"no task contract for queue {queue!r}")


def queue_of(task: QueueTask) -> str:
    if isinstance(task, CallReport):
        return CALLS_QUEUE
    if isinstance(task, RecordingReport | TranscriptionReport):
        return RECORDINGS_QUEUE
    return MESSAGES_QUEUE


def task_correlation_id(task: QueueTask) -> str:
    """The id a queue invocation logs under: the call or message it is about."""
    if isinstance(task, CallReport | RecordingReport | TranscriptionReport):
        return task.call_sid
    if isinstance(task, InboundText):
        return task.message_sid
    if isinstance(task, ReplyTask):
        return str(task.conversation_id)
    return str(task.data.get("call_sid") or task.data.get("message_sid") or task.event_id)


# --- events -----------------------------------------------------------------------------------


class Event(Contract):
    """An event payload. Subclasses set `type` and say which fact the event reports."""

    type: ClassVar[str]
    business_id: uuid.UUID

    def fact(self) -> tuple[str, ...]:
        raise NotImplementedError

    def subject(self) -> str | None:
        return None

    @property
    def id(self) -> uuid.UUID:
        return event_id(self.type, *self.fact())

    def correlation_id(self) -> str | None:
        """The CallSid or MessageSid the event is about, when it has one."""
        return getattr(self, "call_sid", None) or getattr(self, "message_sid", None)


def event_id(event_type: str, *fact: str) -> uuid.UUID:
    """A stable id for `event_type` about `fact` (e.g. the CallSid): same fact, same id."""
    return uuid.uuid5(_EVENT_NAMESPACE, "|".join((event_type, *fact)))


class CallMissed(Event):
    type: ClassVar[str] = "nevermiss.call.missed"
    call_sid: str
    caller: str
    business_number: str
    reason: str | None
    text_back_status: str
    hold_until: datetime | None = None
    conversation_id: uuid.UUID | None = None
    conversation_ref: int | None = None
    received_at: datetime

    def fact(self) -> tuple[str, ...]:
        return (self.call_sid,)

    def subject(self) -> str:
        return f"businesses/{self.business_id}/calls/{self.call_sid}"


class MessageReceived(Event):
    type: ClassVar[str] = "nevermiss.message.received"
    conversation_id: uuid.UUID
    message_sid: str
    message_id: int
    from_number: str = Field(validation_alias=AliasChoices("from"), serialization_alias="from")

    def fact(self) -> tuple[str, ...]:
        return (self.message_sid,)

    def subject(self) -> str:
        return f"businesses/{self.business_id}/conversations/{self.conversation_id}"


class MessageSent(Event):
    type: ClassVar[str] = "nevermiss.message.sent"
    conversation_id: uuid.UUID | None = None
    message_sid: str
    to: str
    from_number: str = Field(validation_alias=AliasChoices("from"), serialization_alias="from")
    kind: str
    author: str
    segments: int
    encoding: str

    def fact(self) -> tuple[str, ...]:
        return (self.message_sid,)

    def subject(self) -> str:
        return f"businesses/{self.business_id}/messages/{self.message_sid}"


class _ConversationEvent(Event):
    conversation_id: uuid.UUID
    conversation_ref: int
    customer: str
    message_sid: str | None = None  # the customer text that led to it, when one did

    def subject(self) -> str:
        return f"businesses/{self.business_id}/conversations/{self.conversation_id}"


class LeadQualified(_ConversationEvent):
    type: ClassVar[str] = "nevermiss.lead.qualified"
    lead: dict[str, str]
    summary: str

    def fact(self) -> tuple[str, ...]:
        return (str(self.conversation_id),)


class ConversationEscalated(_ConversationEvent):
    type: ClassVar[str] = "nevermiss.conversation.escalated"
    reason: str
    last_text: str = Field(max_length=300)

    def fact(self) -> tuple[str, ...]:
        return (str(self.conversation_id), self.reason)


class UsageRecorded(Event):
    """`nevermiss.usage.recorded`: one model call or one sent text. Any cost it carries is
    ignored: usage is priced server-side at ingestion."""

    type: ClassVar[str] = "nevermiss.usage.recorded"
    kind: Literal["ai", "sms", "transcription"]
    conversation_id: uuid.UUID | None = None
    # ai: the model call's own id (one call happened once), the reservation it settles
    call_id: uuid.UUID | None = None
    reservation_id: uuid.UUID | None = None
    model: NoNul | None = Field(default=None, min_length=1, max_length=200)
    input_tokens: int | None = Field(default=None, ge=0, le=10_000_000)
    cached_tokens: int = Field(default=0, ge=0, le=10_000_000)
    output_tokens: int | None = Field(default=None, ge=0, le=10_000_000)
    latency_ms: int | None = Field(default=None, ge=0, le=3_600_000)  # fits the int column
    # sms: the text's sid, direction and segments
    message_sid: str | None = None
    direction: Literal["outbound", "inbound"] | None = None
    segments: int | None = Field(default=None, ge=0, le=100)
    encoding: str | None = None
    # transcription: the voicemail's RecordingSid and its length (priced per audio second)
    recording_sid: str | None = None
    audio_seconds: int | None = Field(default=None, ge=0, le=86_400)

    @model_validator(mode="after")
    def _complete(self) -> UsageRecorded:
        if self.kind == "transcription":
            if self.recording_sid is None or self.audio_seconds is None or self.model is None:
                raise ValueError(
                    "a transcription usage event needs recording_sid, model and audio_seconds"
                )
        elif self.kind == "ai":
            if self.model is None or self.input_tokens is None or self.output_tokens is None:
                raise ValueError("an ai usage event needs model, input_tokens and output_tokens")
            if self.cached_tokens > self.input_tokens:
                raise ValueError("cached_tokens cannot exceed input_tokens")
        elif self.segments is None:
            raise ValueError("an sms usage event needs segments")
        return self

    def fact(self) -> tuple[str, ...]:
        if self.kind == "ai":
            return ("ai", str(self.call_id))
        if self.kind == "transcription":
            return ("transcription", str(self.recording_sid))
        return ("sms", str(self.message_sid))

    def subject(self) -> str:
        if self.kind == "ai":
            return f"businesses/{self.business_id}/ai"
        if self.kind == "transcription":
            return f"businesses/{self.business_id}/voicemails/{self.recording_sid}"
        return f"businesses/{self.business_id}/messages/{self.message_sid}"


class CreditsLow(Event):
    """Once per crossing of the low-credit threshold (`since`), or per day the assistant ran
    out of credit (`reason` "exhausted")."""

    type: ClassVar[str] = "nevermiss.credits.low"
    balance_micro: int
    threshold_micro: int
    reason: Literal["low", "exhausted"]
    # Identifies the crossing (the producer always sets it); not part of the payload.
    since: datetime | None = Field(default=None, exclude=True)

    def fact(self) -> tuple[str, ...]:
        assert self.since is not None, "a credits.low producer names the crossing"
        return (str(self.business_id), self.reason, self.since.isoformat())

    def subject(self) -> str:
        return f"businesses/{self.business_id}/credits"


class ActivityRecorded(Event):
    type: ClassVar[str] = "nevermiss.activity.recorded"
    kind: Literal["check_in", "owner_reply", "takeover", "lead_marked"]
    occurred_at: datetime
    about: str = Field(default="", exclude=True)  # the action's own id (a sid, a key)

    def fact(self) -> tuple[str, ...]:
        return (str(self.business_id), self.kind, self.about)

    def subject(self) -> str:
        return f"businesses/{self.business_id}/activity"


class StreakRewardGranted(Event):
    """Written by the settlement statement itself, many at once; its id is the md5 of the
    grant's ledger key, as that statement derives it (`id` below computes the same)."""

    type: ClassVar[str] = "nevermiss.streak.reward_granted"
    day: str
    kind: str  # "daily" or "milestone:<days>"
    amount_micro: int
    streak: int

    def fact(self) -> tuple[str, ...]:
        return (f"streak:{self.business_id}:{self.day}:{self.kind}",)

    @property
    def id(self) -> uuid.UUID:
        digest = hashlib.md5(f"{self.type}|{self.fact()[0]}".encode(), usedforsecurity=False)
        return uuid.UUID(digest.hexdigest())

    def subject(self) -> str:
        return f"businesses/{self.business_id}/streak"


class VoicemailReceived(Event):
    """A caller's voicemail, archived and added to the conversation. `transcript` is None
    while no transcript exists (none configured, or the transcriber failed: it is retried and a
    later transcript reaches the owner on its own)."""

    type: ClassVar[str] = "nevermiss.voicemail.received"
    recording_sid: str
    call_sid: str
    caller: str
    duration_seconds: int
    transcript: str | None = None
    transcription_status: Literal["pending", "done", "failed", "none"]
    conversation_id: uuid.UUID | None = None
    conversation_ref: int | None = None
    received_at: datetime

    def fact(self) -> tuple[str, ...]:
        return (self.recording_sid,)

    def subject(self) -> str:
        return f"businesses/{self.business_id}/voicemails/{self.recording_sid}"


class FollowupSent(Event):
    """A follow-up step went to a customer who had not answered our last text (committed as an
    intent: `text_id` is the outbound text)."""

    type: ClassVar[str] = "nevermiss.followup.sent"
    conversation_id: uuid.UUID
    conversation_ref: int
    customer: str
    step: int = Field(ge=1, le=5)
    text_id: int

    def fact(self) -> tuple[str, ...]:
        return (str(self.conversation_id), str(self.step))

    def subject(self) -> str:
        return f"businesses/{self.business_id}/conversations/{self.conversation_id}"


class OutcomeRecorded(_ConversationEvent):
    """The owner said what became of a lead (API or "#12 won 450"). `marking_id` is the row in
    conversation_outcomes: a conversation marked booked, then won, reports two facts."""

    type: ClassVar[str] = "nevermiss.conversation.outcome_recorded"
    outcome: Literal["booked", "won", "lost", "spam"]
    value_micro: int | None = Field(default=None, ge=0)
    reason: str | None = Field(default=None, max_length=300)
    source: Literal["api", "sms"]
    marking_id: int
    recorded_at: datetime

    def fact(self) -> tuple[str, ...]:
        return (str(self.conversation_id), str(self.marking_id))


EVENT_MODELS: dict[str, type[Event]] = {
    model.type: model
    for model in (
        CallMissed,
        MessageReceived,
        MessageSent,
        LeadQualified,
        ConversationEscalated,
        UsageRecorded,
        CreditsLow,
        ActivityRecorded,
        StreakRewardGranted,
        VoicemailReceived,
        FollowupSent,
        OutcomeRecorded,
    )
}
EVENT_TYPES = frozenset(EVENT_MODELS)


class UnknownEventType(ValueError):
    pass


def parse_event(event_type: str, data: Any) -> Event:
    """The payload of a delivered event; raises UnknownEventType or pydantic.ValidationError."""
    model = EVENT_MODELS.get(event_type)
    if model is None:
        raise UnknownEventType(event_type)
    return model.model_validate(data)
