"""Event Grid: `nevermiss.usage.recorded` -> priced usage row + ledger debit."""

from __future__ import annotations

import azure.functions as func

from shared_code import contracts
from shared_code.platform.observability import correlated

bp = func.Blueprint()


@bp.event_grid_trigger(arg_name="event")
async def usage_logger(event: func.CloudEvent) -> None:
    from shared_code.credits import usage_batches  # on first use: cold start

    with correlated(event.id):
        try:
            usage = contracts.parse_event(event.type, event.get_json())
        except ValueError as exc:  # the payload fails its contract (or is no JSON, or no type)
            raise usage_batches.malformed(event.id, exc) from exc
        await usage_batches.record_usage_event(event.id, event.time, usage)
