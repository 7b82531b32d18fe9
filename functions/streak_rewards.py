"""Timer: settle closed days and grant streak rewards. Event Grid: record owner activity."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import azure.functions as func

from shared_code.credits import streaks
from shared_code.platform.observability import correlated

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%STREAK_REWARDS_SCHEDULE%", run_on_startup=False)
async def streak_rewards(timer: func.TimerRequest) -> None:
    result = await streaks.settle()
    log.info(
        "streaks: settled %d business-days in %d steps, %d grants (past_due=%s)",
        result.days_settled, result.steps, result.grants, timer.past_due,
    )  # fmt: skip


@bp.event_grid_trigger(arg_name="event")
async def streak_activity(event: func.CloudEvent) -> None:
    with correlated(event.id):
        data = event.get_json()
        occurred = streaks.parse_time(data.get("occurred_at")) or event.time or datetime.now(UTC)
        await streaks.record_activity(uuid.UUID(data["business_id"]), occurred)
