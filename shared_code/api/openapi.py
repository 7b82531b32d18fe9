"""The API's OpenAPI 3.1 document, built from the pydantic models the API validates with.

Request bodies are the models the resource modules parse (`store.BusinessCreate`,
`store.BusinessPatch`, `OwnerMessage`, `TopUp`, `Activity`); responses are described by the
small models below, which say what the resource modules return (they are not used to build the
answers: a field added to an answer is allowed by them, a field removed or retyped is caught by
the schemathesis test that checks live answers against this document). Timestamps are strings
(the API writes them as `2026-01-31 14:05:00.123+00:00`). Built once per process.

A route added to `functions/owner_api.py` (or another module under /api/v1) gets an entry in
OPERATIONS, so the document is the whole API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from shared_code.api.account import Activity, TopUp
from shared_code.api.conversations import OwnerMessage
from shared_code.api.outcomes import OutcomeBody
from shared_code.api.webhook_endpoints import EndpointCreate, EndpointPatch
from shared_code.businesses.store import BusinessCreate, BusinessPatch

Timestamp = str  # "2026-01-31 14:05:00.123+00:00"


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[Any] | dict[str, Any]


class ErrorResponse(BaseModel):
    """Every error: `{"error": {"code", "message", "details"}}` with the status."""

    error: ErrorDetail


class BusinessOut(BaseModel):
    id: uuid.UUID
    name: str
    phone_number: str
    owner_phone: str | None
    owner_name: str | None
    time_zone: str
    weekly_hours: dict[str, list[list[str]]]
    templates: dict[str, str]
    ring_timeout_seconds: int
    blocked_numbers: list[str]
    services: str
    service_area: str
    faq: list[dict[str, str]]
    messaging_service_sid: str | None
    sending_paused_reason: str | None
    answer_check: str
    team_phones: list[dict[str, Any]]


class BusinessResponse(BaseModel):
    business: BusinessOut


class BusinessCreated(BaseModel):
    business: BusinessOut
    owner_api_key: str = Field(description="shown once: keep it")


class ConversationOut(BaseModel):
    id: uuid.UUID
    business_id: uuid.UUID
    ref: int
    customer_phone: str
    status: Literal["open", "closed"]
    mode: Literal["assistant", "owner"]
    lead: dict[str, Any] | None
    lead_qualified_at: Timestamp | None
    escalated_at: Timestamp | None
    escalation_reason: str | None
    paused_reason: str | None
    opened_at: Timestamp
    last_activity_at: Timestamp
    closed_at: Timestamp | None
    # What became of the lead (messaging.outcomes), once the owner said.
    outcome: Literal["booked", "won", "lost", "spam"] | None = None
    outcome_value_micro: int | None = None
    outcome_reason: str | None = None
    outcome_at: Timestamp | None = None


class MessageOut(BaseModel):
    id: int
    direction: Literal["inbound", "outbound"]
    author: Literal["customer", "assistant", "owner", "system"]
    kind: Literal["text", "voicemail"] = "text"
    body: str | None
    media: Any = None
    status: str | None
    error_code: int | None
    segments: int | None
    at: Timestamp


class ConversationList(BaseModel):
    conversations: list[ConversationOut]


class ConversationThread(BaseModel):
    conversation: ConversationOut
    messages: list[MessageOut]
    text_back_consent: dict[str, Any] | None


class OwnerActionResult(BaseModel):
    conversation: ConversationOut
    outcome: str


class Streak(BaseModel):
    current: int
    longest: int
    freezes: int
    settled_through: str | None
    next_milestone: dict[str, int] | None


class AccountOut(BaseModel):
    balance_micro: int
    reserved_micro: int
    available_micro: int
    recent_entries: list[dict[str, Any]]
    streak: Streak


class AccountResponse(BaseModel):
    account: AccountOut


class UsageLineOut(BaseModel):
    day: str
    kind: str
    model: str
    events: int
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    segments: int
    cost_micro: int


class UsageResponse(BaseModel):
    from_: str = Field(alias="from")
    to: str
    time_zone: str
    usage: list[UsageLineOut]
    total_cost_micro: int


class ActivityRecorded(BaseModel):
    event_id: uuid.UUID
    kind: str


class TopUpResult(BaseModel):
    entry: dict[str, Any]
    replayed: bool


class VoicemailOut(BaseModel):
    recording_sid: str
    call_sid: str
    business_id: uuid.UUID
    caller: str
    duration_seconds: int
    transcript: str | None
    transcription_status: str
    conversation_id: uuid.UUID | None
    received_at: Timestamp
    alerted_at: Timestamp | None
    purged_at: Timestamp | None
    audio_url: str | None = Field(description="null until archived, and after it is purged")


class VoicemailList(BaseModel):
    voicemails: list[VoicemailOut]


class CallOut(BaseModel):
    id: str = Field(description="Twilio's CallSid")
    from_: str = Field(alias="from", description="the caller's number as Twilio gave it")
    to: str
    received_at: Timestamp
    missed: bool
    miss_reason: str | None = Field(
        description="no-answer, busy, failed, canceled, after-hours, no-owner, not_accepted"
        " (picked up, nobody pressed 1), machine, too-short; answered when answered"
    )
    text_back_status: str = Field(
        description="pending, held, sent, not_missed, or suppressed_<rule> (see calls.decision)"
    )
    text_back_at: Timestamp | None = Field(description="when a held text-back goes out")
    answer_check: Literal["press_key", "amd", "none"] | None
    accepted: bool | None
    greeting: str | None
    duration_seconds: int | None
    conversation_id: uuid.UUID | None
    conversation_ref: int | None
    voicemail: VoicemailOut | None


class CallList(BaseModel):
    calls: list[CallOut]
    next_before: str | None = Field(
        description="pass as ?before= for the next page; null at the end"
    )


class OutcomeRecorded(BaseModel):
    conversation_id: uuid.UUID
    outcome: Literal["booked", "won", "lost", "spam"]
    value_micro: int | None
    reason: str | None
    recorded_at: Timestamp
    history: list[dict[str, Any]]


class FollowupList(BaseModel):
    conversation_id: uuid.UUID
    followups: list[dict[str, Any]]


class FollowupSent(BaseModel):
    step: Any
    outcome: str
    followups: list[dict[str, Any]]


class FunnelReport(BaseModel):
    business_id: uuid.UUID
    periods: list[dict[str, Any]]
    total: dict[str, Any]


class WebhookOut(BaseModel):
    id: uuid.UUID
    business_id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_at: Timestamp | None
    disabled_reason: str | None
    created_at: Timestamp


class WebhookCreated(BaseModel):
    webhook: WebhookOut = Field(description="with `secret` (shown once): signs each delivery")


class WebhookResponse(BaseModel):
    webhook: WebhookOut


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class WebhookDeleted(BaseModel):
    deleted: uuid.UUID


class DeliveryList(BaseModel):
    deliveries: list[dict[str, Any]]


class DeliveryReplayed(BaseModel):
    delivery: dict[str, Any]
    outcome: dict[str, Any]


class Audio(BaseModel):
    """Marker: the answer is the recording itself (audio/wav)."""


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    response: type[BaseModel]
    status: int = 200
    body: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    tags: tuple[str, ...] = ()
    extra_content: dict[str, Any] = field(default_factory=dict)


UUID = {"type": "string", "format": "uuid"}
BUSINESS_ID = Param("business_id", "path", UUID, required=True)
CONVERSATION_ID = Param("conversation_id", "path", UUID, required=True)
ENDPOINT_ID = Param("endpoint_id", "path", UUID, required=True)
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x21-\\x7e]+$"},
    "retry safely: a repeat with the same key answers the first result and records nothing again",
)
LIMIT = Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200})
ADMIN_BUSINESS = Param(
    "business_id", "query", UUID, "admin keys name the business; owners' own is used"
)
DAY = {"type": "string", "format": "date"}

OPERATIONS: tuple[Operation, ...] = (
    Operation("post", "/businesses", "Register a business (admin key); returns its owner key "
              "once", BusinessCreated, 201, BusinessCreate, tags=("businesses",)),
    Operation("get", "/businesses/{business_id}", "Read a business", BusinessResponse,
              params=(BUSINESS_ID,), tags=("businesses",)),
    Operation("patch", "/businesses/{business_id}", "Change a business's settings (absent "
              "fields are kept)", BusinessResponse, body=BusinessPatch, params=(BUSINESS_ID,),
              tags=("businesses",)),
    Operation("post", "/businesses/{business_id}/credits", "Add credit (admin key; "
              "idempotent by key)", TopUpResult, 201, TopUp, params=(BUSINESS_ID,),
              tags=("account",)),
    Operation("get", "/conversations", "List conversations, most recently active first",
              ConversationList, params=(
                  Param("status", "query", {"type": "string", "enum": ["open", "closed", "all"],
                                            "default": "open"}),
                  Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200,
                                           "default": 50}),
                  ADMIN_BUSINESS,
              ), tags=("conversations",)),
    Operation("get", "/conversations/{conversation_id}", "A conversation with its messages in "
              "order", ConversationThread, params=(CONVERSATION_ID,), tags=("conversations",)),
    Operation("post", "/conversations/{conversation_id}/takeover", "Take the conversation over "
              "(the assistant stops)", OwnerActionResult, params=(CONVERSATION_ID,),
              tags=("conversations",)),
    Operation("post", "/conversations/{conversation_id}/release", "Hand the conversation back "
              "to the assistant", OwnerActionResult, params=(CONVERSATION_ID,),
              tags=("conversations",)),
    Operation("post", "/conversations/{conversation_id}/close", "Close the conversation (a "
              "closed one stays closed)", OwnerActionResult, params=(CONVERSATION_ID,),
              tags=("conversations",)),
    Operation("post", "/conversations/{conversation_id}/messages", "Text the customer as the "
              "owner (takes the conversation over)", OwnerActionResult, body=OwnerMessage,
              params=(CONVERSATION_ID,), tags=("conversations",)),
    Operation("get", "/account", "Balance, reserved credit, recent entries and streak",
              AccountResponse, params=(ADMIN_BUSINESS,), tags=("account",)),
    Operation("get", "/usage", "Usage by the business's local day, kind and model (JSON or "
              "CSV)", UsageResponse, params=(
                  Param("from", "query", DAY), Param("to", "query", DAY),
                  Param("format", "query", {"type": "string", "enum": ["json", "csv"]}),
                  ADMIN_BUSINESS,
              ), tags=("account",),
              extra_content={"text/csv": {"schema": {"type": "string"}}}),
    Operation("post", "/activity", "Record an owner check-in toward today's streak",
              ActivityRecorded, 202, Activity, params=(ADMIN_BUSINESS,), tags=("account",)),
    Operation("get", "/calls", "The business's calls, newest first, with the reason a missed "
              "one was missed, its text-back and its voicemail", CallList, params=(
                  Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 200,
                                           "default": 50}),
                  Param("before", "query", {"type": "string"}, "the previous page's "
                        "next_before (or an ISO 8601 time with an offset)"),
                  Param("missed", "query", {"type": "string", "enum": ["true", "false"]},
                        "only missed (true) or only answered (false) calls"),
                  ADMIN_BUSINESS,
              ), tags=("calls",)),
    # Voicemails (functions/voicemail.py)
    Operation("get", "/voicemails", "The business's voicemails, newest first", VoicemailList,
              params=(LIMIT, Param("before", "query", {"type": "string", "format": "date-time"}),
                      ADMIN_BUSINESS), tags=("voicemails",)),
    Operation("get", "/voicemails/{recording_sid}/audio", "A voicemail's recording", Audio,
              params=(Param("recording_sid", "path", {"type": "string"}, required=True),),
              tags=("voicemails",)),
    # Follow-ups, outcomes, funnel and CRM webhooks (functions/followups.py)
    Operation("post", "/conversations/{conversation_id}/outcome", "Say what became of a lead",
              OutcomeRecorded, 201, OutcomeBody, params=(CONVERSATION_ID, IDEMPOTENCY_KEY),
              tags=("conversations",)),
    Operation("get", "/conversations/{conversation_id}/followups", "The conversation's "
              "follow-up steps", FollowupList, params=(CONVERSATION_ID,), tags=("followups",)),
    Operation("post", "/conversations/{conversation_id}/followups/next", "Send the next "
              "follow-up now", FollowupSent, params=(CONVERSATION_ID,), tags=("followups",)),
    Operation("get", "/reports/funnel", "Missed calls to outcomes, by day, week or month (JSON "
              "or CSV)", FunnelReport, params=(
                  Param("from", "query", DAY), Param("to", "query", DAY),
                  Param("group", "query", {"type": "string", "enum": ["day", "week", "month"]}),
                  Param("format", "query", {"type": "string", "enum": ["json", "csv"]}),
                  ADMIN_BUSINESS,
              ), tags=("reports",), extra_content={"text/csv": {"schema": {"type": "string"}}}),
    Operation("get", "/webhooks", "The business's CRM webhook endpoints", WebhookList,
              params=(ADMIN_BUSINESS,), tags=("webhooks",)),
    Operation("post", "/webhooks", "Add a CRM webhook endpoint", WebhookCreated, 201,
              EndpointCreate, params=(ADMIN_BUSINESS,), tags=("webhooks",)),
    Operation("get", "/webhooks/{endpoint_id}", "A webhook endpoint", WebhookResponse,
              params=(ENDPOINT_ID,), tags=("webhooks",)),
    Operation("patch", "/webhooks/{endpoint_id}", "Change a webhook endpoint",
              WebhookResponse, body=EndpointPatch, params=(ENDPOINT_ID,), tags=("webhooks",)),
    Operation("delete", "/webhooks/{endpoint_id}", "Remove a webhook endpoint",
              WebhookDeleted, params=(ENDPOINT_ID,), tags=("webhooks",)),
    Operation("get", "/webhooks/{endpoint_id}/deliveries", "Recent deliveries to an endpoint",
              DeliveryList, params=(ENDPOINT_ID, LIMIT), tags=("webhooks",)),
    Operation("post", "/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay", "Deliver "
              "again now", DeliveryReplayed,
              params=(ENDPOINT_ID, Param("delivery_id", "path", {"type": "integer"},
                                         required=True)), tags=("webhooks",)),
)  # fmt: skip

REF = "#/components/schemas/{model}"


def _parameter(param: Param) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": param.name, "in": param.where, "schema": param.schema}
    if param.required:
        spec["required"] = True
    if param.description:
        spec["description"] = param.description
    return spec


def _ref(model: type[BaseModel], mode: str, names: dict[Any, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = names[(model, mode)]
    return schema


def _operation(op: Operation, names: dict[Any, Any]) -> dict[str, Any]:
    error = {"application/json": {"schema": _ref(ErrorResponse, "serialization", names)}}
    content = (
        {"audio/wav": {"schema": {"type": "string", "contentMediaType": "audio/wav"}}}
        if op.response is Audio
        else {
            "application/json": {"schema": _ref(op.response, "serialization", names)},
            **op.extra_content,
        }
    )
    spec: dict[str, Any] = {
        "operationId": f"{op.method}{op.path}".replace("/", "_").replace("{", "").replace("}", ""),
        "summary": op.summary,
        "tags": list(op.tags),
        "parameters": [_parameter(p) for p in op.params],
        "responses": {
            str(op.status): {"description": op.summary, "content": content},
            "default": {"description": "an error", "content": error},
        },
    }
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(op.body, "validation", names)}},
        }
    return spec


@lru_cache(maxsize=4)
def openapi_document(server_url: str = "") -> dict[str, Any]:
    """The OpenAPI 3.1 document for /api/v1 (servers: `server_url` when given)."""
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (ErrorResponse, "serialization")
    ]
    for op in OPERATIONS:
        if op.response is not Audio:
            models.append((op.response, "serialization"))
        if op.body is not None:
            models.append((op.body, "validation"))
    names, definitions = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(f"/api/v1{op.path}", {})[op.method] = _operation(op, names)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "NeverMiss owner and admin API",
            "version": "1",
            "description": (
                "Send `Authorization: Bearer <key>` (an owner key sees only its business; the"
                " admin key, ADMIN_API_KEY, any). The web inbox's session cookie is a second way"
                " in for owners; with it, requests that change something also need the"
                ' session\'s `X-CSRF-Token`. Errors: `{"error": {"code", "message",'
                ' "details"}}`. Money is integer micro-USD.'
            ),
        },
        "servers": [{"url": server_url}] if server_url else [],
        "security": [{"bearerKey": []}, {"webSession": []}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearerKey": {"type": "http", "scheme": "bearer"},
                "webSession": {"type": "apiKey", "in": "cookie", "name": "nm_session"},
            },
        },
    }
