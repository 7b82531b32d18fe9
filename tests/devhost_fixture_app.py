"""A tiny FunctionApp that exercises every trigger devhost serves, independent of NeverMiss code.

State is kept in module-level lists so tests (running the host in-process) can see what each
function received. Queue and timer bindings use their own settings (`DEVHOST_TEST_*`) so the
tests never touch the app's real `AzureWebJobsStorage` queues.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
from twilio.request_validator import RequestValidator

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

queue_attempts: list[tuple[str, int]] = []  # (body, dequeue_count)
queue_done: list[str] = []
events: list[dict[str, Any]] = []
timer_runs: list[bool] = []  # past_due of each run
twilio_requests: list[dict[str, Any]] = []
sandbox: list[dict[str, Any]] = []
_lock = threading.Lock()


@app.route(route="items/{item_id:int}/notes/{note}", methods=["GET", "POST"])
async def item_note(req: func.HttpRequest) -> func.HttpResponse:
    payload = {
        "route": dict(req.route_params),
        "method": req.method,
        "query": dict(req.params),
        "body": req.get_body().decode(),
        "x_test": req.headers.get("x-test"),
    }
    return func.HttpResponse(
        f"<r>{json.dumps(payload)}</r>",
        status_code=201,
        mimetype="application/xml",
        headers={"X-Handled-By": "item_note"},
    )


@app.route(route="items/special/notes/{note}", methods=["GET"])
def special_note(req: func.HttpRequest) -> func.HttpResponse:
    """Sync function, literal segment: must win over `{item_id:int}` and run in a thread."""
    return func.HttpResponse(f"special {req.route_params['note']}")


@app.route(route="twiml", methods=["GET"])
def twiml(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("<Response/>", headers={"Content-Type": "text/xml"})


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom on purpose")


def _signature_ok(req: func.HttpRequest) -> tuple[bool, dict[str, str]]:
    """Validate as the real app must: public URL + path + query, all form params."""
    parts = urlsplit(req.url)
    public = os.environ["PUBLIC_BASE_URL"].rstrip("/") + parts.path
    if parts.query:
        public += "?" + parts.query
    params = dict(parse_qsl(req.get_body().decode(), keep_blank_values=True))
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    ok = validator.validate(public, params, req.headers.get("x-twilio-signature", ""))
    return bool(ok), params


@app.route(route="voice/incoming", methods=["POST"])
async def voice_incoming(req: func.HttpRequest) -> func.HttpResponse:
    ok, params = _signature_ok(req)
    twilio_requests.append({"path": "voice/incoming", "valid": ok, "params": params})
    if not ok:
        return func.HttpResponse("forbidden", status_code=403)
    twiml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Dial timeout="20" answerOnBridge="true" '
        'action="/api/voice/dial-status?business=b1&amp;leg=owner#rc=2">+15550001111</Dial>'
        "</Response>"
    )
    return func.HttpResponse(twiml, mimetype="application/xml")


@app.route(route="voice/dial-status", methods=["POST"])
async def voice_dial_status(req: func.HttpRequest) -> func.HttpResponse:
    ok, params = _signature_ok(req)
    twilio_requests.append({"path": "voice/dial-status", "valid": ok, "params": params})
    if not ok:
        return func.HttpResponse("forbidden", status_code=403)
    next_id = len(sandbox) + 1
    sandbox.append(
        {"id": next_id, "to_number": params["From"], "from_number": params["To"], "body": "Sorry!"}
    )
    sandbox.append(
        {
            "id": next_id + 1,
            "to_number": "+15550001111",
            "from_number": params["To"],
            "body": "Missed",
        }
    )
    return func.HttpResponse("<Response><Hangup/></Response>", mimetype="application/xml")


@app.queue_trigger(
    arg_name="msg", queue_name="%DEVHOST_TEST_QUEUE%", connection="DEVHOST_TEST_STORAGE"
)
async def work(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode()
    with _lock:
        queue_attempts.append((body, msg.dequeue_count or 0))
    if body.startswith("fail"):
        raise ValueError(f"asked to fail: {body}")
    queue_done.append(body)


@app.event_grid_trigger(arg_name="event")
def record_event(event: Any) -> None:
    with _lock:
        events.append(
            {
                "kind": type(event).__name__,
                "id": event.id,
                "type": getattr(event, "type", None) or getattr(event, "event_type", None),
                "data": event.get_json(),
            }
        )


@app.event_grid_trigger(arg_name="event")
async def failing_event(event: Any) -> None:
    raise RuntimeError("this subscriber always fails")


@app.timer_trigger(arg_name="timer", schedule="%DEVHOST_TEST_TIMER%")
async def tick(timer: Any) -> None:
    timer_runs.append(bool(timer.past_due))
