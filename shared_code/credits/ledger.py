"""The credit ledger: the one balance change, reservations, top-ups, the account and the
low-credit signal.

Rules, each held by the database:
- one ledger entry per idempotency key (unique);
- a balance changes only in the statement that writes its ledger entry, in one transaction,
  and always through `balance_change` below: top-ups here, usage debits (`usage_store`) and
  streak rewards (`streaks`) compose that one fragment, so the low-credit mark follows one rule;
- a reservation is admitted by one statement that locks the business row and checks
  balance - live reservations >= amount, so concurrent reservations can never overspend.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from shared_code.contracts import CreditsLow
from shared_code.platform.db import get_pool
from shared_code.platform.settings import get_settings
from shared_code.platform.work import Work


def balance_change(cte: str, *, deltas: str, threshold: str) -> str:
    """The CTE `<cte>` that applies `deltas` to the businesses' balances, as SQL text for a
    statement to compose: `WITH ..., {balance_change(...)} SELECT ...`.

    `deltas` names a CTE of the statement with the columns `business_id` and `delta` (signed
    micro-USD, at most one row per business); `threshold` is the placeholder of
    CREDITS_LOW_THRESHOLD_MICRO. The CTE returns `id`, `balance_micro` and
    `credits_low_since` as they are after the change, then every column of `deltas`.

    The low-credit mark (`credits_low_since`), which `nevermiss.credits.low` reports once per
    crossing: a change that leaves the balance at or above the threshold clears it; one that
    leaves it below keeps it, and a debit (a delta <= 0, even an empty one) that finds none
    sets it to now, which is the crossing. A credit never sets it: credit that still leaves the
    balance low is not a new crossing.

    Locking is the caller's: every statement that composes this has locked its businesses in
    id order first, so concurrent changes queue up instead of deadlocking.
    """
    return f"""{cte} AS (
    UPDATE businesses b SET
        balance_micro = b.balance_micro + d.delta,
        credits_low_since = CASE WHEN b.balance_micro + d.delta < {threshold}
            THEN coalesce(b.credits_low_since, CASE WHEN d.delta <= 0 THEN now() END) END
    FROM {deltas} d WHERE b.id = d.business_id
    RETURNING b.id, b.balance_micro, b.credits_low_since, d.*
)"""


async def credits_low_event(
    w: Work, business_id: uuid.UUID, since: datetime, reason: Literal["low", "exhausted"]
) -> uuid.UUID:
    """Record `nevermiss.credits.low` in `w` once per crossing: the id is stable for
    (business, reason, since), so a retried batch records the same event again, which the
    outbox keeps once."""
    balance = await w.conn.fetchval(
        "SELECT balance_micro FROM businesses WHERE id = $1", business_id
    )
    return w.record(
        CreditsLow(
            business_id=business_id,
            balance_micro=balance,
            threshold_micro=get_settings().credits_low_threshold_micro,
            reason=reason,
            since=since,
        )
    )


# --- reservations ---------------------------------------------------------------------------

_RESERVE = """
INSERT INTO credit_reservations (id, business_id, amount_micro, expires_at)
SELECT $1, b.id, $3::bigint, now() + make_interval(secs => $4)
FROM businesses b
WHERE b.id = $2 AND b.balance_micro - (
    SELECT coalesce(sum(amount_micro), 0)::bigint FROM credit_reservations
    WHERE business_id = b.id AND closed_at IS NULL AND expires_at > now()
) >= $3::bigint
RETURNING id
"""


async def reserve(
    business_id: uuid.UUID, amount_micro: int, conn: asyncpg.Connection
) -> uuid.UUID | None:
    """Hold `amount_micro` for a model call; None when the available balance is short.

    The business row is locked by its own statement first: the check then runs with a snapshot
    taken after every earlier reservation for this business committed. (A lock taken inside the
    same statement would leave the live-reservation sum reading the statement's older snapshot,
    which let 18 of 50 concurrent holds through where 10 fit.) In the caller's transaction, as
    a savepoint, when it has one.
    """
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM businesses WHERE id = $1 FOR UPDATE", business_id)
        reservation_id: uuid.UUID | None = await conn.fetchval(
            _RESERVE, uuid.uuid4(), business_id, amount_micro,
            get_settings().reservation_ttl_seconds,
        )  # fmt: skip
    return reservation_id


async def release(reservation_id: uuid.UUID, conn: asyncpg.Connection) -> None:
    """Give back a reservation that no usage will settle (the call never spent tokens)."""
    await conn.execute(
        "UPDATE credit_reservations SET closed_at = now() WHERE id = $1 AND closed_at IS NULL",
        reservation_id,
    )


async def note_exhausted(w: Work, business_id: uuid.UUID) -> uuid.UUID:
    """The assistant fell back for lack of credit: the owner is told, at most once a (UTC) day.
    In a transaction block of its own (a savepoint inside the caller's, or, between them, its
    own commit), published when `w` ends; returns the event id."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with w.transaction():
        return await credits_low_event(w, business_id, today, "exhausted")


# --- top-ups and the account ----------------------------------------------------------------


class KeyReused(Exception):
    """The idempotency key was used before for a different request."""


# The entry is written first (once per key); the balance moves only if it was new.
_CREDIT = (
    """
WITH entry AS (
    INSERT INTO credit_ledger (business_id, idempotency_key, kind, amount_micro,
                               balance_after_micro, note)
    SELECT b.id, $2, $4, $3, b.balance_micro + $3, $5
    FROM businesses b WHERE b.id = $1
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING *
),
credited AS (SELECT business_id, amount_micro AS delta FROM entry),
"""
    + balance_change("moved", deltas="credited", threshold="$6")
    + """
SELECT e.*, true AS created FROM entry e
"""
)


async def credit(
    business_id: uuid.UUID,
    amount_micro: int,
    key: str,
    kind: str = "topup",
    note: str | None = None,
    *,
    conn: asyncpg.Connection,
) -> tuple[dict[str, Any], bool]:
    """Add credit once per idempotency key; returns (entry, created now). In the caller's
    transaction, as a savepoint, when it has one.

    Raises KeyReused when the key was used for another business or amount, LookupError when
    there is no such business.
    """
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM businesses WHERE id = $1 FOR UPDATE", business_id)
        row = await conn.fetchrow(
            _CREDIT, business_id, key, amount_micro, kind, note,
            get_settings().credits_low_threshold_micro,
        )  # fmt: skip
        if row is not None:
            return dict(row), True
        existing = await conn.fetchrow(
            "SELECT * FROM credit_ledger WHERE idempotency_key = $1", key
        )
    if existing is None:
        raise LookupError(business_id)
    if existing["business_id"] != business_id or existing["amount_micro"] != amount_micro:
        raise KeyReused(key)
    return dict(existing), False


async def account(business_id: uuid.UUID, recent: int = 20) -> dict[str, Any]:
    pool = await get_pool()
    async with pool.acquire() as conn:
        balance = await conn.fetchval(
            "SELECT balance_micro FROM businesses WHERE id = $1", business_id
        )
        reserved = await conn.fetchval(
            "SELECT coalesce(sum(amount_micro), 0)::bigint FROM credit_reservations"
            " WHERE business_id = $1 AND closed_at IS NULL AND expires_at > now()",
            business_id,
        )
        entries = await conn.fetch(
            "SELECT id, kind, amount_micro, balance_after_micro, idempotency_key, usage_events,"
            " note, created_at FROM credit_ledger WHERE business_id = $1 ORDER BY id DESC LIMIT $2",
            business_id, recent,
        )  # fmt: skip
    return {
        "balance_micro": balance,
        "reserved_micro": reserved,
        "available_micro": balance - reserved,
        "recent_entries": [dict(e) for e in entries],
    }
