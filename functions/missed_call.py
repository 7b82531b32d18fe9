"""Voice webhooks (HTTP) and the `calls` queue processor (the missed-call handler)."""

from __future__ import annotations

import azure.functions as func

from functions.http_shapes import twilio_route
from shared_code import contracts
from shared_code.calls import webhooks
from shared_code.platform.observability import correlated

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.route(route="voice/incoming", methods=["POST"], auth_level=ANON)
async def voice_incoming(req: func.HttpRequest) -> func.HttpResponse:
    return await twilio_route(req, webhooks.incoming)


@bp.route(route="voice/dial-status", methods=["POST"], auth_level=ANON)
async def voice_dial_status(req: func.HttpRequest) -> func.HttpResponse:
    return await twilio_route(req, webhooks.dial_status)


@bp.route(route="voice/status", methods=["POST"], auth_level=ANON)
async def voice_status(req: func.HttpRequest) -> func.HttpResponse:
    return await twilio_route(req, webhooks.call_status)


@bp.queue_trigger(arg_name="msg", queue_name="calls", connection="AzureWebJobsStorage")
async def missed_call_handler(msg: func.QueueMessage) -> None:
    task = contracts.parse_task(contracts.CALLS_QUEUE, msg.get_body())
    assert isinstance(task, contracts.CallReport)
    # Imported with the first task, not at start-up: the webhooks above never need it.
    from shared_code.calls.handler import handle_call_report

    with correlated(contracts.task_correlation_id(task)):
        await handle_call_report(task)
