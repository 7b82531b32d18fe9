"""Event Grid: owner alerts (a missed call so far)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared_code import events
from shared_code.observability import correlated
from shared_code.owner_alerts import alert_missed_call

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.event_grid_trigger(arg_name="event")
async def notifications(event: func.CloudEvent) -> None:
    with correlated(event.id):
        if event.type == events.CALL_MISSED:
            await alert_missed_call(event.id, event.get_json())
        else:
            log.warning("notifications: no alert for event type %s", event.type)
