"""HTTP bindings in and replies out for the adapters (Twilio webhooks, JSON), kept out of
shared_code."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import azure.functions as func

from shared_code.platform.twilio_webhooks import TwimlResult, WebhookHandler, WebhookRequest


def twiml(result: TwimlResult) -> func.HttpResponse:
    # Never text/plain: Twilio would text a plain body back to the customer.
    return func.HttpResponse(
        result.body, status_code=result.status_code, mimetype="application/xml"
    )


# Every API answer: never cached (it is one owner's data, possibly fetched with a session
# cookie), never sniffed into another type.
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def json_response(
    status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload, default=str), status_code=status, mimetype="application/json",
        headers=headers,
    )  # fmt: skip


def raw_query(req: func.HttpRequest) -> str:
    """The query string exactly as sent (it is part of Twilio's signature)."""
    _, _, query = req.url.partition("?")
    return query


def webhook_path(req: func.HttpRequest) -> str:
    path = req.url.split("?", 1)[0]
    return "/api/" + path.split("/api/", 1)[1] if "/api/" in path else path


def webhook_request(req: func.HttpRequest) -> WebhookRequest:
    """What Twilio's signature covers, as it arrived (the URL is rebuilt from the public base)."""
    return WebhookRequest(
        path=webhook_path(req),
        raw_query=raw_query(req),
        body=req.get_body(),
        signature=req.headers.get("X-Twilio-Signature"),
    )


async def twilio_route(req: func.HttpRequest, handler: WebhookHandler) -> func.HttpResponse:
    """A Twilio webhook route: the handler (a `@twilio_webhook`) verifies, correlates, answers."""
    return twiml(await handler(webhook_request(req)))


if TYPE_CHECKING:
    from shared_code.api.auth import Principal

ApiHandler = Callable[["Principal"], Awaitable[tuple[int, Any]]]


async def api_call(req: func.HttpRequest, handler: ApiHandler) -> func.HttpResponse:
    """Authenticate, run the handler, and turn ApiError into the JSON error shape."""
    from shared_code.api.auth import ApiError, TextBody, authenticate  # the API's, on first use
    from shared_code.web.guard import RequestFacts

    try:  # a Bearer key, or the web page's session cookie (with its CSRF token)
        facts = RequestFacts(req.method, req.url, req.headers)
        principal = await authenticate(req.headers.get("Authorization"), facts)
        status, payload = await handler(principal)
    except ApiError as err:
        return json_response(err.status, err.to_json(), dict(API_HEADERS))
    if isinstance(payload, TextBody):
        return func.HttpResponse(
            payload.text, status_code=status, mimetype=payload.content_type,
            headers=dict(API_HEADERS),
        )  # fmt: skip
    return json_response(status, payload, dict(API_HEADERS))
