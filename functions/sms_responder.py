"""Messaging webhooks (HTTP) and the `messages` queue processor (the SMS responder)."""

from __future__ import annotations

import json

import azure.functions as func

from functions.http_shapes import raw_query, twiml, webhook_path
from shared_code.messaging import webhooks
from shared_code.messaging.responder import handle_task
from shared_code.platform.observability import correlated

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.route(route="sms/incoming", methods=["POST"], auth_level=ANON)
async def sms_incoming(req: func.HttpRequest) -> func.HttpResponse:
    signature = req.headers.get("X-Twilio-Signature")
    result = await webhooks.incoming(webhook_path(req), raw_query(req), req.get_body(), signature)
    return twiml(result)


@bp.route(route="sms/status", methods=["POST"], auth_level=ANON)
async def sms_status(req: func.HttpRequest) -> func.HttpResponse:
    signature = req.headers.get("X-Twilio-Signature")
    result = await webhooks.status(webhook_path(req), raw_query(req), req.get_body(), signature)
    return twiml(result)


@bp.queue_trigger(arg_name="msg", queue_name="messages", connection="AzureWebJobsStorage")
async def sms_responder(msg: func.QueueMessage) -> None:
    payload = json.loads(msg.get_body())
    with correlated(str(payload.get("message_sid") or payload.get("conversation_id") or msg.id)):
        await handle_task(payload)
