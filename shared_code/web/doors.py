"""The web page's own endpoints as plain functions: (request, body) -> WebAnswer.

`functions/web.py` adapts them to HTTP. Errors have the API's shape
(`{"error": {"code", "message", "details"}}`); every answer carries the security headers and
is never cached.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from shared_code.businesses.store import get_business
from shared_code.web import login, sessions
from shared_code.web.guard import NotConfigured, RequestFacts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebAnswer:
    status: int
    payload: dict[str, Any]
    set_cookie: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: str, message: str, details: Any = None) -> WebAnswer:
    return WebAnswer(
        status, {"error": {"code": code, "message": message, "details": details or []}}
    )


def _body(raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise login.LoginRefused(400, "invalid_json", "request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise login.LoginRefused(400, "invalid_json", "request body must be a JSON object")
    return value


async def ask_for_code(request: RequestFacts, raw: bytes) -> WebAnswer:
    try:
        message = await login.request_code(request, _body(raw))
    except login.LoginRefused as refused:
        return error(refused.status, refused.code, refused.message, refused.details)
    return WebAnswer(202, {"message": message})


async def verify(request: RequestFacts, raw: bytes) -> WebAnswer:
    try:
        signed_in = await login.verify_code(request, _body(raw))
    except login.LoginRefused as refused:
        return error(refused.status, refused.code, refused.message, refused.details)
    return WebAnswer(
        200,
        _session_json(signed_in.session, signed_in.business.name),
        set_cookie=sessions.set_cookie(signed_in.token, request),
    )


def _session_json(session: sessions.Session, business_name: str) -> dict[str, Any]:
    return {
        "session": {
            "id": str(session.id),
            "business_id": str(session.business_id),
            "business_name": business_name,
            "phone": session.phone,
            # A team phone's session can't change the business (settings, webhooks): 403.
            "is_owner": session.is_owner,
            "created_at": session.created_at.isoformat(),
        },
        # Send back in X-CSRF-Token with every request that changes something.
        "csrf_token": session.csrf_token,
    }


async def _current(request: RequestFacts) -> sessions.Session | WebAnswer:
    try:
        session = await sessions.from_request(request)
    except sessions.CsrfRefused as refused:
        return error(403, "csrf_failed", str(refused))
    except NotConfigured:
        return error(503, "not_configured", "web login is off: set LINK_SIGNING_SECRET")
    if session is None:
        return error(401, "unauthorized", "not signed in")
    return session


async def read_session(request: RequestFacts) -> WebAnswer:
    current = await _current(request)
    if isinstance(current, WebAnswer):
        return current
    business = await get_business(current.business_id)
    return WebAnswer(200, _session_json(current, business.name if business else ""))


async def log_out(request: RequestFacts, *, everywhere: bool = False) -> WebAnswer:
    current = await _current(request)
    if isinstance(current, WebAnswer):
        if current.status == 401:  # already out: say so, and drop the cookie anyway
            return WebAnswer(200, {"ended": 0}, set_cookie=sessions.clear_cookie(request))
        return current
    if everywhere:
        ended = await sessions.revoke_everywhere(current.phone)
    else:
        await sessions.revoke(current.id)
        ended = 1
    log.info("web session %s: logged out (%d ended)", current.id, ended)
    return WebAnswer(200, {"ended": ended}, set_cookie=sessions.clear_cookie(request))
