"""Login without keys: a 6-digit code texted to the owner's (or a team member's) phone.

Asking (`request_code`) answers the same for every well-formed number, registered or not, and
takes about as long (MIN_ANSWER_SECONDS), so the page can't be used to learn whose number is a
customer's. A registered number gets a text through the app's one sending door
(`messaging.outbound`, kind `login_code`: only to the business's owner or team phones, not
billed as usage); any other number gets a row with a code nobody was sent, so guessing at it
behaves exactly like guessing at a real one.

Verifying (`verify_code`) takes the newest live code for the number: it expires after
CODE_MINUTES, opens one session at most, and is spent after MAX_GUESSES wrong guesses. Wrong
guesses are also counted per phone and per client address in fixed windows, so a sixth wrong
guess within the window is refused even with a fresh code, and one address can't spray
guesses over many numbers. Codes are stored as HMAC(LINK_SIGNING_SECRET, phone:code).
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
from shared_code.messaging import outbound
from shared_code.platform.phones import to_e164
from shared_code.platform.work import work
from shared_code.web import sessions
from shared_code.web.guard import RequestFacts, keyed_hash, same_origin, signing_key

log = logging.getLogger(__name__)

SOURCE = "/nevermiss/web"
CODE_MINUTES = 10
MAX_GUESSES = 5  # wrong guesses per code, and per phone per window: the sixth is refused
WINDOW_SECONDS = 15 * 60
LIMITS = {  # per window
    "code_phone": 3,  # codes texted to one number
    "code_ip": 10,  # codes asked for from one address
    "guess_phone": MAX_GUESSES,
    "guess_ip": 20,
}
MIN_ANSWER_SECONDS = 0.6  # asking answers no sooner, texted or not
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


async def _hits(conn: asyncpg.Connection, scope: str, subject: str) -> int:
    count: int | None = await conn.fetchval(
        "SELECT hits FROM web_login_limits WHERE scope = $1 AND subject = $2"
        " AND window_start = to_timestamp(floor(extract(epoch FROM now()) / $3) * $3)",
        scope, subject, WINDOW_SECONDS,
    )  # fmt: skip
    return count or 0


async def _hit(conn: asyncpg.Connection, scope: str, subject: str) -> int:
    count: int = await conn.fetchval(
        "INSERT INTO web_login_limits (scope, subject, window_start, hits)"
        " VALUES ($1, $2, to_timestamp(floor(extract(epoch FROM now()) / $3) * $3), 1)"
        " ON CONFLICT (scope, subject, window_start)"
        " DO UPDATE SET hits = web_login_limits.hits + 1 RETURNING hits",
        scope, subject, WINDOW_SECONDS,
    )  # fmt: skip
    return count


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
    finally:
        await asyncio.sleep(max(0.0, MIN_ANSWER_SECONDS - (time.monotonic() - started)))
    return ASKED


async def _issue(phone: str, ip: str) -> None:
    async with work(SOURCE) as w:
        await w.conn.execute(
            "DELETE FROM web_login_codes WHERE created_at < now() - interval '1 day';"
            " DELETE FROM web_login_limits WHERE window_start < now() - interval '1 day'"
        )
        if await _hit(w.conn, "code_ip", ip) > LIMITS["code_ip"] or (
            await _hit(w.conn, "code_phone", phone) > LIMITS["code_phone"]
        ):
            refused = True
        else:
            refused = False
            found = await businesses_for_phone(w.conn, phone)
            business = await get_business(found[0], w.conn) if found else None
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
                    await outbound.send_after_commit(
                        w, business, to=phone, body=code_text(business, code), author="system",
                        kind="login_code", fact=f"login_code:{code_id}", conversation_id=None,
                        automated=False,
                    )  # fmt: skip
                except outbound.SendBlocked as blocked:
                    log.info("login code %s not texted: %s", code_id, blocked.reason)
    if refused:  # after commit: the counts stand
        raise LoginRefused(429, "too_many_requests", "too many codes asked for; try again later")


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
    refusal: LoginRefused | None = None
    signed_in: SignedIn | None = None
    async with work(SOURCE) as w:
        ip = request.client_ip
        if (
            await _hits(w.conn, "guess_ip", ip) >= LIMITS["guess_ip"]
            or await _hits(w.conn, "guess_phone", check.phone) >= LIMITS["guess_phone"]
        ):
            refusal = LoginRefused(
                429, "too_many_attempts", "too many wrong codes; ask for a new one later"
            )
        else:
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
                refusal = LoginRefused(
                    429, "too_many_attempts", "too many wrong codes; ask for a new one"
                )
            elif not right or business is None or not sessions.may_log_in(business, check.phone):
                await _hit(w.conn, "guess_ip", ip)
                await _hit(w.conn, "guess_phone", check.phone)
                if row is not None:
                    await w.conn.execute(
                        "UPDATE web_login_codes SET attempts = attempts + 1 WHERE id = $1",
                        row["id"],
                    )
                refusal = LoginRefused(401, "wrong_code", "that code is wrong or has expired")
            else:
                assert row is not None and business is not None
                await w.conn.execute(
                    "UPDATE web_login_codes SET used_at = now() WHERE phone = $1"
                    " AND used_at IS NULL",
                    check.phone,
                )
                session, token = await sessions.open_session(
                    w.conn, business.id, check.phone, request.header("User-Agent") or ""
                )
                signed_in = SignedIn(session, token, business)
    if refusal is not None:
        raise refusal
    assert signed_in is not None
    log.info("web session %s opened for business %s", signed_in.session.id, signed_in.business.id)
    return signed_in
