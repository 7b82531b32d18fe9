"""Twilio's status callbacks for the texts we sent: the status, and what its ErrorCode means.

Statuses arrive out of order, so a text's status only ever moves forward (`messages`). An
ErrorCode is sorted by `platform.twilio_errors` (one table for the sender and the callbacks,
facts in ../shared/REFERENCE.md) and acted on here:

- opted out (21610), a landline (30006), undeliverable (30004 blocked by the recipient, 30005
  unknown handset): remembered on the customer's contact, so nothing texts that number again
  (`contacts.block_reason`);
- sender configuration (30034 unregistered 10DLC, 30032 unverified toll-free): the business's
  automated texts are paused (`store.pause_sending`) and the operator is told by an ERROR log
  line naming the business and the code; the reason shows in the business's GET, and PATCH
  `{"resume_sending": true}` lifts it once the registration is fixed;
- filtered (30007), expired (30036), transient (30003 unreachable, 30022 10DLC throughput) and
  anything unlisted: recorded on the message with a log line, nothing else (the text is not
  resent: a filtered or expired text resent is as likely to fail and is billed again).

A callback for a MessageSid we never sent changes nothing.
"""

from __future__ import annotations

import logging

import asyncpg

from shared_code.businesses import contacts, store
from shared_code.messaging import messages, owner_alerts
from shared_code.platform.twilio_errors import TwilioErrorKind, classify
from shared_code.platform.work import work

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/sms_responder"

# What the operator reads in `sending_paused_reason` for the status-callback codes.
_SENDER_CONFIG_REASONS = {
    30032: "the toll-free number is not verified",
    30034: "the number is not registered to a US A2P 10DLC campaign",
}
_ABOUT_THE_NUMBER = (
    TwilioErrorKind.OPTED_OUT,
    TwilioErrorKind.LANDLINE,
    TwilioErrorKind.UNDELIVERABLE,
)


async def record_status(sid: str, state: str, error_code: int | None) -> None:
    """One delivery status for the text `sid` (a conversation message or an owner note), and
    what its error code says about the number or the sender, in one unit of work."""
    async with work(SOURCE) as w:
        await messages.record_delivery_status(w.conn, sid, state, error_code)
        await owner_alerts.record_alert_status(w, sid, state)
        if error_code is not None:
            await _act_on_error(w.conn, sid, state, error_code)


async def _act_on_error(conn: asyncpg.Connection, sid: str, state: str, code: int) -> None:
    kind = classify(code)
    if kind in _ABOUT_THE_NUMBER:
        customer = await messages.customer_of(conn, sid)
        if customer is None:  # not a text to a customer (an owner alert), or not ours
            log.info("text %s %s: Twilio %s (%s), no customer to mark", sid, state, code, kind)
            return
        business_id, phone = customer
        if kind is TwilioErrorKind.OPTED_OUT:
            await contacts.opt_out(conn, business_id, phone)
        elif kind is TwilioErrorKind.LANDLINE:
            await contacts.mark_landline(conn, business_id, phone)
        else:
            await contacts.mark_undeliverable(conn, business_id, phone, code)
        log.info("text %s %s: Twilio %s: the customer is marked %s", sid, state, code, kind)
    elif kind is TwilioErrorKind.SENDER_CONFIG:
        await _pause_sender(conn, sid, code)
    else:
        log.warning("text %s %s: Twilio %s (%s): recorded on the message", sid, state, code, kind)


async def _pause_sender(conn: asyncpg.Connection, sid: str, code: int) -> None:
    business_id = await messages.sender_of(conn, sid)
    if business_id is None:
        log.warning("text %s: Twilio %s for a text we never sent: ignored", sid, code)
        return
    what = _SENDER_CONFIG_REASONS.get(code, "Twilio refused the sender's configuration")
    reason = f"Twilio error {code} on text {sid}: {what}"
    if await store.pause_sending(conn, business_id, reason):
        log.error(
            "business %s: Twilio error %s (%s) on text %s: automated texts are paused until the"
            " sender is fixed and sending is resumed (PATCH resume_sending)",
            business_id, code, what, sid,
        )  # fmt: skip
    else:
        log.warning("business %s: Twilio error %s on text %s: sending already paused",
                    business_id, code, sid)  # fmt: skip
