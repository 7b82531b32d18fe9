"""Businesses: what a number belongs to, who the owner is, and how calls are handled.

Input is validated by pydantic models (API and tests share them); writes are single statements
with constraints doing the rest (a number belongs to one business). Lookups by number on the
webhook path go through a short per-process cache, dropped on every change made here.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import asyncpg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared_code.businesses import hours, templates
from shared_code.businesses.followup_schedule import MAX_STEPS, FollowupStep, steps_of
from shared_code.platform.db import get_pool
from shared_code.platform.deadline import within
from shared_code.platform.phones import to_e164
from shared_code.platform.settings import get_settings, is_valid_time_zone

log = logging.getLogger(__name__)


def _phone(value: str) -> str:
    return to_e164(value)


def _zone(value: str) -> str:
    if not is_valid_time_zone(value):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. America/Chicago)")
    return value


def _weekly_hours(value: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
    hours.check_weekly_hours(value)
    return value


def _templates(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        templates.check_template(name, text)
    return value


def _phones(value: list[str]) -> list[str]:
    return sorted({to_e164(v) for v in value})


Phone = Annotated[str, AfterValidator(_phone)]
TimeZone = Annotated[str, AfterValidator(_zone)]
WeeklyHours = Annotated[dict[str, list[list[str]]], AfterValidator(_weekly_hours)]
Templates = Annotated[dict[str, str], AfterValidator(_templates)]
PhoneList = Annotated[list[str], Field(max_length=1000), AfterValidator(_phones)]


class FaqEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=300)
    a: str = Field(min_length=1, max_length=600)


# Twilio rings at most 10 numbers in one <Dial>: the owner's phone and the team's together.
MAX_DIALLED_PHONES = 10


class TeamPhone(BaseModel):
    """A phone rung with the owner's on every call in hours; `alerts`: it gets owner alerts."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60)
    phone: Phone
    alerts: bool = False


def _team(value: list[TeamPhone]) -> list[TeamPhone]:
    phones = [member.phone for member in value]
    if len(set(phones)) != len(phones):
        raise ValueError("each team phone may be listed once")
    return value


BookingUrl = Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=500)]
Team = Annotated[list[TeamPhone], Field(max_length=MAX_DIALLED_PHONES), AfterValidator(_team)]
AnswerCheck = Literal["press_key", "amd", "none"]


class TooManyPhones(ValueError):
    """The owner's phone and the team's would be more than Twilio rings at once."""


# A Twilio Messaging Service SID (A2P 10DLC sender): "MG" and 32 hex digits, as migration 007
# checks too.
MessagingServiceSid = Annotated[str, Field(pattern=r"^MG[0-9a-fA-F]{32}$")]


class BusinessFields(BaseModel):
    """The business's settings, as an admin creates them and an owner changes them."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    owner_phone: Phone | None = None
    owner_name: str | None = Field(default=None, max_length=120)
    time_zone: TimeZone | None = None
    weekly_hours: WeeklyHours | None = None
    templates: Templates | None = None
    ring_timeout_seconds: int | None = Field(default=None, ge=5, le=600)
    blocked_numbers: PhoneList | None = None
    services: str | None = Field(default=None, max_length=2000)
    service_area: str | None = Field(default=None, max_length=500)
    faq: list[FaqEntry] | None = Field(default=None, max_length=30)
    # A2P 10DLC: texts go through this Messaging Service (its registered campaign) when set.
    messaging_service_sid: MessagingServiceSid | None = None
    # How a person is told from the owner's carrier voicemail on an answered leg.
    answer_check: AnswerCheck | None = None
    team_phones: Team | None = None
    # Follow-ups after an unanswered text-back (businesses.followup_schedule): [] turns them
    # off, null restores the default. `booking_url` is the {booking_link} merge field.
    followup_schedule: list[FollowupStep] | None = Field(default=None, max_length=MAX_STEPS)
    booking_url: BookingUrl | None = None


class BusinessPatch(BusinessFields):
    """Fields an owner may change. Absent fields are left as they are; `owner_phone`,
    `owner_name` and `messaging_service_sid` may be cleared with null. `resume_sending: true`
    lifts a pause of automated texts (`sending_paused_reason`) once the sender is fixed."""

    resume_sending: bool | None = None


class BusinessCreate(BusinessFields):
    """What an admin gives to register a business and its Twilio number."""

    name: str = Field(min_length=1, max_length=120)
    phone_number: Phone
    time_zone: TimeZone


@dataclass(frozen=True)
class Business:
    id: uuid.UUID
    name: str
    phone_number: str
    owner_phone: str | None
    owner_name: str | None
    time_zone: str
    weekly_hours: dict[str, list[list[str]]]
    templates: dict[str, str]
    ring_timeout_seconds: int
    blocked_numbers: tuple[str, ...] = field(default_factory=tuple)
    services: str = ""
    service_area: str = ""
    faq: tuple[dict[str, str], ...] = field(default_factory=tuple)
    # A2P 10DLC: texts go through this Messaging Service when set (else from phone_number).
    messaging_service_sid: str | None = None
    # Set when Twilio refused our sender's configuration: automated texts wait for the operator.
    sending_paused_reason: str | None = None
    answer_check: str = "press_key"
    team_phones: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    followup_schedule: tuple[dict[str, Any], ...] | None = None  # None: the default schedule
    booking_url: str | None = None

    @property
    def dial_phones(self) -> list[str]:
        """The phones a call in hours rings at once: the owner's, then the team's (at most 10)."""
        phones = [self.owner_phone] if self.owner_phone else []
        for member in self.team_phones:
            if member["phone"] not in phones:
                phones.append(member["phone"])
        return phones[:MAX_DIALLED_PHONES]

    @property
    def alert_phones(self) -> list[str]:
        """Who gets owner alerts: the owner, and team phones marked `alerts`."""
        phones = [self.owner_phone] if self.owner_phone else []
        for member in self.team_phones:
            if member.get("alerts") and member["phone"] not in phones:
                phones.append(member["phone"])
        return phones

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Business:
        return cls(
            id=row["id"],
            name=row["name"],
            phone_number=row["phone_number"],
            owner_phone=row["owner_phone"],
            owner_name=row["owner_name"],
            time_zone=row["time_zone"],
            weekly_hours=row["weekly_hours"],
            templates=row["templates"],
            ring_timeout_seconds=row["ring_timeout_seconds"],
            blocked_numbers=tuple(row["blocked_numbers"]),
            services=row["services"],
            service_area=row["service_area"],
            faq=tuple(row["faq"]),
            messaging_service_sid=row["messaging_service_sid"],
            sending_paused_reason=row["sending_paused_reason"],
            answer_check=row["answer_check"],
            team_phones=tuple(row["team_phones"]),
            followup_schedule=(
                None if row["followup_schedule"] is None else tuple(row["followup_schedule"])
            ),
            booking_url=row["booking_url"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "phone_number": self.phone_number,
            "owner_phone": self.owner_phone,
            "owner_name": self.owner_name,
            "time_zone": self.time_zone,
            "weekly_hours": self.weekly_hours,
            "templates": {**templates.DEFAULTS, **self.templates},
            "ring_timeout_seconds": self.ring_timeout_seconds,
            "blocked_numbers": list(self.blocked_numbers),
            "services": self.services,
            "service_area": self.service_area,
            "faq": list(self.faq),
            "messaging_service_sid": self.messaging_service_sid,
            "sending_paused_reason": self.sending_paused_reason,
            "answer_check": self.answer_check,
            "team_phones": list(self.team_phones),
            "followup_schedule": [
                s.model_dump(exclude_none=True) for s in steps_of(self.followup_schedule)
            ],
            "booking_url": self.booking_url,
        }

    def is_blocked(self, phone: str) -> bool:
        return phone in self.blocked_numbers


class NumberTaken(Exception):
    """The Twilio number already belongs to another business."""


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def create_business(data: BusinessCreate) -> tuple[Business, str]:
    """Insert the business and its first owner key; returns both (the key is shown once)."""
    values = data.model_dump(exclude_none=True)
    values.setdefault("ring_timeout_seconds", get_settings().default_ring_timeout_seconds)
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    key = "nm_" + secrets.token_urlsafe(32)
    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():
        try:
            row = await conn.fetchrow(
                f"INSERT INTO businesses ({', '.join(columns)}) VALUES ({placeholders})"
                " RETURNING *",
                *values.values(),
            )
        except asyncpg.UniqueViolationError as exc:
            raise NumberTaken(data.phone_number) from exc
        assert row is not None
        _check_dialled_phones(row)
        await conn.execute(
            "INSERT INTO api_keys (key_hash, business_id) VALUES ($1, $2)",
            hash_api_key(key),
            row["id"],
        )
        signup = get_settings().signup_credit_micro
        if signup:
            from shared_code.credits.ledger import credit  # the ledger builds on businesses

            await credit(
                row["id"], signup, f"signup:{row['id']}", "adjustment", "signup credit", conn=conn
            )
            row = await conn.fetchrow("SELECT * FROM businesses WHERE id = $1", row["id"])
    _forget(row["phone_number"])
    return Business.from_row(row), key


def _check_dialled_phones(row: asyncpg.Record) -> None:
    phones = {member["phone"] for member in row["team_phones"]}
    if row["owner_phone"]:
        phones.add(row["owner_phone"])
    if len(phones) > MAX_DIALLED_PHONES:
        raise TooManyPhones(
            f"the owner's phone and the team's make {len(phones)} numbers;"
            f" Twilio rings at most {MAX_DIALLED_PHONES} at once"
        )


async def get_business(
    business_id: uuid.UUID, conn: asyncpg.Connection | None = None
) -> Business | None:
    """By id; pass `conn` when already holding a connection (never hold one and ask for two)."""
    executor = conn if conn is not None else await get_pool()
    row = await executor.fetchrow("SELECT * FROM businesses WHERE id = $1", business_id)
    return Business.from_row(row) if row else None


NULLABLE = frozenset(
    {"owner_phone", "owner_name", "messaging_service_sid", "followup_schedule", "booking_url"}
)


async def update_business(business_id: uuid.UUID, patch: BusinessPatch) -> Business | None:
    """Apply the fields present in `patch` (one UPDATE) and a requested resume of sending, in
    one transaction; None if there is no such business."""
    values = patch.model_dump(exclude_unset=True)
    resume = bool(values.pop("resume_sending", None))
    if any(v is None for k, v in values.items() if k not in NULLABLE):
        raise ValueError(f"only {', '.join(sorted(NULLABLE))} may be cleared with null")
    pool = await get_pool()
    async with pool.acquire() as conn, conn.transaction():
        if values:
            assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(values, start=2))
            found = await conn.fetchval(
                f"UPDATE businesses SET {assignments}, updated_at = now() WHERE id = $1"
                " RETURNING 1",
                business_id,
                *values.values(),
            )
            if found is None:
                return None
        if resume:
            await resume_sending(conn, business_id)
        row = await conn.fetchrow("SELECT * FROM businesses WHERE id = $1", business_id)
        if row is not None:
            _check_dialled_phones(row)  # raises inside the transaction: nothing is changed
    if row is None:
        return None
    _forget(row["phone_number"])
    return Business.from_row(row)


async def business_id_for_key(key: str) -> uuid.UUID | None:
    pool = await get_pool()
    business_id: uuid.UUID | None = await pool.fetchval(
        "SELECT business_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        hash_api_key(key),
    )
    return business_id


# Per-process cache of business by Twilio number, for the webhook path: served while fresh
# (BUSINESS_CACHE_SECONDS), and kept afterwards as the last known answer for when PostgreSQL is
# unreachable (the caller still hears the business's greeting).
_by_number: dict[str, tuple[float, Business | None]] = {}
_DB_BREAKER_SECONDS = 2.0
_db_down_until = 0.0


class BusinessLookupUnavailable(Exception):
    """PostgreSQL did not answer and this process knows nothing about the number."""


def _forget(phone_number: str) -> None:
    _by_number.pop(phone_number, None)


def clear_cache() -> None:
    global _db_down_until
    _by_number.clear()
    _db_down_until = 0.0


async def business_by_number(
    phone_number: str, *, timeout_seconds: float | None = None
) -> Business | None:
    """The business that owns `phone_number` (None: no business does).

    When the database fails or takes longer than `timeout_seconds` (the webhooks pass a short
    one), the last answer this process saw is served instead, however old; with none,
    BusinessLookupUnavailable. After a failure the database is not asked again for a moment."""
    global _db_down_until
    ttl = get_settings().business_cache_seconds
    now = time.monotonic()
    hit = _by_number.get(phone_number)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    try:
        if now < _db_down_until:
            raise BusinessLookupUnavailable("database marked down moments ago")
        row = await _row_by_number(phone_number, timeout_seconds)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
            BusinessLookupUnavailable) as exc:  # fmt: skip
        if not isinstance(exc, BusinessLookupUnavailable):
            log.warning("business lookup failed (%s): serving the last known", type(exc).__name__)
            _db_down_until = time.monotonic() + _DB_BREAKER_SECONDS
        if hit is None:
            raise BusinessLookupUnavailable(phone_number) from exc
        return hit[1]
    business = Business.from_row(row) if row else None
    _by_number[phone_number] = (now, business)
    return business


async def _row_by_number(phone_number: str, timeout_seconds: float | None) -> asyncpg.Record:
    """The business row, within `timeout_seconds` (platform.deadline: on a hung server a
    cancelled query would hold the webhook for the whole command timeout)."""

    async def read() -> asyncpg.Record:
        pool = await get_pool()
        return await pool.fetchrow("SELECT * FROM businesses WHERE phone_number = $1", phone_number)

    if timeout_seconds is None:
        return await read()
    return await within(timeout_seconds, read(), "business lookup")


async def pause_sending(conn: asyncpg.Connection, business_id: uuid.UUID, reason: str) -> bool:
    """Twilio refused the business's sender configuration (unregistered 10DLC, unverified
    toll-free, no route): hold its automated texts until the operator fixes it and resumes.
    True when this call paused it (the first refusal); later ones keep the first reason."""
    paused = await conn.fetchval(
        "UPDATE businesses SET sending_paused_at = now(), sending_paused_reason = $2"
        " WHERE id = $1 AND sending_paused_at IS NULL RETURNING 1",
        business_id, reason,
    )  # fmt: skip
    clear_cache()
    return bool(paused)


async def resume_sending(conn: asyncpg.Connection, business_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE businesses SET sending_paused_at = NULL, sending_paused_reason = NULL"
        " WHERE id = $1",
        business_id,
    )
    clear_cache()
