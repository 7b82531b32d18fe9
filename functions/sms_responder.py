"""Messaging webhooks (HTTP) and the `messages` queue processor (the SMS responder, and the
owner alerts held through quiet hours)."""

from __future__ import annotations

import azure.functions as func

from functions.http_shapes import twilio_route
from shared_code import contracts
from shared_code.messaging import webhooks
from shared_code.platform.observability import correlated

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.route(route="sms/incoming", methods=["POST"], auth_level=ANON)
async def sms_incoming(req: func.HttpRequest) -> func.HttpResponse:
    return await twilio_route(req, webhooks.incoming)


@bp.route(route="sms/status", methods=["POST"], auth_level=ANON)
async def sms_status(req: func.HttpRequest) -> func.HttpResponse:
    return await twilio_route(req, webhooks.status)


@bp.queue_trigger(arg_name="msg", queue_name="messages", connection="AzureWebJobsStorage")
async def sms_responder(msg: func.QueueMessage) -> None:
    task = contracts.parse_task(contracts.MESSAGES_QUEUE, msg.get_body())
    with correlated(contracts.task_correlation_id(task)):
        # Handlers are imported on the first task, not at start-up: the responder brings the
        # assistant and alerts bring the sending side, which the webhooks above never need.
        if isinstance(task, contracts.HeldOwnerAlert):
            from shared_code.messaging.owner_alerts import send_held_alert

            await send_held_alert(task)
        elif isinstance(task, contracts.InboundText | contracts.ReplyTask):
            from shared_code.messaging.responder import handle_task

            await handle_task(task)
