"""What the voice webhooks read from PostgreSQL, each read within the time it is given.

A read that fails or comes too late is answered as "not known": the leg's acceptance falls back
to `DialBridged` and the greeting promises no text (calls.greetings). Reads take no locks: the
missed-call handler decides again, under its locks, from the same tables.
"""

from __future__ import annotations

import logging
from datetime import datetime

from shared_code.businesses import contacts
from shared_code.businesses.hours import quiet_until
from shared_code.businesses.store import Business
from shared_code.calls import legs
from shared_code.calls.greetings import GreetingFacts, choose_greeting
from shared_code.contracts import Greeting
from shared_code.messaging import conversations
from shared_code.platform.db import get_pool
from shared_code.platform.deadline import DATABASE_ERRORS, within
from shared_code.platform.settings import get_settings

log = logging.getLogger(__name__)


async def leg_facts(leg_sid: str | None, seconds: float) -> legs.LegFacts | None:
    """What was recorded about the leg (acceptance, AMD verdict); None when nothing was, or it
    could not be read in time."""
    if not leg_sid:
        return None
    try:
        return await within(seconds, _read_leg(leg_sid), f"leg {leg_sid}")
    except DATABASE_ERRORS as exc:
        log.warning(
            "leg %s not read (%s): acceptance from DialBridged", leg_sid, type(exc).__name__
        )
        return None


async def _read_leg(leg_sid: str) -> legs.LegFacts | None:
    pool = await get_pool()
    async with pool.acquire() as conn:
        return await legs.leg_facts(conn, leg_sid)


async def greeting(
    business: Business, caller: str | None, now: datetime, seconds: float
) -> Greeting:
    """The greeting a missed caller of `business` hears now (calls.greetings)."""
    settings = get_settings()
    quiet = quiet_until(
        business.time_zone, now, settings.quiet_hours_start, settings.quiet_hours_end
    )
    base = GreetingFacts(
        sending_paused=business.sending_paused_reason is not None, quiet_hours=quiet is not None
    )
    if caller is None:
        return choose_greeting(GreetingFacts(block="invalid_number"))
    # The reasons the business itself knows hold even when PostgreSQL does not answer.
    if caller in (business.phone_number, business.owner_phone):
        return choose_greeting(GreetingFacts(block="own_number"))
    if business.is_blocked(caller):
        return choose_greeting(GreetingFacts(block="blocked"))
    if base.sending_paused:  # no text goes whoever calls: nothing to read
        return choose_greeting(base)
    try:
        facts = await within(seconds, _caller_facts(business, caller, base), "caller facts")
    except DATABASE_ERRORS as exc:
        log.warning("caller facts not read (%s): the greeting promises no text", type(exc).__name__)
        return choose_greeting(None)
    return choose_greeting(facts)


async def _caller_facts(business: Business, caller: str, base: GreetingFacts) -> GreetingFacts:
    """The contact's block (opted out, landline, undeliverable), an open conversation, and
    whether the text-back cooldown is over (no contact row: it is)."""
    pool = await get_pool()
    cooldown_seconds = get_settings().text_back_cooldown_hours * 3600
    async with pool.acquire() as conn:
        block = await contacts.block_reason(conn, business, caller)
        if block is not None:
            return GreetingFacts(block=block)
        open_conversation = await conversations.find_open(conn, business.id, caller) is not None
        cooldown_over = await contacts.text_back_cooldown_over(
            conn, business.id, caller, cooldown_seconds, no_contact=True
        )
    return GreetingFacts(
        open_conversation=open_conversation,
        sending_paused=base.sending_paused,
        quiet_hours=base.quiet_hours,
        cooldown_over=cooldown_over,
    )
