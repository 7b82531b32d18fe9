"""Voicemail: the `recordings` queue processor, the retention timer, the stalled sweep's timer,
the signed listen link (`GET /api/voicemails/{recording_sid}/audio?e=&s=`) and the owner API's
voicemails (`GET /api/v1/voicemails`, `GET /api/v1/voicemails/{recording_sid}/audio`).

Handlers are imported on first use, not at start-up: the webhooks Twilio waits on never need
the processor, Blob storage or the API's resources (tests/unit/test_cold_start.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from functions.http_shapes import api_call, json_response
from shared_code import contracts
from shared_code.platform.observability import correlated, run_id

if TYPE_CHECKING:
    from shared_code.api.voicemails import AudioBody

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.queue_trigger(arg_name="msg", queue_name="recordings", connection="AzureWebJobsStorage")
async def voicemail_processor(msg: func.QueueMessage) -> None:
    task = contracts.parse_task(contracts.RECORDINGS_QUEUE, msg.get_body())
    assert isinstance(task, contracts.RecordingReport | contracts.TranscriptionReport)
    from shared_code.calls.voicemail import handle_recording_task

    with correlated(contracts.task_correlation_id(task)):
        await handle_recording_task(task)


@bp.timer_trigger(arg_name="timer", schedule="%VOICEMAIL_RETENTION_SCHEDULE%", run_on_startup=False)
async def voicemail_retention(timer: func.TimerRequest) -> None:
    from shared_code.calls.voicemail_retention import purge_expired

    with correlated(run_id("voicemail_retention")):
        await purge_expired()


# On the outbox's schedule (every minute): a voicemail whose task an outage lost is queued
# again from its row within minutes of its quiet period, not the next day.
@bp.timer_trigger(arg_name="timer", schedule="%OUTBOX_SCHEDULE%", run_on_startup=False)
async def voicemail_stalled(timer: func.TimerRequest) -> None:
    from shared_code.calls.voicemail_retention import resume_stalled

    with correlated(run_id("voicemail_stalled")):
        await resume_stalled()


def _audio_response(audio: AudioBody) -> func.HttpResponse:
    return func.HttpResponse(
        audio.data,
        status_code=200,
        mimetype=audio.content_type,
        headers={
            "Content-Disposition": f'inline; filename="{audio.filename}"',
            # A signed link is a bearer credential in the URL: keep it out of shared caches.
            "Cache-Control": "private, no-store",
        },
    )


@bp.route(route="voicemails/{recording_sid}/audio", methods=["GET"], auth_level=ANON)
async def voicemail_listen(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api.auth import ApiError
    from shared_code.api.voicemails import listen

    sid = req.route_params["recording_sid"]
    try:
        audio = await listen(sid, req.params.get("e"), req.params.get("s"))
    except ApiError as err:
        return json_response(err.status, err.to_json())
    return _audio_response(audio)


@bp.route(route="v1/voicemails", methods=["GET"], auth_level=ANON)
async def list_voicemails(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import voicemails as voicemails_api

    params = dict(req.params)
    return await api_call(req, lambda who: voicemails_api.list_voicemails(who, params))


@bp.route(route="v1/voicemails/{recording_sid}/audio", methods=["GET"], auth_level=ANON)
async def voicemail_audio(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api.auth import ApiError, authenticate
    from shared_code.api.voicemails import audio
    from shared_code.web.guard import RequestFacts

    try:
        facts = RequestFacts(req.method, req.url, req.headers)  # the web inbox's session too
        principal = await authenticate(req.headers.get("Authorization"), facts)
        found = await audio(principal, req.route_params["recording_sid"])
    except ApiError as err:
        return json_response(err.status, err.to_json())
    return _audio_response(found)
