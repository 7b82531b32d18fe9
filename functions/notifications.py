"""Event Grid: owner alerts (missed call, new lead, escalation)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared_code.messaging.owner_alerts import alert_owner
from shared_code.platform.observability import correlated

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.event_grid_trigger(arg_name="event")
async def notifications(event: func.CloudEvent) -> None:
    with correlated(event.id):
        outcome = await alert_owner(event.id, event.type, event.get_json())
        if outcome == "not-an-alert":
            log.warning("notifications: no alert for event type %s", event.type)
