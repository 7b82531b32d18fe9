"""Who a business may text, asked once when a text is decided and again before a retry sends
it (the customer may have opted out, the number been found a landline, or the business's
sending been paused in between). One rule, so the two can't drift apart.
"""

from __future__ import annotations

import asyncpg

from shared_code.businesses import contacts
from shared_code.businesses.store import Business

# Texts to the owner's own phone: alerts and relayed customer texts. Customer rules don't apply.
OWNER_KINDS = frozenset({"owner_alert", "owner_relay", "owner_notice"})


async def refusal(
    conn: asyncpg.Connection,
    business: Business,
    to: str,
    *,
    kind: str,
    automated: bool,
    allow_opted_out: bool,
) -> str | None:
    """Why this text must not go to `to` now, or None. `allow_opted_out` lets an opt-out
    confirmation reach the number that just opted out."""
    if kind in OWNER_KINDS:
        if to != business.owner_phone:
            return "not_owner"
    else:
        reason = await contacts.block_reason(conn, business, to)
        if reason is not None and not (reason == "opted_out" and allow_opted_out):
            return reason
    if automated and business.sending_paused_reason:
        return "sending_paused"
    return None
