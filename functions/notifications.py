"""Event Grid: owner alerts (missed call, new lead, escalation, voicemail, credits, streak
milestones)."""

from __future__ import annotations

import logging
import uuid

import azure.functions as func

from shared_code import contracts
from shared_code.platform.observability import correlated

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.event_grid_trigger(arg_name="event")
async def notifications(event: func.CloudEvent) -> None:
    try:
        payload = contracts.parse_event(event.type, event.get_json())
    except contracts.UnknownEventType:
        log.warning("notifications: no alert for event type %s", event.type)
        return
    from shared_code.messaging.owner_alerts import alert_owner  # on first use: cold start

    # Logged under the call or text the event is about, like its webhook and queue task.
    with correlated(payload.correlation_id() or event.id):
        outcome = await alert_owner(uuid.UUID(event.id), payload)
        if outcome == "not-an-alert":
            log.warning("notifications: no alert for event type %s", event.type)
