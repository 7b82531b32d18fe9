"""Follow-ups, outcomes, the funnel and CRM webhooks: timers, Event Grid consumers and routes.

- timer `followups` (on OUTBOX_SCHEDULE, every minute): send the follow-up steps now due;
- Event Grid `followup_scheduler` (`message.sent`): a text-back or follow-up went out, so
  schedule the step after it;
- timer `crm_webhook_deliveries` (same schedule): POST the webhook deliveries now due;
- Event Grid `crm_webhooks` (lead.qualified, call.missed, voicemail.received,
  conversation.escalated, conversation.outcome_recorded): one delivery per matching endpoint;
- HTTP: `POST /api/v1/conversations/{id}/outcome`, `GET .../followups` and
  `POST .../followups/next` (send the next step now), `GET /api/v1/reports/funnel`, and
  `/api/v1/webhooks...` (endpoints and their deliveries).

Each adapter parses its binding and calls one function in shared_code, imported on first use
(the webhooks Twilio waits on must not pay for these at cold start).
"""

from __future__ import annotations

import logging
import uuid

import azure.functions as func

from functions.http_shapes import api_call
from shared_code import contracts
from shared_code.platform.observability import correlated, run_id

bp = func.Blueprint()
log = logging.getLogger(__name__)
ANON = func.AuthLevel.ANONYMOUS  # our own bearer keys, checked per business in shared_code.api.auth


@bp.timer_trigger(arg_name="timer", schedule="%OUTBOX_SCHEDULE%", run_on_startup=False)
async def followups(timer: func.TimerRequest) -> None:
    from shared_code.messaging.followups import run_due

    with correlated(run_id("followups")):
        outcomes = await run_due()
        if outcomes:
            log.info("follow-ups: %s", dict(outcomes))


@bp.event_grid_trigger(arg_name="event")
async def followup_scheduler(event: func.CloudEvent) -> None:
    payload = contracts.parse_event(event.type, event.get_json())
    if not isinstance(payload, contracts.MessageSent):
        log.warning("followup_scheduler: unexpected event type %s", event.type)
        return
    if payload.kind not in ("text_back", "followup"):
        return
    from shared_code.messaging.followups import schedule_after_sent

    with correlated(payload.message_sid):
        outcome = await schedule_after_sent(payload.message_sid)
        log.info("follow-up after %s: %s", payload.message_sid, outcome)


@bp.timer_trigger(arg_name="timer", schedule="%OUTBOX_SCHEDULE%", run_on_startup=False)
async def crm_webhook_deliveries(timer: func.TimerRequest) -> None:
    from shared_code.crm_webhooks.deliveries import deliver_due

    with correlated(run_id("crm_webhook_deliveries")):
        outcomes = await deliver_due()
        if outcomes:
            log.info("webhook deliveries: %s", dict(outcomes))


@bp.event_grid_trigger(arg_name="event")
async def crm_webhooks(event: func.CloudEvent) -> None:
    payload = contracts.parse_event(event.type, event.get_json())
    from shared_code.crm_webhooks.deliveries import enqueue_event

    with correlated(payload.correlation_id() or event.id):
        created = await enqueue_event(uuid.UUID(event.id), payload)
        log.info("%s: %d webhook deliveries", event.type, created)


@bp.route(route="v1/conversations/{conversation_id}/outcome", methods=["POST"], auth_level=ANON)
async def record_outcome(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import outcomes as outcomes_api

    conversation_id = req.route_params["conversation_id"]
    body, key = req.get_body(), req.headers.get("Idempotency-Key")
    return await api_call(
        req, lambda who: outcomes_api.record_outcome(who, conversation_id, body, key)
    )


@bp.route(route="v1/conversations/{conversation_id}/followups", methods=["GET"], auth_level=ANON)
async def list_followups(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import followups as followups_api

    conversation_id = req.route_params["conversation_id"]
    return await api_call(req, lambda who: followups_api.list_steps(who, conversation_id))


@bp.route(
    route="v1/conversations/{conversation_id}/followups/next", methods=["POST"], auth_level=ANON
)
async def send_next_followup(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import followups as followups_api

    conversation_id = req.route_params["conversation_id"]
    return await api_call(req, lambda who: followups_api.send_next(who, conversation_id))


@bp.route(route="v1/reports/funnel", methods=["GET"], auth_level=ANON)
async def funnel_report(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import reports

    params, accept = dict(req.params), req.headers.get("Accept")
    return await api_call(req, lambda who: reports.read_funnel(who, params, accept))


@bp.route(route="v1/webhooks", methods=["GET", "POST"], auth_level=ANON)
async def webhook_endpoints(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import webhook_endpoints as api

    params, body = dict(req.params), req.get_body()
    if req.method == "POST":
        return await api_call(req, lambda who: api.create_endpoint(who, params, body))
    return await api_call(req, lambda who: api.list_endpoints(who, params))


@bp.route(route="v1/webhooks/{endpoint_id}", methods=["GET", "PATCH", "DELETE"], auth_level=ANON)
async def webhook_endpoint(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import webhook_endpoints as api

    endpoint_id, body, method = req.route_params["endpoint_id"], req.get_body(), req.method
    if method == "PATCH":
        return await api_call(req, lambda who: api.update_endpoint(who, endpoint_id, body))
    if method == "DELETE":
        return await api_call(req, lambda who: api.delete_endpoint(who, endpoint_id))
    return await api_call(req, lambda who: api.read_endpoint(who, endpoint_id))


@bp.route(route="v1/webhooks/{endpoint_id}/deliveries", methods=["GET"], auth_level=ANON)
async def webhook_deliveries(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import webhook_endpoints as api

    endpoint_id, params = req.route_params["endpoint_id"], dict(req.params)
    return await api_call(req, lambda who: api.list_deliveries(who, endpoint_id, params))


@bp.route(
    route="v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay",
    methods=["POST"],
    auth_level=ANON,
)
async def replay_webhook_delivery(req: func.HttpRequest) -> func.HttpResponse:
    from shared_code.api import webhook_endpoints as api

    endpoint_id, delivery_id = req.route_params["endpoint_id"], req.route_params["delivery_id"]
    return await api_call(req, lambda who: api.replay_delivery(who, endpoint_id, delivery_id))
