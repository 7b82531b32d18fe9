"""Login without keys: a 6-digit code texted to the owner's (or a team member's) phone.

Asking (`request_code`) answers the same for every well-formed number, registered or not, at
the same moment (MIN_ANSWER_SECONDS after the request, whatever happened), so the page can't be
used to learn whose number is a customer's. A registered number gets a text through the app's
one sending door (`messaging.outbound`, kind `login_code`: only to the business's owner or team
phones, not billed as usage); the request commits the text's intent and starts the Twilio call
in the background, never waiting for it (the outbox timer's `send_unsent` sweep sends it if that
task dies). Any other number gets a row with a code nobody was sent, so guessing at it behaves
exactly like guessing at a real one.

Verifying (`verify_code`) takes the newest live code for the number: it expires after
CODE_MINUTES, opens one session at most, and is spent after MAX_GUESSES wrong guesses (its
`attempts`, counted under the row's lock). Attempts are also counted in fixed windows (LIMITS):
MAX_GUESSES per phone from one client address, so a stranger's wrong guesses from elsewhere
can't lock the owner out; a larger cap per phone from everywhere, so guessing spread over many
addresses stays bounded; and per address across numbers. Codes asked for are limited per
address, per phone (per window and per day) and per business per day; a business over its
daily cap is answered as usual but gets no text (a refusal would say the number is
registered). Every counter is raised first (one upsert returning the count) and the request
refused when over, so concurrent requests can't slip past a check made before the write. Codes
are stored as HMAC(LINK_SIGNING_SECRET, phone:code).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared_code.businesses.store import Business, get_business
from shared_code.messaging import outbound, send_rules
from shared_code.platform.db import get_pool
from shared_code.platform.phones import to_e164
from shared_code.platform.work import work
from shared_code.web import sessions
from shared_code.web.guard import RequestFacts, keyed_hash, same_origin, signing_key

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/web"
CODE_MINUTES = 10
MAX_GUESSES = 5  # wrong guesses per code, and guesses per phone per address: the sixth is refused
WINDOW_SECONDS = 15 * 60
HOUR, DAY = 3600, 86400
# scope: (most requests allowed, fixed window in seconds). Client addresses as `client_ip`.
LIMITS: dict[str, tuple[int, int]] = {
    "code_ip": (10, WINDOW_SECONDS),  # codes asked for from one address
    "code_phone": (3, WINDOW_SECONDS),  # codes asked for one number
    "code_phone_day": (10, DAY),
    "code_business_day": (50, DAY),  # codes texted to one business's phones (not refused)
    "guess_ip": (20, WINDOW_SECONDS),  # guesses from one address, at any numbers
    "guess_phone_ip": (MAX_GUESSES, WINDOW_SECONDS),  # guesses at one number from one address
    "guess_phone": (30, HOUR),  # guesses at one number from everywhere
}
MIN_ANSWER_SECONDS = 0.6  # asking answers at this deadline, texted or not
TOO_MANY_ATTEMPTS = "too many wrong codes; wait a few minutes and try again"
CODE_SPENT = "too many wrong codes for this one; ask for a new code"
ASKED = "If that number can sign in, we've texted it a 6-digit code. It works for 10 minutes."


@dataclass
class LoginRefused(Exception):
    """A login request refused: `status` and `code` as in the API's error shape."""

    status: int
    code: str
    message: str
    details: list[dict[str, str]] | None = None


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=3, max_length=40)

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        return to_e164(value)


class CodeCheck(CodeRequest):
    code: str = Field(min_length=6, max_length=12)

    @field_validator("code")
    @classmethod
    def _digits(cls, value: str) -> str:
        digits = re.sub(r"[\s-]", "", value)
        if not re.fullmatch(r"\d{6}", digits):
            raise ValueError("the code is 6 digits")
        return digits


def parse(model: type[CodeRequest], body: dict[str, object]) -> CodeRequest:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise LoginRefused(422, "validation_failed", "some fields are invalid", details) from None


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(phone: str, code: str) -> bytes:
    return keyed_hash("login-code", f"{phone}:{code}")


def code_text(business: Business, code: str) -> str:
    return (
        f"{code} is your NeverMiss code to sign in to {business.name}'s inbox."
        f" It expires in {CODE_MINUTES} minutes. Never share it."
    )


def _check_request(request: RequestFacts) -> None:
    try:
        signing_key()
    except Exception:
        raise LoginRefused(
            503, "not_configured", "web login is off: set LINK_SIGNING_SECRET"
        ) from None
    if not same_origin(request):
        raise LoginRefused(403, "forbidden", "sign in from the NeverMiss page itself")


async def count(
    executor: asyncpg.Connection | asyncpg.Pool, hits: list[tuple[str, str]]
) -> dict[str, int]:
    """Count one request against each (scope, subject) in its current window, in one statement,
    and return the counts including it: the increment comes first, so concurrent requests each
    see their own number and no more than the limit can pass."""
    rows = await executor.fetch(
        "INSERT INTO web_login_limits (scope, subject, window_start, hits)"
        " SELECT u.scope, u.subject, to_timestamp(floor(extract(epoch FROM now()) / u.secs)"
        "   * u.secs), 1"
        " FROM unnest($1::text[], $2::text[], $3::int[]) WITH ORDINALITY AS u(scope, subject,"
        "   secs, n) ORDER BY u.n"
        " ON CONFLICT (scope, subject, window_start)"
        " DO UPDATE SET hits = web_login_limits.hits + 1 RETURNING scope, hits",
        [scope for scope, _ in hits], [subject[:100] for _, subject in hits],
        [LIMITS[scope][1] for scope, _ in hits],
    )  # fmt: skip
    return {row["scope"]: row["hits"] for row in rows}


def over_limit(counts: dict[str, int]) -> list[str]:
    """The scopes whose count passed their limit."""
    return [scope for scope, hits in counts.items() if hits > LIMITS[scope][0]]


async def businesses_for_phone(conn: asyncpg.Connection, phone: str) -> list[uuid.UUID]:
    """The businesses whose inbox `phone` may open (owner first, then team), oldest first."""
    rows = await conn.fetch(
        "SELECT id FROM businesses WHERE owner_phone = $1"
        " OR team_phones @> jsonb_build_array(jsonb_build_object('phone', $1::text))"
        " ORDER BY (owner_phone = $1) DESC NULLS LAST, created_at, id",
        phone,
    )
    return [row["id"] for row in rows]


async def request_code(request: RequestFacts, body: dict[str, object]) -> str:
    """Text a login code to `body["phone"]` if it may sign in; the same answer either way."""
    started = time.monotonic()
    _check_request(request)
    phone = parse(CodeRequest, body).phone
    try:
        await _issue(phone, request.client_ip)
    finally:  # the same deadline for every outcome: sent, not registered, refused, failed
        await asyncio.sleep(max(0.0, MIN_ANSWER_SECONDS - (time.monotonic() - started)))
    return ASKED


async def _issue(phone: str, ip: str) -> None:
    pool = await get_pool()
    await pool.execute(
        "DELETE FROM web_login_codes WHERE created_at < now() - interval '1 day';"
        " DELETE FROM web_login_limits WHERE window_start < now() - interval '1 day'"
    )
    counts = await count(pool, [("code_ip", ip), ("code_phone", phone), ("code_phone_day", phone)])
    if over_limit(counts):  # the counts stand: they were committed with the increment
        raise LoginRefused(429, "too_many_requests", "too many codes asked for; try again later")
    async with work(SOURCE) as w:
        found = await businesses_for_phone(w.conn, phone)
        business = await get_business(found[0], w.conn) if found else None
        if business is not None and over_limit(
            await count(w.conn, [("code_business_day", str(business.id))])
        ):
            # Answered like any number (a refusal would say this one is registered), not texted.
            log.warning("business %s: daily cap of sign-in codes reached", business.id)
            business = None
        code = new_code()
        await w.conn.execute(
            "UPDATE web_login_codes SET used_at = now() WHERE phone = $1 AND used_at IS NULL",
            phone,
        )
        code_id = await w.conn.fetchval(
            "INSERT INTO web_login_codes (phone, business_id, code_hash, expires_at)"
            " VALUES ($1, $2, $3, now() + make_interval(mins => $4)) RETURNING id",
            phone, business.id if business else None, code_hash(phone, code), CODE_MINUTES,
        )  # fmt: skip
        if business is not None:
            try:
                # Sent in the background: the answer never waits for (or is timed by) Twilio.
                await outbound.send_after_commit(
                    w, business, to=phone, body=code_text(business, code), author="system",
                    kind=send_rules.LOGIN_CODE, fact=f"login_code:{code_id}",
                    conversation_id=None, automated=False, background=True,
                )  # fmt: skip
            except outbound.SendBlocked as blocked:
                log.info("login code %s not texted: %s", code_id, blocked.reason)


@dataclass(frozen=True)
class SignedIn:
    session: sessions.Session
    token: str
    business: Business


async def verify_code(request: RequestFacts, body: dict[str, object]) -> SignedIn:
    """Open a session with a texted code; LoginRefused (401/429) otherwise."""
    _check_request(request)
    check = parse(CodeCheck, body)
    assert isinstance(check, CodeCheck)
    ip = request.client_ip
    counts = await count(await get_pool(), [
        ("guess_ip", ip), ("guess_phone_ip", f"{check.phone} {ip}"), ("guess_phone", check.phone),
    ])  # fmt: skip
    if over_limit(counts):
        raise LoginRefused(429, "too_many_attempts", TOO_MANY_ATTEMPTS)
    refusal: LoginRefused | None = None
    signed_in: SignedIn | None = None
    async with work(SOURCE) as w:
        row = await w.conn.fetchrow(
            "SELECT id, business_id, code_hash, attempts FROM web_login_codes"
            " WHERE phone = $1 AND used_at IS NULL AND expires_at > now()"
            " ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
            check.phone,
        )
        right = row is not None and hmac.compare_digest(
            bytes(row["code_hash"]), code_hash(check.phone, check.code)
        )
        business = await get_business(row["business_id"], w.conn) if right else None
        if row is not None and row["attempts"] >= MAX_GUESSES:
            refusal = LoginRefused(429, "too_many_attempts", CODE_SPENT)
        elif not right or business is None or not sessions.may_log_in(business, check.phone):
            if row is not None:
                await w.conn.execute(
                    "UPDATE web_login_codes SET attempts = attempts + 1 WHERE id = $1", row["id"]
                )
            refusal = LoginRefused(401, "wrong_code", "that code is wrong or has expired")
        else:
            assert row is not None and business is not None
            await w.conn.execute(
                "UPDATE web_login_codes SET used_at = now() WHERE phone = $1 AND used_at IS NULL",
                check.phone,
            )
            session, token = await sessions.open_session(
                w.conn, business, check.phone, request.header("User-Agent") or ""
            )
            signed_in = SignedIn(session, token, business)
    if refusal is not None:
        raise refusal
    assert signed_in is not None
    log.info("web session %s opened for business %s", signed_in.session.id, signed_in.business.id)
    return signed_in
