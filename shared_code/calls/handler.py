"""The missed-call handler: one queued call report in, at most one text-back out.

Read | decide | write, in one unit of work. Idempotency and the messaging rules are enforced by
the database inside its transaction: the call row (one per CallSid) is locked, so concurrent
deliveries of the same call serialise and later ones see it decided; the contact row (one per
caller and business) is locked too, so two different calls from the same caller cannot both pass
the cooldown; the cooldown itself is claimed by a guarded UPDATE; one open conversation per
caller is a partial unique index. What to do is `decision.decide`'s, from the facts read here.
The text-back is committed as an intent with the decision and sent after commit
(messaging.delivery): what Twilio answers never rolls the call back, and the owner's alert
(`call.missed`) never depends on it. The delayed redelivery of a held text-back leaves after
commit too.

A call's verdict (calls.classification) is taken on its first delivery, from the report and the
bridged leg's facts (`call_legs`). Answering-machine detection may say "machine" only after the
call was recorded as answered: its report (source "amd") revises the row to a miss in one
guarded UPDATE, and the miss is then decided like any other, so the caller gets one text-back
and the owner one alert whichever order the reports arrive in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from shared_code.businesses import consents, contacts, templates
from shared_code.businesses.hours import quiet_until
from shared_code.businesses.store import Business, business_by_number, get_business
from shared_code.calls import legs
from shared_code.calls.classification import MACHINE, MISSED_STATUSES, UNDIALLED_REASONS, classify
from shared_code.calls.decision import (
    CallAsFound,
    Decision,
    SuppressionFacts,
    Write,
    decide,
    initial_text_back_status,
)
from shared_code.calls.greetings import PROMISES_A_TEXT, greeting_text
from shared_code.contracts import CallMissed, CallReport
from shared_code.messaging import conversations, outbound
from shared_code.platform.db import get_pool
from shared_code.platform.phones import try_e164
from shared_code.platform.settings import get_settings
from shared_code.platform.work import Work, work

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/missed_call"
# A machine verdict whose call is not recorded yet is put back this often, this long apart.
NO_CALL_ATTEMPTS = 5
NO_CALL_RETRY_SECONDS = 10


@dataclass(frozen=True)
class Outcome:
    call_sid: str
    # the call's text_back_status after this delivery, "duplicate", "unknown-business", or
    # "no-call" (a machine verdict for a call not recorded yet)
    status: str
    hold_seconds: int = 0  # a held text-back: the report comes back after this long


async def handle_call_report(report: CallReport) -> Outcome:
    if report.source == "amd":
        return await _handle_machine_verdict(report)
    to_number = try_e164(report.to_number)
    business = await business_by_number(to_number) if to_number else None
    if business is None:
        log.warning("call %s to unknown number %s: ignored", report.call_sid, report.to_number)
        return Outcome(report.call_sid, "unknown-business")
    return await _handle(business, report)


async def _handle_machine_verdict(report: CallReport) -> Outcome:
    """Answering-machine detection said a machine took the call's bridged leg, after the Dial
    ended (/voice/amd). A call already recorded as answered is revised to a miss and then
    decided like any miss: one text-back, one owner alert. Twilio sends no numbers with the
    verdict: the call's own row has them. Before that row is visible the report comes back
    after NO_CALL_RETRY_SECONDS (up to NO_CALL_ATTEMPTS times): the call's first delivery reads
    the leg's verdict in `call_legs`, but it may have read it just before the verdict
    committed, and then only this report can revise it."""
    pool = await get_pool()
    found = await pool.fetchrow(
        "SELECT business_id, from_number, to_number FROM calls WHERE call_sid = $1",
        report.call_sid,
    )
    if found is None:
        # The dial-status transaction may have read `call_legs` before the verdict committed
        # and not be committed itself yet: come back shortly (bounded), the row will be there.
        if report.attempt < NO_CALL_ATTEMPTS:
            again = report.model_copy(update={"attempt": report.attempt + 1})
            async with work(SOURCE, begin=False) as w:
                w.after_commit(again, delay_seconds=NO_CALL_RETRY_SECONDS)
            log.info(
                "call %s: machine verdict before the call's row, back in %d s (attempt %d)",
                report.call_sid, NO_CALL_RETRY_SECONDS, again.attempt,
            )  # fmt: skip
        else:
            log.warning("call %s: machine verdict for a call never recorded", report.call_sid)
        return Outcome(report.call_sid, "no-call")
    business = await get_business(found["business_id"])
    if business is None:
        return Outcome(report.call_sid, "unknown-business")
    numbers = {"from_number": found["from_number"], "to_number": found["to_number"]}
    return await _handle(business, report.model_copy(update=numbers))


async def _handle(business: Business, report: CallReport) -> Outcome:
    async with work(SOURCE) as w:
        outcome = await _read_decide_write(w, business, report)
        if outcome.hold_seconds:
            w.after_commit(report, delay_seconds=outcome.hold_seconds)
    log.info("call %s: %s", report.call_sid, outcome.status)
    return outcome


async def _read_decide_write(w: Work, business: Business, report: CallReport) -> Outcome:
    caller = try_e164(report.from_number)
    row = await _record_call(w.conn, business, report, caller)
    call = CallAsFound.from_row(row)
    now = datetime.now(UTC)
    facts = None
    if call.awaits_text_back(now):
        facts = await _suppression_facts(w.conn, business, caller, now, report.call_sid)
    decision = decide(call, facts, now)
    status = await _carry_out(w, business, report, caller, row, decision)
    hold = _seconds_until(decision.hold_until, now) if decision.hold_until else 0
    return Outcome(report.call_sid, status, hold)


async def _record_call(
    conn: asyncpg.Connection, business: Business, report: CallReport, caller: str | None
) -> asyncpg.Record:
    """The call's row, created on its first delivery (revised by a machine verdict) and locked
    for this transaction."""
    if report.source == "amd":
        await _revise_answered_to_machine(conn, report)
    else:
        await _insert_call(conn, business, report, caller)
    row = await conn.fetchrow("SELECT * FROM calls WHERE call_sid = $1 FOR UPDATE", report.call_sid)
    assert row is not None
    return row


async def _insert_call(
    conn: asyncpg.Connection, business: Business, report: CallReport, caller: str | None
) -> None:
    accepted, answered_by = await _leg_facts(conn, report)
    verdict = classify(
        report.dial_status, report.duration_seconds, answer_check=report.answer_check,
        accepted=accepted, answered_by=answered_by,
        min_answered_seconds=get_settings().min_answered_seconds,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO calls (call_sid, business_id, from_number, to_number, source, dial_status,"
        " duration_seconds, answered_by, missed, miss_reason, text_back_status, answer_check,"
        " accepted, leg_sid, greeting)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        " ON CONFLICT (call_sid) DO NOTHING",
        report.call_sid, business.id, caller or report.from_number, business.phone_number,
        report.source, report.dial_status, report.duration_seconds, answered_by,
        verdict.missed, verdict.reason, initial_text_back_status(verdict), report.answer_check,
        accepted, report.leg_sid, report.greeting,
    )  # fmt: skip


async def _leg_facts(
    conn: asyncpg.Connection, report: CallReport
) -> tuple[bool | None, str | None]:
    """The bridged leg's acceptance and AMD verdict: as the webhook read them, or as recorded
    since. The webhook reads within a deadline and an AMD verdict may land after it read, so
    what the leg's own webhooks recorded is read again here (no lock: they only ever add)."""
    accepted, answered_by = report.accepted, report.answered_by
    needs_leg = (report.answer_check == "press_key" and not accepted) or (
        report.answer_check == "amd" and answered_by is None
    )
    if needs_leg and report.leg_sid:
        leg = await legs.leg_facts(conn, report.leg_sid)
        if leg is not None:
            if report.answer_check == "press_key":
                accepted = leg.accepted
            else:
                answered_by = leg.answered_by
    return accepted, answered_by


async def _revise_answered_to_machine(conn: asyncpg.Connection, report: CallReport) -> None:
    """One guarded UPDATE: only a call recorded as answered on this very leg becomes a miss (a
    verdict on a leg that was never bridged, or a second delivery, changes nothing)."""
    revised = await conn.fetchval(
        "UPDATE calls SET missed = true, miss_reason = $2, answered_by = $3,"
        " text_back_status = 'pending'"
        " WHERE call_sid = $1 AND leg_sid = $4 AND NOT missed AND text_back_status = 'not_missed'"
        " RETURNING 1",
        report.call_sid, MACHINE, report.answered_by, report.leg_sid,
    )  # fmt: skip
    if revised:
        log.info("call %s: answered by a machine, revised to a miss", report.call_sid)


async def _suppression_facts(
    conn: asyncpg.Connection, business: Business, caller: str | None, now: datetime, call_sid: str
) -> SuppressionFacts:
    """What the messaging rules ask about the caller. The contact is upserted and locked first:
    every text-back decision for this caller serialises there. A conversation this very call
    started (its voicemail, processed first) is not in the way: the text-back goes into it."""
    if caller is None:
        return SuppressionFacts(block="invalid_number")
    block = await contacts.block_reason(conn, business, caller, lock=True)
    if block is not None:
        return SuppressionFacts(block=block)
    settings = get_settings()
    return SuppressionFacts(
        open_conversation=await conversations.find_open(
            conn, business.id, caller, not_from_call=call_sid
        )
        is not None,
        cooldown_over=await contacts.text_back_cooldown_over(
            conn, business.id, caller, _cooldown_seconds()
        ),
        quiet_until=quiet_until(
            business.time_zone, now, settings.quiet_hours_start, settings.quiet_hours_end
        ),
    )


async def _carry_out(
    w: Work,
    business: Business,
    report: CallReport,
    caller: str | None,
    row: asyncpg.Record,
    decision: Decision,
) -> str:
    """Write what `decision` says; returns the call's status as written."""
    if decision.write is Write.MARK_DECIDED:
        await w.conn.execute(
            "UPDATE calls SET decided_at = now() WHERE call_sid = $1 AND decided_at IS NULL",
            report.call_sid,
        )
        return decision.status
    if decision.write is Write.NOTHING:
        return decision.status
    status = decision.status
    if decision.send_text_back:
        assert caller is not None
        status = await _send_text_back(w, business, caller, report.call_sid)
        if status == "sent":  # the consent record, in the text-back's own transaction
            await consents.record_text_back(
                w.conn, business, report.call_sid, caller,
                heard_greeting=_heard_greeting(report), greeting=_greeting_heard(business, report),
            )  # fmt: skip
    await w.conn.execute(
        "UPDATE calls SET text_back_status = $2, hold_until = $3, decided_at = now()"
        " WHERE call_sid = $1",
        report.call_sid, status, decision.hold_until,
    )  # fmt: skip
    if decision.alert_owner:
        w.record(await _call_missed(w.conn, business, report, caller, row, status, decision))
    return status


async def _send_text_back(w: Work, business: Business, caller: str, call_sid: str) -> str:
    """Claim the cooldown, open the conversation, send: "sent", or the race that was lost."""
    if business.sending_paused_reason:  # before the cooldown: it stays free for after the pause
        return "suppressed_sending_paused"
    if not await contacts.claim_text_back(w.conn, business.id, caller, _cooldown_seconds()):
        return "suppressed_cooldown"
    # A new conversation, or the one this call's voicemail opened.
    conversation_id = await conversations.open_for_missed_call(
        w.conn, business.id, caller, call_sid
    )
    if conversation_id is None:
        return "suppressed_open_conversation"
    text = templates.first_message(
        templates.render(
            "text_back", business.templates,
            business_name=business.name, owner_name=business.owner_name or "", caller=caller,
            **templates.booking_fields(business.booking_url),
        ),
        business.name,
    )  # fmt: skip
    try:
        await outbound.send_after_commit(
            w, business, to=caller, body=text, author="system", kind="text_back",
            fact=f"text_back:{call_sid}", conversation_id=conversation_id, automated=True,
        )  # fmt: skip
    except outbound.SendBlocked as blocked:  # a rule the suppression does not read (a pause)
        return f"suppressed_{blocked.reason}"
    await w.conn.execute(
        "UPDATE calls SET conversation_id = $2 WHERE call_sid = $1", call_sid, conversation_id
    )
    return "sent"


async def _call_missed(
    conn: asyncpg.Connection,
    business: Business,
    report: CallReport,
    caller: str | None,
    row: asyncpg.Record,
    status: str,
    decision: Decision,
) -> CallMissed:
    conversation = await conversations.find_open(conn, business.id, caller) if caller else None
    return CallMissed(
        business_id=business.id,
        call_sid=report.call_sid,
        caller=caller or report.from_number,
        business_number=business.phone_number,
        reason=row["miss_reason"],
        text_back_status=status,
        hold_until=decision.hold_until,
        conversation_id=conversation["id"] if conversation else None,
        conversation_ref=conversation["ref"] if conversation else None,
        received_at=row["received_at"],
    )


def _heard_greeting(report: CallReport) -> bool:
    """Whether the caller heard a greeting that promised this text (calls.greetings): as the
    voice webhook chose it, or, for reports queued before it said, a call missed before
    dialling or a dialled leg that ended in a missed status (both were greeted then)."""
    if report.greeting is not None:
        return report.greeting in PROMISES_A_TEXT
    if report.source in UNDIALLED_REASONS:
        return True
    return report.source == "dial-status" and report.dial_status in MISSED_STATUSES


def _greeting_heard(business: Business, report: CallReport) -> str | None:
    """The words of the greeting the webhook chose (None: it did not say; the business's
    missed-call greeting is assumed, as before the choice existed)."""
    if report.greeting is None:
        return None
    return greeting_text(business, report.greeting, after_hours=report.source == "after-hours")


def _cooldown_seconds() -> float:
    return get_settings().text_back_cooldown_hours * 3600


def _seconds_until(when: datetime, now: datetime) -> int:
    return max(1, int((when - now).total_seconds()) + 1)
