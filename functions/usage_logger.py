"""Event Grid: `nevermiss.usage.recorded` -> priced usage row + ledger debit."""

from __future__ import annotations

import azure.functions as func

from shared_code.credits.usage_batches import record_usage_event
from shared_code.platform.observability import correlated

bp = func.Blueprint()


@bp.event_grid_trigger(arg_name="event")
async def usage_logger(event: func.CloudEvent) -> None:
    with correlated(event.id):
        await record_usage_event(event.id, event.time, event.get_json())
