"""The missed-call handler: one queued call report in, at most one text-back out.

Idempotency and the messaging rules are enforced by the database inside one transaction:
the call row (one per CallSid) is locked, so concurrent deliveries of the same call serialise and
later ones see it decided; the contact row (one per caller and business) is locked too, so two
different calls from the same caller cannot both pass the cooldown; the cooldown itself is claimed
by a guarded UPDATE; one open conversation per caller is a partial unique index. The SMS is sent
inside the transaction: if sending fails, everything rolls back and the queue retries.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from shared_code.businesses import templates
from shared_code.businesses.contacts import lock_contact
from shared_code.businesses.hours import quiet_until
from shared_code.businesses.store import Business, business_by_number
from shared_code.calls.classification import classify
from shared_code.messaging import outbound
from shared_code.platform import events, queues
from shared_code.platform.db import get_pool
from shared_code.platform.phones import try_e164
from shared_code.platform.settings import get_settings

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/missed_call"


@dataclass(frozen=True)
class CallReport:
    """What a voice webhook learned about a call, as queued for the handler."""

    call_sid: str
    from_number: str
    to_number: str
    source: str
    dial_status: str | None = None
    duration_seconds: int | None = None
    answered_by: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "call_sid": self.call_sid,
            "from": self.from_number,
            "to": self.to_number,
            "source": self.source,
            "dial_status": self.dial_status,
            "duration": self.duration_seconds,
            "answered_by": self.answered_by,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> CallReport:
        """Raises KeyError/ValueError/TypeError on a malformed message (it goes to poison)."""
        sid = str(payload["call_sid"])
        if not sid.startswith("CA") or len(sid) > 64:
            raise ValueError(f"not a CallSid: {sid!r}")
        duration = payload.get("duration")
        return cls(
            call_sid=sid,
            from_number=str(payload.get("from") or ""),
            to_number=str(payload["to"]),
            source=str(payload["source"]),
            dial_status=payload.get("dial_status"),
            duration_seconds=int(duration) if duration not in (None, "") else None,
            answered_by=payload.get("answered_by"),
        )


@dataclass
class Outcome:
    call_sid: str
    status: str  # the call's text_back_status after this delivery, or "duplicate"/"unknown"
    event_ids: list[uuid.UUID] = field(default_factory=list)
    hold_seconds: int = 0


async def handle_call_report(payload: dict[str, Any]) -> Outcome:
    report = CallReport.from_payload(payload)
    to_number = try_e164(report.to_number)
    business = await business_by_number(to_number) if to_number else None
    if business is None:
        log.warning("call %s to unknown number %s: ignored", report.call_sid, report.to_number)
        return Outcome(report.call_sid, "unknown-business")

    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():
        outcome = await _decide_and_act(conn, business, report)
    await events.publish_now(outcome.event_ids)
    if outcome.hold_seconds:
        await queues.enqueue(queues.CALLS_QUEUE, payload, delay_seconds=outcome.hold_seconds)
    log.info("call %s: %s", report.call_sid, outcome.status)
    return outcome


async def _decide_and_act(
    conn: asyncpg.Connection, business: Business, report: CallReport
) -> Outcome:
    settings = get_settings()
    verdict = classify(
        report.dial_status, report.duration_seconds, report.answered_by,
        settings.min_answered_seconds,
    )  # fmt: skip
    caller = try_e164(report.from_number)
    await conn.execute(
        "INSERT INTO calls (call_sid, business_id, from_number, to_number, source, dial_status,"
        " duration_seconds, answered_by, missed, miss_reason, text_back_status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (call_sid) DO NOTHING",
        report.call_sid, business.id, caller or report.from_number, business.phone_number,
        report.source, report.dial_status, report.duration_seconds, report.answered_by,
        verdict.missed, verdict.reason, "pending" if verdict.missed else "not_missed",
    )  # fmt: skip
    call = await conn.fetchrow(
        "SELECT * FROM calls WHERE call_sid = $1 FOR UPDATE", report.call_sid
    )
    assert call is not None
    outcome = Outcome(report.call_sid, call["text_back_status"])
    if call["text_back_status"] not in ("pending", "held"):
        outcome.status = "duplicate" if call["decided_at"] else outcome.status
        await _mark_decided(conn, report.call_sid, call["text_back_status"])
        return outcome

    now = datetime.now(UTC)
    if call["text_back_status"] == "held" and call["hold_until"] > now:
        outcome.status, outcome.hold_seconds = "held", _seconds_until(call["hold_until"], now)
        return outcome

    status, hold_until = await _suppression(conn, business, caller, now)
    if status == "pending":
        assert caller is not None
        status = await _send_text_back(conn, business, caller, report.call_sid, outcome)
    await conn.execute(
        "UPDATE calls SET text_back_status = $2, hold_until = $3, decided_at = now()"
        " WHERE call_sid = $1",
        report.call_sid, status, hold_until,
    )  # fmt: skip
    outcome.status = status
    if hold_until is not None:
        outcome.hold_seconds = _seconds_until(hold_until, now)
    if call["text_back_status"] == "pending" and status not in _NO_ALERT:
        conversation = None
        if caller is not None:
            conversation = await conn.fetchrow(
                "SELECT id, ref FROM conversations WHERE business_id = $1"
                " AND customer_phone = $2 AND status = 'open'",
                business.id, caller,
            )  # fmt: skip
        outcome.event_ids.append(
            await events.record_event(
                conn,
                events.CALL_MISSED,
                SOURCE,
                {
                    "business_id": str(business.id),
                    "call_sid": report.call_sid,
                    "caller": caller or report.from_number,
                    "business_number": business.phone_number,
                    "reason": call["miss_reason"],
                    "text_back_status": status,
                    "hold_until": hold_until.isoformat() if hold_until else None,
                    "conversation_id": str(conversation["id"]) if conversation else None,
                    "conversation_ref": conversation["ref"] if conversation else None,
                    "received_at": call["received_at"].isoformat(),
                },
                fact=(report.call_sid,),
                subject=f"businesses/{business.id}/calls/{report.call_sid}",
            )
        )
    return outcome


# Missed calls the owner is not alerted about: their own phones, and numbers they blocked.
_NO_ALERT = frozenset({"suppressed_own_number", "suppressed_blocked"})


async def _mark_decided(conn: asyncpg.Connection, call_sid: str, status: str) -> None:
    await conn.execute(
        "UPDATE calls SET decided_at = now() WHERE call_sid = $1 AND decided_at IS NULL", call_sid
    )


async def _suppression(
    conn: asyncpg.Connection, business: Business, caller: str | None, now: datetime
) -> tuple[str, datetime | None]:
    """The first messaging rule that forbids a text-back now, or "pending" if none does."""
    if caller is None:
        return "suppressed_invalid_number", None
    if caller in (business.phone_number, business.owner_phone):
        return "suppressed_own_number", None
    if business.is_blocked(caller):
        return "suppressed_blocked", None
    # Upsert-and-lock the contact: every text-back decision for this caller serialises here.
    contact = await lock_contact(conn, business.id, caller)
    if contact["opted_out_at"] is not None:
        return "suppressed_opted_out", None
    if contact["is_landline"]:
        return "suppressed_landline", None
    open_conversation = await conn.fetchval(
        "SELECT 1 FROM conversations WHERE business_id = $1 AND customer_phone = $2"
        " AND status = 'open'",
        business.id, caller,
    )  # fmt: skip
    if open_conversation:
        return "suppressed_open_conversation", None
    if not await _cooldown_free(conn, business, caller):
        return "suppressed_cooldown", None
    settings = get_settings()
    hold = quiet_until(
        business.time_zone, now, settings.quiet_hours_start, settings.quiet_hours_end
    )
    if hold is not None:
        return "held", hold
    return "pending", None


def _cooldown_seconds() -> float:
    return get_settings().text_back_cooldown_hours * 3600


async def _cooldown_free(conn: asyncpg.Connection, business: Business, caller: str) -> bool:
    free = await conn.fetchval(
        "SELECT last_text_back_at IS NULL"
        "    OR last_text_back_at <= now() - make_interval(secs => $3)"
        " FROM contacts WHERE business_id = $1 AND phone = $2",
        business.id, caller, _cooldown_seconds(),
    )  # fmt: skip
    return bool(free)


async def _send_text_back(
    conn: asyncpg.Connection, business: Business, caller: str, call_sid: str, outcome: Outcome
) -> str:
    claimed = await conn.fetchval(
        "UPDATE contacts SET last_text_back_at = now() WHERE business_id = $1 AND phone = $2"
        " AND (last_text_back_at IS NULL"
        "      OR last_text_back_at <= now() - make_interval(secs => $3)) RETURNING 1",
        business.id, caller, _cooldown_seconds(),
    )  # fmt: skip
    if not claimed:
        return "suppressed_cooldown"
    conversation_id = await conn.fetchval(
        "INSERT INTO conversations (business_id, customer_phone, origin_call_sid)"
        " VALUES ($1, $2, $3)"
        " ON CONFLICT (business_id, customer_phone) WHERE status = 'open' DO NOTHING RETURNING id",
        business.id, caller, call_sid,
    )  # fmt: skip
    if conversation_id is None:
        return "suppressed_open_conversation"
    text = templates.first_message(
        templates.render(
            "text_back", business.templates,
            business_name=business.name, owner_name=business.owner_name or "", caller=caller,
        ),
        business.name,
    )  # fmt: skip
    sent = await outbound.send_text(
        conn, business, to=caller, body=text, author="system", kind="text_back",
        conversation_id=conversation_id, automated=True, source=SOURCE,
    )  # fmt: skip
    await conn.execute(
        "UPDATE calls SET conversation_id = $2, text_back_sid = $3 WHERE call_sid = $1",
        call_sid, conversation_id, sent.sid,
    )  # fmt: skip
    outcome.event_ids.extend(sent.event_ids)
    return "sent"


def _seconds_until(when: datetime, now: datetime) -> int:
    return max(1, int((when - now).total_seconds()) + 1)
