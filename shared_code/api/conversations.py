"""The conversation resource: list, read with messages, take over, release, close, send.

Same rules as the business endpoints: an owner key sees only its own business's conversations
(anything else is "not found"); the owner's actions go through `owner_relay`, the same code the
owner's SMS commands use. Reads come from `messaging.inbox`; this module only shapes them.
"""

from __future__ import annotations

import uuid

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from shared_code.api.auth import (
    SOURCE,
    ApiError,
    Json,
    Principal,
    business_for,
    not_found,
    parse_id,
    parse_model,
)
from shared_code.businesses import consents
from shared_code.businesses.store import get_business
from shared_code.messaging import inbox, owner_relay
from shared_code.platform.work import work

# The relay's refusals that are about the conversation's state (409), not the request (422).
_CONFLICTS = frozenset({"closed", "opted_out", "blocked", "landline", "undeliverable"})


class OwnerMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=1600)


def _conversation_json(row: asyncpg.Record) -> Json:
    return {
        "id": str(row["id"]),
        "business_id": str(row["business_id"]),
        "ref": row["ref"],
        "customer_phone": row["customer_phone"],
        "status": row["status"],
        "mode": row["mode"],
        "lead": row["lead"],
        "lead_qualified_at": row["lead_qualified_at"],
        "escalated_at": row["escalated_at"],
        "escalation_reason": row["escalation_reason"],
        "paused_reason": row["auto_paused_reason"],
        "opened_at": row["opened_at"],
        "last_activity_at": row["last_activity_at"],
        "closed_at": row["closed_at"],
        # What became of the lead (messaging.outcomes): booked, won (with its value), lost, spam.
        "outcome": row["outcome"],
        "outcome_value_micro": row["outcome_value_micro"],
        "outcome_reason": row["outcome_reason"],
        "outcome_at": row["outcome_at"],
    }


def _message_json(row: asyncpg.Record) -> Json:
    return {
        "id": row["id"],
        "direction": row["direction"],
        "author": row["author"],
        "kind": row["kind"],  # "text", or "voicemail" (the body is its transcript)
        "body": row["body"],
        "media": row["media"],
        "status": row["status"],
        "error_code": row["error_code"],
        "segments": row["segments"],
        "at": row["received_at"] or row["created_at"],
    }


def _visible(principal: Principal, row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None or not principal.may_touch(row["business_id"]):
        raise not_found("conversation")
    return row


async def list_conversations(principal: Principal, params: dict[str, str]) -> tuple[int, Json]:
    status = params.get("status", "open")
    if status not in inbox.STATUSES:
        raise ApiError(
            422, "validation_failed", f"status must be one of {', '.join(inbox.STATUSES)}"
        )
    try:
        limit = min(max(int(params.get("limit", "50")), 1), 200)
    except ValueError:
        raise ApiError(422, "validation_failed", "limit must be a number") from None
    rows = await inbox.list_conversations(business_for(principal, params), status, limit)
    return 200, {"conversations": [_conversation_json(r) for r in rows]}


async def read_conversation(principal: Principal, raw_id: str) -> tuple[int, Json]:
    thread = await inbox.read_thread(parse_id(raw_id, "conversation"))
    if thread is None:
        raise not_found("conversation")
    row = _visible(principal, thread.conversation)
    return 200, {
        "conversation": _conversation_json(row),
        "messages": [_message_json(m) for m in thread.messages],
        # The consent behind a conversation opened by a missed-call text-back, else null.
        "text_back_consent": await consents.for_call(row["origin_call_sid"], row["business_id"]),
    }


async def _owner_action(
    principal: Principal, raw_id: str, action: str, body: bytes = b""
) -> tuple[int, Json]:
    """Take over, release or send, in one unit of work with the conversation's row locked; the
    relay's refusals become 409 (the conversation's state) or 422 (the request)."""
    text = parse_model(OwnerMessage, body).body if action == "send" else ""
    conversation_id = parse_id(raw_id, "conversation")
    request = f"api:{uuid.uuid4()}"  # the texts this request causes are its own
    async with work(SOURCE) as w:
        row = _visible(principal, await inbox.conversation(w.conn, conversation_id, lock=True))
        business = await get_business(row["business_id"], w.conn)
        assert business is not None
        try:
            if action == "takeover":
                result = await owner_relay.take_over(w, row)
            elif action == "release":
                result = await owner_relay.release(w, business, row, about=request)
            elif action == "close":
                result = await owner_relay.close(w, row)
            else:
                result = await owner_relay.send_as_owner(w, business, row, text, about=request)
        except owner_relay.OwnerActionError as err:
            status = 409 if err.code in _CONFLICTS else 422
            raise ApiError(status, err.code, err.reason) from None
        fresh = await inbox.conversation(w.conn, conversation_id)  # as it will commit
    assert fresh is not None
    return 200, {"conversation": _conversation_json(fresh), "outcome": result.outcome}


async def take_over(principal: Principal, raw_id: str) -> tuple[int, Json]:
    return await _owner_action(principal, raw_id, "takeover")


async def release(principal: Principal, raw_id: str) -> tuple[int, Json]:
    return await _owner_action(principal, raw_id, "release")


async def close(principal: Principal, raw_id: str) -> tuple[int, Json]:
    return await _owner_action(principal, raw_id, "close")


async def send_message(principal: Principal, raw_id: str, body: bytes) -> tuple[int, Json]:
    return await _owner_action(principal, raw_id, "send", body)
