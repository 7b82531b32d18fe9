"""The business resource: an admin creates one (and gets its owner key once); the admin or the
business's own key reads and patches it.

A2P 10DLC lives here too, and is the operator's (admin keys only): `messaging_service_sid` (the
Messaging Service whose registered campaign the business's texts go through) is set on create
or by PATCH, and cleared with null; `sending_paused_reason` is read-only (set when Twilio refuses
the sender's configuration) and is cleared with PATCH `{"resume_sending": true}` once the
registration is fixed. An owner key may not set either: every business's Messaging Service is on
the operator's Twilio account, so an owner could otherwise send through another business's
registered campaign, or resume a sender Twilio refused.

Only the owner changes the business: a team phone's web session may read it, but any PATCH is
403 `owner_only` (it could otherwise make itself the owner phone). A PATCH that changes the
owner phone or the team revokes the web sessions of the phones it removed.
"""

from __future__ import annotations

import logging

from shared_code.api.auth import (
    ApiError,
    Json,
    Principal,
    admin_only,
    business_for,
    not_found,
    owner_only,
    parse_model,
)
from shared_code.businesses import store
from shared_code.web import sessions

log = logging.getLogger(__name__)


async def create_business(principal: Principal, body: bytes) -> tuple[int, Json]:
    admin_only(principal, "create businesses")
    data = parse_model(store.BusinessCreate, body)
    try:
        business, key = await store.create_business(data)
    except store.NumberTaken:
        raise ApiError(
            409, "number_taken", f"{data.phone_number} already belongs to a business"
        ) from None
    except store.TooManyPhones as exc:
        raise ApiError(422, "validation_failed", str(exc)) from exc
    return 201, {"business": business.to_json(), "owner_api_key": key}


async def read_business(principal: Principal, raw_id: str) -> tuple[int, Json]:
    business = await store.get_business(business_for(principal, raw_id))
    if business is None:
        raise not_found("business")
    return 200, {"business": business.to_json()}


async def patch_business(principal: Principal, raw_id: str, body: bytes) -> tuple[int, Json]:
    business_id = business_for(principal, raw_id)
    owner_only(principal)  # a team phone's session can't hand itself the business
    patch = parse_model(store.BusinessPatch, body)
    if "messaging_service_sid" in patch.model_fields_set or patch.resume_sending:
        admin_only(principal, "change a business's Messaging Service or resume its sending")
    try:
        business = await store.update_business(business_id, patch)
    except ValueError as exc:  # a required field cleared with null
        raise ApiError(422, "validation_failed", str(exc)) from exc
    if business is None:
        raise not_found("business")
    if {"owner_phone", "team_phones"} & patch.model_fields_set:
        ended = await sessions.revoke_unlisted(business)
        if ended:
            log.info("business %s: %d web sessions of removed phones revoked", business.id, ended)
    if patch.resume_sending:
        log.info(
            "business %s: automated texts resumed by %s",
            business.id, "an admin" if principal.is_admin else "its owner",
        )  # fmt: skip
    return 200, {"business": business.to_json()}
