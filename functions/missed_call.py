"""Voice webhooks (HTTP) and the `calls` queue processor (the missed-call handler)."""

from __future__ import annotations

import json

import azure.functions as func

from functions.http_shapes import raw_query, twiml, webhook_path
from shared_code.calls import webhooks
from shared_code.calls.handler import handle_call_report
from shared_code.platform.observability import correlated

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


async def _webhook(req: func.HttpRequest, handler: webhooks.WebhookHandler) -> func.HttpResponse:
    result = await handler(
        webhook_path(req), raw_query(req), req.get_body(), req.headers.get("X-Twilio-Signature")
    )
    return twiml(result)


@bp.route(route="voice/incoming", methods=["POST"], auth_level=ANON)
async def voice_incoming(req: func.HttpRequest) -> func.HttpResponse:
    return await _webhook(req, webhooks.incoming)


@bp.route(route="voice/dial-status", methods=["POST"], auth_level=ANON)
async def voice_dial_status(req: func.HttpRequest) -> func.HttpResponse:
    return await _webhook(req, webhooks.dial_status)


@bp.route(route="voice/status", methods=["POST"], auth_level=ANON)
async def voice_status(req: func.HttpRequest) -> func.HttpResponse:
    return await _webhook(req, webhooks.call_status)


@bp.queue_trigger(arg_name="msg", queue_name="calls", connection="AzureWebJobsStorage")
async def missed_call_handler(msg: func.QueueMessage) -> None:
    payload = json.loads(msg.get_body())
    with correlated(str(payload.get("call_sid", msg.id))):
        await handle_call_report(payload)
