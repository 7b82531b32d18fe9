"""One-off automated texts to a customer or the owner: keyword answers and relays.

A rule refusing one (opted out, landline...) is logged, never raised: these never decide
whether the rest of the inbound handling happens.
"""

from __future__ import annotations

import logging

import asyncpg

from shared_code.businesses.store import Business
from shared_code.messaging import outbound
from shared_code.platform.work import Work

log = logging.getLogger(__name__)


async def send_notice(
    w: Work,
    business: Business,
    to: str | None,
    conversation: asyncpg.Record | None,
    text: str,
    *,
    fact: str,
    kind: str = "notice",
    allow_opted_out: bool = False,
) -> bool:
    """A one-off automated text (keyword answers, relays); a rule refusing it is logged.
    Returns whether it was sent."""
    if not to:
        return False
    try:
        await outbound.send_after_commit(
            w, business, to=to, body=text, author="system", kind=kind, fact=fact,
            conversation_id=conversation["id"] if conversation and kind == "notice" else None,
            automated=False, allow_opted_out=allow_opted_out,
        )  # fmt: skip
    except outbound.SendBlocked as blocked:
        log.info("%s to %s not sent: %s", kind, to, blocked.reason)
        return False
    return True


def opt_out_text(business: Business) -> str:
    return (
        f"{business.name}: you're unsubscribed and will get no more texts from us."
        " Reply START to resubscribe."
    )


def opt_in_text(business: Business) -> str:
    return f"{business.name}: you're resubscribed. Reply STOP to opt out."
