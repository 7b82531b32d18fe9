"""One-off automated texts to a customer or the owner: keyword answers and relays.

A rule refusing one (opted out, landline...) is logged, never raised: these never decide
whether the rest of the inbound handling happens.
"""

from __future__ import annotations

import logging
import uuid

import asyncpg

from shared_code.businesses.store import Business
from shared_code.messaging import outbound

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/sms_responder"


async def send_notice(
    conn: asyncpg.Connection,
    business: Business,
    to: str | None,
    conversation: asyncpg.Record | None,
    text: str,
    *,
    kind: str = "notice",
    allow_opted_out: bool = False,
) -> list[uuid.UUID]:
    """A one-off automated text (keyword answers, relays); a rule refusing it is logged."""
    if not to:
        return []
    try:
        sent = await outbound.send_text(
            conn, business, to=to, body=text, author="system", kind=kind,
            conversation_id=conversation["id"] if conversation and kind == "notice" else None,
            automated=False, source=SOURCE, allow_opted_out=allow_opted_out,
        )  # fmt: skip
    except outbound.SendBlocked as blocked:
        log.info("%s to %s not sent: %s", kind, to, blocked.reason)
        return []
    return sent.event_ids


def opt_out_text(business: Business) -> str:
    return (
        f"{business.name}: you're unsubscribed and will get no more texts from us."
        " Reply START to resubscribe."
    )


def opt_in_text(business: Business) -> str:
    return f"{business.name}: you're resubscribed. Reply STOP to opt out."


def help_text(business: Business) -> str:
    return (
        f"{business.name}: reply here and we'll help, or call {business.phone_number}."
        " Reply STOP to opt out."
    )
