"""Web sessions: opened by a verified login code, kept hashed, revocable.

The browser holds a random token in an HttpOnly cookie; the database holds its SHA-256 (a
token is 256 random bits, so a plain hash is enough). A session is good until it is revoked,
idle for IDLE_DAYS, or LIFETIME_DAYS old, and only while its phone is still the business's
owner or on its team: taking a phone off the team ends its sessions at once.
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
    conn: asyncpg.Connection, business_id: uuid.UUID, phone: str, user_agent: str
) -> tuple[Session, str]:
    """A new session on `conn` (the caller's transaction); returns it and the cookie token."""
    token = secrets.token_urlsafe(32)
    token_hash = hash_token(token)
    row = await conn.fetchrow(
        "INSERT INTO web_sessions (id, token_hash, business_id, phone, user_agent, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6))"
        " RETURNING id, business_id, phone, created_at",
        uuid.uuid4(), token_hash, business_id, phone, user_agent[:300], LIFETIME_DAYS,
    )  # fmt: skip
    assert row is not None
    return Session(
        row["id"], row["business_id"], row["phone"], row["created_at"], token_hash
    ), token


def cookie_token(request: RequestFacts) -> str | None:
    """The session token from the Cookie header (either cookie name), or None."""
    for part in (request.header("Cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name in (COOKIE, SECURE_COOKIE) and value:
            return value.strip()
    return None


async def find(token: str) -> Session | None:
    """The live session `token` opens (and mark it seen), or None."""
    pool = await get_pool()
    row = await pool.fetchrow(
        "WITH s AS (SELECT id, business_id, phone, created_at, last_seen_at FROM web_sessions"
        "   WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()"
        "   AND last_seen_at > now() - make_interval(days => $2)),"
        " touched AS (UPDATE web_sessions w SET last_seen_at = now() FROM s"
        "   WHERE w.id = s.id AND s.last_seen_at < now() - make_interval(mins => $3))"
        " SELECT id, business_id, phone, created_at FROM s",
        hash_token(token), IDLE_DAYS, TOUCH_EVERY_MINUTES,
    )  # fmt: skip
    if row is None:
        return None
    business = await get_business(row["business_id"])
    if business is None or not may_log_in(business, row["phone"]):
        return None
    return Session(
        row["id"], row["business_id"], row["phone"], row["created_at"], hash_token(token)
    )


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
