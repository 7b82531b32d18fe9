"""Sending a committed text: claim it, send it with no transaction open, mark it.

An intent (`outbound_texts`, written by `outbound.send_after_commit` with the decision) moves
`pending` → `sending` → `sent` or `failed`, each step one guarded statement:

- the claim (`pending`, or `sending` for longer than any live attempt can take: see
  `stale_after_seconds`) is committed before Twilio is called, so a second worker never sends
  the same intent at once. The per-number pace is waited out before the claim, so a claim is
  only ever held for the Twilio request itself;
- an intent found `sending` was claimed by an attempt whose outcome we never learned (a crash
  or a timeout between Twilio's answer and the mark). Twilio's Messages API has no idempotency
  key, so it is looked up at Twilio first (`twilio_client.find_sent`) and resent only if absent;
- Twilio's refusals are sorted by `twilio_errors`: rate limits and 5xx are retried a few times
  with backoff (tenacity), then left `pending` for the outbox timer's sweep (`send_unsent`);
  an opted-out, landline or undeliverable number is recorded on the contact; a sender
  configuration error pauses the business's automated texts and is logged for the operator;
  nothing refused is retried blindly;
- the mark writes the sid on the intent and its message and records `message.sent` and
  `usage.recorded` (segments), in one unit of work;
- a sign-in code's text (kind `login_code`) keeps its body only while it may still be sent or
  looked up: the statement that marks it sent, or failed for good, replaces the body with
  "[sign-in code]" (`_REDACTED_BODY`), so no code stays readable in the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from shared_code.businesses import contacts, store
from shared_code.businesses.store import Business
from shared_code.contracts import MessageSent, UsageRecorded
from shared_code.messaging import send_rules
from shared_code.platform import cache
from shared_code.platform import events as outbox
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings
from shared_code.platform.sms_segments import SegmentCount, count_segments
from shared_code.platform.twilio_client import OutgoingSms, SentMessage, find_sent, send_sms
from shared_code.platform.twilio_errors import TwilioErrorKind, classify
from shared_code.platform.work import work

log = logging.getLogger(__name__)

SMS_STATUS_PATH = "/api/sms/status"
# Twilio stamps date_created in whole seconds: look a little before the intent was written.
_LOOKUP_SLACK = timedelta(seconds=5)
_SEND_TRIES = 3  # attempts within one delivery for a transient refusal (then the sweep)
HELD = "held:"  # a retry's re-check that says "not now" (quiet hours) rather than "never"
# The body a final mark leaves: a sign-in code's text is redacted (constants, not input).
_REDACTED_BODY = (
    f"CASE WHEN kind = '{send_rules.LOGIN_CODE}' THEN '{send_rules.LOGIN_CODE_REDACTED}'"
    " ELSE body END"
)


async def write_intent(
    conn: asyncpg.Connection,
    fact: str,
    business: Business,
    conversation_id: uuid.UUID | None,
    *,
    to: str,
    body: str,
    author: str,
    kind: str,
    automated: bool,
    allow_opted_out: bool,
    segments: SegmentCount,
    validity_seconds: int | None,
    source: str,
) -> int:
    """The intent for `fact` (and its pending message in a conversation), in one statement;
    returns its id. An intent already written for the fact is returned as it is, and no second
    message is stored."""
    row = await conn.fetchrow(
        "WITH existing AS (SELECT id, message_id FROM outbound_texts WHERE fact_key = $1),"
        " stored AS (INSERT INTO messages (conversation_id, direction, author, body, status,"
        "   segments, encoding, automated)"
        "   SELECT $3, 'outbound', $7, $6, 'pending', $12, $13, $9"
        "   WHERE $3::uuid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM existing) RETURNING id),"
        " touched AS (UPDATE conversations SET last_activity_at = now()"
        "   WHERE id = $3 AND EXISTS (SELECT 1 FROM stored)),"
        " intent AS (INSERT INTO outbound_texts (fact_key, business_id, conversation_id,"
        "   message_id, to_number, from_number, messaging_service_sid, body, author, kind,"
        "   automated, validity_seconds, source, allow_opted_out)"
        "   SELECT $1, $2, $3, (SELECT id FROM stored), $4, $5, $11, $6, $7, $8, $9, $10, $14,"
        "   $15"
        "   WHERE NOT EXISTS (SELECT 1 FROM existing)"
        "   ON CONFLICT (fact_key) DO NOTHING RETURNING id, message_id)"
        " SELECT (SELECT id FROM intent) AS id, (SELECT id FROM existing) AS existing_id,"
        "   (SELECT id FROM stored) AS stored_id",
        fact, business.id, conversation_id, to, business.phone_number, body, author, kind,
        automated, validity_seconds, business.messaging_service_sid, segments.segments,
        segments.encoding, source, allow_opted_out,
    )  # fmt: skip
    assert row is not None
    if row["id"] is not None or row["existing_id"] is not None:
        text_id: int = row["id"] or row["existing_id"]
        return text_id
    # A concurrent transaction wrote the fact's intent after our snapshot: the message we
    # stored belongs to no intent. Take it back and use theirs.
    if row["stored_id"] is not None:
        await conn.execute("DELETE FROM messages WHERE id = $1", row["stored_id"])
    theirs: int | None = await conn.fetchval(
        "SELECT id FROM outbound_texts WHERE fact_key = $1", fact
    )
    assert theirs is not None
    return theirs


_CLAIM = """
WITH before AS (
    SELECT id, status FROM outbound_texts WHERE id = $1 FOR UPDATE
)
UPDATE outbound_texts t SET status = 'sending', attempts = t.attempts + 1,
       sending_since = now()
FROM before b
WHERE t.id = b.id AND (b.status = 'pending'
      OR (b.status = 'sending' AND t.sending_since < now() - make_interval(secs => $2)))
RETURNING t.*, b.status AS claimed_from
"""


def stale_after_seconds() -> float:
    """How long a claim may be held by an attempt that is still alive: its Twilio request with
    every retry (each bounded by TWILIO_TIMEOUT_SECONDS), plus the sweep's grace. A claim older
    than this belongs to an attempt that died."""
    settings = get_settings()
    # each try's deadline and a lookup's before it, plus the backoff (0.6 s) and a margin
    return settings.send_retry_after_seconds + 2 * _SEND_TRIES * settings.twilio_timeout_seconds + 2


@dataclass(frozen=True)
class Outcome:
    status: str  # sent, found (an earlier attempt had sent it), failed, retry_later, not_due
    sid: str | None = None


async def deliver(text_id: int, sender: str) -> Outcome:
    """Send intent `text_id` (from `sender`, whose pace it keeps) unless it was sent or is being
    sent right now. Never raises for Twilio's answers; a database or network error leaves the
    intent for the sweep."""
    await pace(sender)
    pool = await get_pool()
    intent = await pool.fetchrow(_CLAIM, text_id, stale_after_seconds())
    if intent is None:
        return Outcome("not_due")
    sms = OutgoingSms(
        to=intent["to_number"], from_=intent["from_number"], body=intent["body"],
        messaging_service_sid=intent["messaging_service_sid"],
        validity_seconds=intent["validity_seconds"],
    )  # fmt: skip
    if intent["attempts"] > get_settings().send_max_attempts:
        await _set_status(pool, intent, "failed", None, "gave up: too many attempts")
        log.warning("text %s given up after %d attempts", text_id, intent["attempts"] - 1)
        return Outcome("failed")
    if intent["attempts"] > 1:  # a retry: the rules may have changed since the decision
        blocked = await _now_blocked(intent)
        if blocked is not None and blocked.startswith(HELD):  # quiet hours: not now, not never
            await _hold(pool, intent, blocked)
            log.info("text %s not retried yet: %s", text_id, blocked)
            return Outcome("retry_later")
        if blocked is not None:
            await _set_status(pool, intent, "failed", None, f"blocked: {blocked}")
            log.info("text %s not retried: %s since it was decided", text_id, blocked)
            return Outcome("failed")
    if intent["claimed_from"] == "sending":
        found = await _find_unrecorded(sms, intent)
        if found is not None:
            log.info("text %s was sent before (%s): marked, not resent", text_id, found.sid)
            await _mark_sent(intent, found)
            return Outcome("found", found.sid)
    try:
        sent = await _send(sms, intent)
    except Exception as exc:
        return await _refused(intent, exc)
    await _mark_sent(intent, sent)
    return Outcome("sent", sent.sid)


async def _send(sms: OutgoingSms, intent: asyncpg.Record) -> SentMessage:
    """Twilio's transient refusals are retried a few times with backoff. After a rate limit
    (429/20429, refused before anything happened) the text is resent as is; after a 5xx, which
    may come from a request Twilio did act on, it is looked up first. A refusal of this text,
    and any error in flight, are not retried here."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(_transient_refusal),
        stop=stop_after_attempt(_SEND_TRIES),
        wait=wait_exponential(multiplier=0.2, max=1),
        reraise=True,
    )
    last: BaseException | None = None
    async for attempt in retrying:
        with attempt:
            if last is not None and not _rate_limited(last):
                found = await _find_unrecorded(sms, intent)
                if found is not None:
                    return found
            try:
                return await send_sms(sms, SMS_STATUS_PATH)
            except Exception as exc:
                last = exc
                raise
    raise AssertionError("unreachable: tenacity reraises the last error")


def _rate_limited(exc: BaseException) -> bool:
    refusal = _twilio_code(exc)
    return refusal is not None and (refusal[0] == 20429 or refusal[1] == 429)


async def _find_unrecorded(sms: OutgoingSms, intent: asyncpg.Record) -> SentMessage | None:
    """The message Twilio has for this intent: a match (recipient, body, time) whose sid no
    other intent already holds (two identical texts to one number are two messages)."""
    candidates = await find_sent(sms, intent["created_at"] - _LOOKUP_SLACK)
    if not candidates:
        return None
    pool = await get_pool()
    taken = {
        row["message_sid"]
        for row in await pool.fetch(
            "SELECT message_sid FROM outbound_texts WHERE message_sid = ANY($1::text[])",
            [c.sid for c in candidates],
        )
    }
    return next((c for c in candidates if c.sid not in taken), None)


async def _now_blocked(intent: asyncpg.Record) -> str | None:
    """Why a retried intent must not go out now (the customer opted out, the number was found
    to be a landline, the business's sending was paused), or None. A follow-up is decided
    again as its step was (`followups.recheck_retry`: the customer replied since, the owner
    took over, closed it or marked an outcome); quiet hours give "held:quiet_hours"."""
    business = await store.get_business(intent["business_id"])
    if business is None:
        return "no_business"
    pool = await get_pool()
    async with pool.acquire() as conn:
        refusal = await send_rules.refusal(
            conn, business, intent["to_number"], kind=intent["kind"],
            automated=intent["automated"], allow_opted_out=intent["allow_opted_out"],
        )  # fmt: skip
        if refusal is not None or intent["kind"] != "followup":
            return refusal
        # Imported here: followups sends through outbound, which imports this module.
        from shared_code.messaging import followups

        decision = await followups.recheck_retry(conn, business, intent)
    if decision.action == "send":
        return None
    return f"{HELD}{decision.reason}" if decision.action == "hold" else decision.reason


async def _hold(pool: asyncpg.Pool, intent: asyncpg.Record, why: str) -> None:
    """Put a retried intent back as it was claimed (a `sending` one is still looked up before
    any resend), its attempt not counted: the sweep decides it again next time."""
    await pool.execute(
        "UPDATE outbound_texts SET status = $3, attempts = attempts - 1, sending_since = now(),"
        " error = $4 WHERE id = $1 AND status = 'sending' AND attempts = $2",
        intent["id"], intent["attempts"], intent["claimed_from"], why,
    )  # fmt: skip


def _twilio_code(exc: BaseException) -> tuple[int | None, int | None] | None:
    """(code, HTTP status) of a Twilio refusal; None for anything that is not one."""
    from twilio.base.exceptions import TwilioRestException

    if isinstance(exc, TwilioRestException):
        return getattr(exc, "code", None), getattr(exc, "status", None)
    return None


def _transient_refusal(exc: BaseException) -> bool:
    refusal = _twilio_code(exc)
    return refusal is not None and classify(*refusal) is TwilioErrorKind.TRANSIENT


async def _refused(intent: asyncpg.Record, exc: Exception) -> Outcome:
    refusal = _twilio_code(exc)
    code, status = refusal if refusal is not None else (None, None)
    kind = classify(code, status)
    if refusal is None or (kind is TwilioErrorKind.TRANSIENT and not _rate_limited(exc)):
        # In flight (timeout, connection reset) or a 5xx: Twilio may have it. The intent stays
        # `sending`; the sweep looks it up before any resend.
        log.warning("text %s: send outcome unknown (%s): left for lookup", intent["id"], exc)
        return Outcome("retry_later")
    if kind is TwilioErrorKind.TRANSIENT:
        gave_up = intent["attempts"] >= get_settings().send_max_attempts
        await _set_status(
            await get_pool(), intent, "failed" if gave_up else "pending", code, str(exc)
        )
        log.warning("text %s: Twilio %s (%s) attempt %d", intent["id"], code, status,
                    intent["attempts"])  # fmt: skip
        return Outcome("failed" if gave_up else "retry_later")
    async with work(intent["source"]) as w:
        await _set_status(w.conn, intent, "failed", code, str(exc))
        business_id, phone = intent["business_id"], intent["to_number"]
        if kind is TwilioErrorKind.OPTED_OUT:
            await contacts.opt_out(w.conn, business_id, phone)
        elif kind is TwilioErrorKind.LANDLINE:
            await contacts.mark_landline(w.conn, business_id, phone)
        elif kind is TwilioErrorKind.UNDELIVERABLE:
            await contacts.mark_undeliverable(w.conn, business_id, phone, code)
        elif kind is TwilioErrorKind.SENDER_CONFIG:
            await store.pause_sending(w.conn, business_id, f"twilio {code}: {exc}"[:300])
            log.error(
                "business %s: Twilio refused our sender configuration (%s); its automated"
                " texts are paused until the operator fixes it and resumes sending",
                business_id, code,
            )  # fmt: skip
    log.info("text %s refused by Twilio %s (%s)", intent["id"], code, kind.value)
    return Outcome("failed")


async def _set_status(
    executor: asyncpg.Connection | asyncpg.Pool,
    intent: asyncpg.Record,
    status: str,
    code: int | None,
    error: str,
) -> None:
    await executor.execute(
        "WITH t AS (UPDATE outbound_texts SET status = $2, error_code = $3, error = $4,"
        f"   body = CASE WHEN $2 = 'failed' THEN {_REDACTED_BODY} ELSE body END"
        "   WHERE id = $1 AND status = 'sending' AND attempts = $5 RETURNING message_id)"
        " UPDATE messages m SET status = CASE WHEN $2 = 'failed' THEN 'failed' ELSE m.status END,"
        "   error_code = $3 FROM t WHERE m.id = t.message_id",
        intent["id"], status, code, error[:500], intent["attempts"],
    )  # fmt: skip


async def _mark_sent(intent: asyncpg.Record, sent: SentMessage) -> None:
    """One statement: the sid on the intent and its message, and `message.sent` and
    `usage.recorded` into the outbox, only if this attempt still holds the claim (another may
    have marked it first); then publish them."""
    segments = count_segments(intent["body"])
    business_id, conversation_id = intent["business_id"], intent["conversation_id"]
    facts = [
        MessageSent(
            business_id=business_id, conversation_id=conversation_id, message_sid=sent.sid,
            to=intent["to_number"], from_number=intent["from_number"], kind=intent["kind"],
            author=intent["author"], segments=segments.segments, encoding=segments.encoding,
        ),
        UsageRecorded(
            business_id=business_id, conversation_id=conversation_id, kind="sms",
            message_sid=sent.sid, direction="outbound", segments=segments.segments,
            encoding=segments.encoding,
        ),
    ][: 1 if intent["kind"] == send_rules.LOGIN_CODE else 2]  # fmt: skip  # sign-in: not billed
    pool = await get_pool()
    written = await pool.fetchval(
        "WITH t AS (UPDATE outbound_texts SET status = 'sent', message_sid = $2,"
        f"   sent_at = now(), error_code = NULL, error = NULL, body = {_REDACTED_BODY}"
        "   WHERE id = $1 AND status = 'sending' AND attempts = $9 RETURNING message_id),"
        " m AS (UPDATE messages SET message_sid = $2, status = $3"
        "   FROM t WHERE messages.id = t.message_id),"
        f" o AS ({outbox.outbox_insert_sql(4, only_if='EXISTS (SELECT 1 FROM t)')})"
        " SELECT coalesce(array_agg(id), '{}') FROM o",
        intent["id"], sent.sid, sent.status, *outbox.outbox_params(intent["source"], facts),
        intent["attempts"],
    )  # fmt: skip
    await outbox.publish_now(list(written))


async def pace(sender: str) -> None:
    """Hold a send until this sender is under its per-second pace (Redis; fail-open). Runs
    with no transaction open: a wait here holds no locks and no connection."""
    limit = get_settings().sms_rate_per_second
    for _ in range(50):
        second = int(time.time())
        used = await cache.incr_window(f"pace:{sender}:{second}", 2)
        if used is None or used <= limit:
            return
        await asyncio.sleep(max(0.01, second + 1 - time.time()))


async def send_unsent(limit: int = 200) -> int:
    """The outbox timer's sweep: send intents still `pending` after SEND_RETRY_AFTER_SECONDS (a
    transient refusal, a worker that died before sending) or left `sending` by an attempt that
    died (looked up at Twilio first). Returns how many were sent (or found sent) now."""
    pool = await get_pool()
    due = await pool.fetch(
        "SELECT id, coalesce(messaging_service_sid, from_number) AS sender FROM outbound_texts"
        " WHERE (status = 'pending' AND created_at < now() - make_interval(secs => $1))"
        "    OR (status = 'sending' AND sending_since < now() - make_interval(secs => $2))"
        " ORDER BY created_at LIMIT $3",
        get_settings().send_retry_after_seconds, stale_after_seconds(), limit,
    )  # fmt: skip
    sent = 0
    for row in due:
        try:
            outcome = await deliver(row["id"], row["sender"])
        except Exception:  # one text's trouble (a lookup timing out) never stops the others
            log.exception("sweep: text %s not delivered this run", row["id"])
            continue
        sent += outcome.status in ("sent", "found")
    return sent
