"""Voice webhooks (HTTP: the caller's call, the dialled legs' human check, the voicemail) and
the `calls` queue processor (the missed-call handler). The `recordings` processor is in
functions/voicemail.py."""

from __future__ import annotations

import azure.functions as func

from functions.http_shapes import twilio_route
from shared_code import contracts
from shared_code.calls import recording_webhooks, screening, webhooks
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


@bp.route(route="voice/screen", methods=["POST"], auth_level=ANON)
async def voice_screen(req: func.HttpRequest) -> func.HttpResponse:
    return await twilio_route(req, screening.screen)


@bp.route(route="voice/screen-result", methods=["POST"], auth_level=ANON)
async def voice_screen_result(req: func.HttpRequest) -> func.HttpResponse:
    return await twilio_route(req, screening.screen_result)


@bp.route(route="voice/amd", methods=["POST"], auth_level=ANON)
async def voice_amd(req: func.HttpRequest) -> func.HttpResponse:
    return await twilio_route(req, screening.amd)


@bp.route(route="voice/voicemail-done", methods=["POST"], auth_level=ANON)
async def voice_voicemail_done(req: func.HttpRequest) -> func.HttpResponse:
    return await twilio_route(req, recording_webhooks.voicemail_done)


@bp.route(route="voice/recording", methods=["POST"], auth_level=ANON)
async def voice_recording(req: func.HttpRequest) -> func.HttpResponse:
    return await twilio_route(req, recording_webhooks.recording)


@bp.route(route="voice/transcription", methods=["POST"], auth_level=ANON)
async def voice_transcription(req: func.HttpRequest) -> func.HttpResponse:
    return await twilio_route(req, recording_webhooks.transcription)


@bp.queue_trigger(arg_name="msg", queue_name="calls", connection="AzureWebJobsStorage")
async def missed_call_handler(msg: func.QueueMessage) -> None:
    task = contracts.parse_task(contracts.CALLS_QUEUE, msg.get_body())
    assert isinstance(task, contracts.CallReport)
    # Imported with the first task, not at start-up: the webhooks above never need it.
    from shared_code.calls.handler import handle_call_report

    with correlated(contracts.task_correlation_id(task)):
        await handle_call_report(task)
