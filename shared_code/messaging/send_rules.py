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
# The web inbox's one-time sign-in code (shared_code.web.login): not usage, not billed.
LOGIN_CODE = "login_code"
# A sign-in code works for 10 minutes: Twilio drops it if still queued after that.
LOGIN_CODE_VALIDITY_SECONDS = 600
# What a sign-in code's text is kept as once it is sent or given up: the code is never stored.
LOGIN_CODE_REDACTED = "[sign-in code]"


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
    if kind == LOGIN_CODE:  # the web inbox's sign-in code: the owner's or a team phone only
        if to != business.owner_phone and to not in {m["phone"] for m in business.team_phones}:
            return "not_team"
    elif kind in OWNER_KINDS:
        # Alerts also reach the team phones marked for alerts; relays and notices the owner only.
        allowed = business.alert_phones if kind == "owner_alert" else [business.owner_phone]
        if to not in allowed:
            return "not_owner"
    else:
        reason = await contacts.block_reason(conn, business, to)
        if reason is not None and not (reason == "opted_out" and allow_opted_out):
            return reason
    if automated and business.sending_paused_reason:
        return "sending_paused"
    return None
