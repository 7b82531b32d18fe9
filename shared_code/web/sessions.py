"""Web sessions: opened by a verified login code, kept hashed, revocable.

The browser holds a random token in an HttpOnly cookie; the database holds its SHA-256 (a
token is 256 random bits, so a plain hash is enough). A session is good until it is revoked,
idle for IDLE_DAYS, or LIFETIME_DAYS old, and only while its phone is still the business's
owner or on its team: taking a phone off the team (or changing the owner's phone) revokes its
sessions for good, so putting the phone back later does not bring them back. A session knows
whether its phone is the owner's (`is_owner`): a team phone's session may read and handle
conversations but not change the business (`api.auth.owner_only`).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared_code.businesses.store import Business, get_business
from shared_code.platform.db import get_pool
from shared_code.web.guard import (
    NotConfigured,
    RequestFacts,
    csrf_ok,
    csrf_token,
    signing_key,
)

COOKIE = "nm_session"
SECURE_COOKIE = "__Host-nm_session"  # https only: the browser then insists on Secure and Path=/
LIFETIME_DAYS = 30
IDLE_DAYS = 7
TOUCH_EVERY_MINUTES = 5  # last_seen_at is written at most this often per session


@dataclass(frozen=True)
class Session:
    id: uuid.UUID
    business_id: uuid.UUID
    phone: str
    created_at: datetime
    token_hash: bytes
    # The phone is the business's owner phone (not a team member's), as of this request.
    is_owner: bool = False

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.token_hash)


class CsrfRefused(Exception):
    """A state-changing request with a session but without the CSRF proof."""


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def may_log_in(business: Business, phone: str) -> bool:
    """The owner's phone and the team's phones may open the business's inbox."""
    return phone == business.owner_phone or any(
        member.get("phone") == phone for member in business.team_phones
    )


async def open_session(
    conn: asyncpg.Connection, business: Business, phone: str, user_agent: str
) -> tuple[Session, str]:
    """A new session on `conn` (the caller's transaction); returns it and the cookie token."""
    token = secrets.token_urlsafe(32)
    token_hash = hash_token(token)
    row = await conn.fetchrow(
        "INSERT INTO web_sessions (id, token_hash, business_id, phone, user_agent, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6))"
        " RETURNING id, business_id, phone, created_at",
        uuid.uuid4(), token_hash, business.id, phone, user_agent[:300], LIFETIME_DAYS,
    )  # fmt: skip
    assert row is not None
    return Session(
        row["id"], row["business_id"], row["phone"], row["created_at"], token_hash,
        is_owner=phone == business.owner_phone,
    ), token  # fmt: skip


def cookie_token(request: RequestFacts) -> str | None:
    """The session token from the Cookie header, or None. On https only the `__Host-` cookie
    counts: a browser keeps that one for our host alone, set over https, so a sibling subdomain
    or a forged plain-http answer can't plant (fix) a session the way it could a plain one."""
    wanted = SECURE_COOKIE if request.is_https else COOKIE
    for part in (request.header("Cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == wanted and value:
            return value.strip()
    return None


async def find(token: str) -> Session | None:
    """The live session `token` opens, or None. Its phone must still be the owner's or on the
    team (else the session is revoked, for good) before it is marked seen."""
    pool = await get_pool()
    token_hash = hash_token(token)
    row = await pool.fetchrow(
        "SELECT id, business_id, phone, created_at, last_seen_at FROM web_sessions"
        " WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()"
        " AND last_seen_at > now() - make_interval(days => $2)",
        token_hash, IDLE_DAYS,
    )  # fmt: skip
    if row is None:
        return None
    business = await get_business(row["business_id"])
    if business is None or not may_log_in(business, row["phone"]):
        await revoke(row["id"])
        return None
    await pool.execute(
        "UPDATE web_sessions SET last_seen_at = now() WHERE id = $1 AND revoked_at IS NULL"
        " AND last_seen_at < now() - make_interval(mins => $2)",
        row["id"], TOUCH_EVERY_MINUTES,
    )  # fmt: skip
    return Session(
        row["id"], row["business_id"], row["phone"], row["created_at"], token_hash,
        is_owner=row["phone"] == business.owner_phone,
    )  # fmt: skip


async def from_request(request: RequestFacts) -> Session | None:
    """The request's live session, or None; raises CsrfRefused when it has one but may not
    change state with it."""
    token = cookie_token(request)
    if token is None:
        return None
    session = await find(token)
    if session is None:
        return None
    try:
        signing_key()
    except NotConfigured:  # LINK_SIGNING_SECRET was removed: no session can be checked
        return None
    if not csrf_ok(request, session.token_hash):
        raise CsrfRefused("missing or wrong X-CSRF-Token, or another origin")
    return session


async def revoke(session_id: uuid.UUID) -> None:
    pool = await get_pool()
    await pool.execute(
        "UPDATE web_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        session_id,
    )


async def revoke_unlisted(business: Business) -> int:
    """Revoke the business's sessions whose phone may no longer sign in to it (taken off the
    team, or no longer the owner's phone); returns how many. Run after the phones change."""
    allowed = [business.owner_phone, *(m.get("phone") for m in business.team_phones)]
    pool = await get_pool()
    done = await pool.execute(
        "UPDATE web_sessions SET revoked_at = now() WHERE business_id = $1"
        " AND revoked_at IS NULL AND NOT (phone = ANY($2::text[]))",
        business.id, [p for p in allowed if p],
    )  # fmt: skip
    return int(done.split()[-1])


async def revoke_everywhere(phone: str) -> int:
    """End every session of `phone` (all browsers, all businesses); returns how many."""
    pool = await get_pool()
    done = await pool.execute(
        "UPDATE web_sessions SET revoked_at = now() WHERE phone = $1 AND revoked_at IS NULL", phone
    )
    return int(done.split()[-1])


def set_cookie(token: str, request: RequestFacts) -> str:
    """The Set-Cookie value for a new session: HttpOnly, SameSite=Strict, Secure on https."""
    if request.is_https:
        return (
            f"{SECURE_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict;"
            f" Max-Age={LIFETIME_DAYS * 86400}"
        )
    return f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={LIFETIME_DAYS * 86400}"


def clear_cookie(request: RequestFacts) -> str:
    if request.is_https:
        return f"{SECURE_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0"
    return f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
