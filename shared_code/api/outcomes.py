"""`POST /api/v1/conversations/{id}/outcome`: the owner says what became of a lead.

Body: `{"outcome": "booked" | "won" | "lost" | "spam", "value_micro": 450000000, "reason": "..."}`
(`value_micro` only with won, `reason` only with lost). The marking is the same as the owner's
"#12 won 450" text (`messaging.outcomes.record`): the conversation keeps it, pending follow-ups
stop, `conversation.outcome_recorded` goes out. Any conversation of the business, open or
closed; another business's is "not found".
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared_code.api.auth import SOURCE, Json, Principal, not_found, parse_id, parse_model
from shared_code.businesses.store import get_business
from shared_code.messaging import inbox, outcomes
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


async def record_outcome(principal: Principal, raw_id: str, body: bytes) -> tuple[int, Json]:
    data = parse_model(OutcomeBody, body)
    conversation_id = parse_id(raw_id, "conversation")
    marking = outcomes.Marking(data.outcome, data.value_micro, data.reason)
    async with work(SOURCE) as w:
        row = await inbox.conversation(w.conn, conversation_id, lock=True)
        if row is None or not principal.may_touch(row["business_id"]):
            raise not_found("conversation")
        business = await get_business(row["business_id"], w.conn)
        assert business is not None
        marked = await outcomes.record(w, business, row, marking, source="api")
        assert marked is not None
        markings = await outcomes.history(w.conn, conversation_id)
    return 201, {
        "conversation_id": str(conversation_id),
        "outcome": data.outcome,
        "value_micro": data.value_micro,
        "reason": data.reason,
        "recorded_at": marked["recorded_at"],
        "history": [dict(m) for m in markings],
    }
