"""The API's kernel: who is calling, which business they may touch, request bodies, errors.

Plain functions from (principal, input) to (status, JSON) live in one module per resource
(`businesses`, `conversations`, `account`); `functions/owner_api.py` adapts them to HTTP. The
rules every resource shares are here, once:

- an owner key sees only its own business: any other id is "not found", exactly as an id that
  does not exist, so a key cannot learn which ids are real (`Principal.may_touch`);
- an admin key may touch any business, and must name it where the route does not;
- the web page's session (`shared_code.web.sessions`) is a second way in to one business, like
  its key; changing anything with it needs its CSRF token too. A session of a team phone (not
  the owner's) may read and handle conversations, but not change the business or its webhooks
  (`owner_only`: 403 `owner_only`);
- a body is a JSON object (else 400 `invalid_json`) that a pydantic model validates (else 422
  `validation_failed`, one detail per field).
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared_code.businesses import store
from shared_code.platform.settings import get_settings
from shared_code.web import sessions
from shared_code.web.guard import RequestFacts

Json = dict[str, Any]
SOURCE = "/nevermiss/owner_api"  # the CloudEvents source of what the API's units of work record
Model = TypeVar("Model", bound=BaseModel)


@dataclass
class ApiError(Exception):
    """Raised by any API function; the adapter turns it into `{"error": {...}}` and `status`."""

    status: int
    code: str
    message: str
    details: list[Any] | dict[str, Any] = field(default_factory=list)

    def to_json(self) -> Json:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def not_found(noun: str) -> ApiError:
    """The one answer for "does not exist" and "not yours" alike."""
    return ApiError(404, "not_found", f"no such {noun}")


@dataclass(frozen=True)
class TextBody:
    """A non-JSON response body (CSV exports)."""

    text: str
    content_type: str


@dataclass(frozen=True)
class Principal:
    is_admin: bool
    business_id: uuid.UUID | None = None
    # Set when the caller signed in on the web page (a session), not with a key: the phone it
    # signed in with, and whether that is the business's owner phone (else a team phone).
    session_id: uuid.UUID | None = None
    phone: str | None = None
    is_owner: bool = True  # keys are the owner's (or the admin's)

    def may_touch(self, business_id: uuid.UUID) -> bool:
        return self.is_admin or self.business_id == business_id


def owner_only(principal: Principal) -> None:
    """403 `owner_only` for a team phone's web session: changing the business (its phones,
    answer check, templates, booking link) or its CRM webhooks is the owner's (owner and admin
    keys, or the owner phone's session)."""
    if not principal.is_admin and not principal.is_owner:
        raise ApiError(403, "owner_only", "only the business's owner may change this")


def admin_only(principal: Principal, action: str) -> None:
    """403 unless an admin key is calling (`action`: "create businesses", "add credit")."""
    if not principal.is_admin:
        raise ApiError(403, "forbidden", f"only an admin key may {action}")


async def authenticate(authorization: str | None, request: RequestFacts | None = None) -> Principal:
    """A Bearer key, or else the web session cookie of `request` (the owner's own business,
    exactly as its owner key: same routes, same tenant rule). A state-changing request made
    with a session must also prove it comes from our page (`web.guard.csrf_ok`), else 403."""
    scheme, _, key = (authorization or "").partition(" ")
    key = key.strip()
    if not authorization and request is not None:
        try:
            session = await sessions.from_request(request)
        except sessions.CsrfRefused as refused:
            raise ApiError(403, "csrf_failed", str(refused)) from None
        if session is not None:
            return Principal(
                is_admin=False, business_id=session.business_id, session_id=session.id,
                phone=session.phone, is_owner=session.is_owner,
            )  # fmt: skip
    if scheme.lower() != "bearer" or not key:
        raise ApiError(
            401, "unauthorized", "send Authorization: Bearer <api key>, or sign in on the page"
        )
    admin_key = get_settings().admin_api_key.get_secret_value()
    if admin_key and hmac.compare_digest(key.encode(), admin_key.encode()):
        return Principal(is_admin=True)
    business_id = await store.business_id_for_key(key)
    if business_id is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    return Principal(is_admin=False, business_id=business_id)


def parse_id(raw: str, noun: str) -> uuid.UUID:
    """A path id; a malformed one is "not found" like any id the caller may not see."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found(noun) from None


def business_for(principal: Principal, where: str | Mapping[str, str]) -> uuid.UUID:
    """The business a request is about.

    `where` is the route's `{business_id}` (a str: 404 unless the caller may touch it) or the
    query parameters of a route without one (an owner key means its own business and any
    `business_id` parameter is ignored; an admin key must pass `?business_id=`, else 422).
    The business may still not exist: the caller reads it and answers 404 then.
    """
    if isinstance(where, str):
        business_id = parse_id(where, "business")
        if not principal.may_touch(business_id):
            raise not_found("business")
        return business_id
    if not principal.is_admin:
        assert principal.business_id is not None
        return principal.business_id
    try:
        return uuid.UUID(where["business_id"])
    except (KeyError, ValueError):
        raise ApiError(422, "validation_failed", "admin keys must pass ?business_id=") from None


def parse_model(model_cls: type[Model], body: bytes) -> Model:
    """The request body as `model_cls`: 400 `invalid_json` unless it is a JSON object, 422
    `validation_failed` with a `{field, message}` detail per invalid field."""
    try:
        value = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    try:
        return model_cls.model_validate(value)
    except ValidationError as exc:
        raise _validation_failed(exc) from exc


def _validation_failed(exc: ValidationError) -> ApiError:
    details = [
        {"field": ".".join(str(part) for part in err["loc"]), "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    return ApiError(422, "validation_failed", "some fields are invalid", details)
