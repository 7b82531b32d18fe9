"""Owner and admin JSON API: authentication, errors, and the business endpoints.

Plain functions from (principal, input) to (status, JSON); `functions/owner_api.py` adapts them
to HTTP. An owner key sees only its own business: anything else is "not found", so a key cannot
learn which ids exist.
"""

from __future__ import annotations

import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared_code.businesses import store
from shared_code.platform.settings import get_settings

Json = dict[str, Any]


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    details: list[Any] | dict[str, Any] = field(default_factory=list)

    def to_json(self) -> Json:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


@dataclass(frozen=True)
class TextBody:
    """A non-JSON response body (CSV exports)."""

    text: str
    content_type: str


@dataclass(frozen=True)
class Principal:
    is_admin: bool
    business_id: uuid.UUID | None = None

    def may_touch(self, business_id: uuid.UUID) -> bool:
        return self.is_admin or self.business_id == business_id


async def authenticate(authorization: str | None) -> Principal:
    scheme, _, key = (authorization or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <api key>")
    admin_key = get_settings().admin_api_key.get_secret_value()
    if admin_key and hmac.compare_digest(key.encode(), admin_key.encode()):
        return Principal(is_admin=True)
    business_id = await store.business_id_for_key(key)
    if business_id is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    return Principal(is_admin=False, business_id=business_id)


def parse_json_object(body: bytes) -> Json:
    try:
        value = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    return value


def validation_error(exc: ValidationError) -> ApiError:
    details = [
        {"field": ".".join(str(part) for part in err["loc"]), "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    return ApiError(422, "validation_failed", "some fields are invalid", details)


def _business_id(raw: str, principal: Principal) -> uuid.UUID:
    try:
        business_id = uuid.UUID(raw)
    except ValueError:
        raise ApiError(404, "not_found", "no such business") from None
    if not principal.may_touch(business_id):
        raise ApiError(404, "not_found", "no such business")
    return business_id


async def create_business(principal: Principal, body: bytes) -> tuple[int, Json]:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "only an admin key may create businesses")
    try:
        data = store.BusinessCreate.model_validate(parse_json_object(body))
    except ValidationError as exc:
        raise validation_error(exc) from exc
    try:
        business, key = await store.create_business(data)
    except store.NumberTaken:
        raise ApiError(
            409, "number_taken", f"{data.phone_number} already belongs to a business"
        ) from None
    return 201, {"business": business.to_json(), "owner_api_key": key}


async def read_business(principal: Principal, raw_id: str) -> tuple[int, Json]:
    business = await store.get_business(_business_id(raw_id, principal))
    if business is None:
        raise ApiError(404, "not_found", "no such business")
    return 200, {"business": business.to_json()}


async def patch_business(principal: Principal, raw_id: str, body: bytes) -> tuple[int, Json]:
    business_id = _business_id(raw_id, principal)
    try:
        patch = store.BusinessPatch.model_validate(parse_json_object(body))
        business = await store.update_business(business_id, patch)
    except ValidationError as exc:
        raise validation_error(exc) from exc
    except ValueError as exc:
        raise ApiError(422, "validation_failed", str(exc)) from exc
    if business is None:
        raise ApiError(404, "not_found", "no such business")
    return 200, {"business": business.to_json()}
