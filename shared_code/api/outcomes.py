"""`POST /api/v1/conversations/{id}/outcome`: the owner says what became of a lead.

Body: `{"outcome": "booked" | "won" | "lost" | "spam", "value_micro": 450000000, "reason": "..."}`
(`value_micro` only with won, `reason` only with lost). The marking is the same as the owner's
"#12 won 450" text (`messaging.outcomes.record`): the conversation keeps it, pending follow-ups
stop, `conversation.outcome_recorded` goes out. Any conversation of the business, open or
closed; another business's is "not found".

An `Idempotency-Key` header (1-200 visible ASCII characters, unique per business) makes the
request safe to retry: a repeat with the same key answers what the first one did (201, the
same marking) and records nothing again (no second marking, no second event). The same key
with another conversation or another outcome is 409 `idempotency_key_reused`.
"""

from __future__ import annotations

import re
import uuid
from typing import Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared_code.api.auth import (
    SOURCE,
    ApiError,
    Json,
    Principal,
    not_found,
    parse_id,
    parse_model,
)
from shared_code.businesses.store import get_business
from shared_code.messaging import inbox, outcomes
from shared_code.messaging.outcomes import Marking
from shared_code.platform.work import work


class OutcomeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["booked", "won", "lost", "spam"]
    value_micro: int | None = Field(default=None, ge=0, le=outcomes.MAX_VALUE_MICRO)
    reason: str | None = Field(default=None, min_length=1, max_length=300, pattern=r"^[^\x00]*$")

    @model_validator(mode="after")
    def _fits(self) -> OutcomeBody:
        if self.value_micro is not None and self.outcome != "won":
            raise ValueError("value_micro goes with outcome won")
        if self.reason is not None and self.outcome != "lost":
            raise ValueError("reason goes with outcome lost")
        return self


_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not _KEY.match(raw):
        raise ApiError(
            422, "validation_failed", "Idempotency-Key must be 1-200 visible ASCII characters"
        )
    return raw


def _same_request(first: asyncpg.Record, conversation_id: uuid.UUID, wanted: Marking) -> bool:
    """Whether the marking `first` (under this key) is what this request asks for (a value or
    reason left out may have been kept from before: see `outcomes.kept`)."""
    return (
        first["conversation_id"] == conversation_id
        and first["outcome"] == wanted.outcome
        and wanted.value_micro in (None, first["value_micro"])
        and wanted.reason in (None, first["reason"])
    )


async def record_outcome(
    principal: Principal, raw_id: str, body: bytes, raw_key: str | None = None
) -> tuple[int, Json]:
    data = parse_model(OutcomeBody, body)
    conversation_id = parse_id(raw_id, "conversation")
    key = idempotency_key(raw_key)
    marking = outcomes.Marking(data.outcome, data.value_micro, data.reason)
    async with work(SOURCE) as w:
        row = await inbox.conversation(w.conn, conversation_id, lock=True)
        if row is None or not principal.may_touch(row["business_id"]):
            raise not_found("conversation")
        request_key = f"api:{row['business_id']}:{key}" if key is not None else None
        marked = await outcomes.by_request_key(w.conn, request_key) if request_key else None
        if marked is None:
            business = await get_business(row["business_id"], w.conn)
            assert business is not None
            marked = await outcomes.record(
                w, business, row, marking, source="api", request_key=request_key
            )
        if marked is None:  # a request with the same key, on another conversation, won
            assert request_key is not None
            marked = await outcomes.by_request_key(w.conn, request_key)
            assert marked is not None
        if not _same_request(marked, conversation_id, marking):
            raise ApiError(
                409, "idempotency_key_reused", "this Idempotency-Key was used for another outcome"
            )
        markings = await outcomes.history(w.conn, conversation_id)
    return 201, {
        "conversation_id": str(conversation_id),
        "outcome": marked["outcome"],
        "value_micro": marked["value_micro"],
        "reason": marked["reason"],
        "recorded_at": marked["recorded_at"],
        "history": [dict(m) for m in markings if m["id"] <= marked["id"]],
    }
