"""Timer: settle closed days and grant streak rewards. Event Grid: record owner activity."""

from __future__ import annotations

import logging

import azure.functions as func

from shared_code import contracts
from shared_code.platform.observability import correlated, run_id

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%STREAK_REWARDS_SCHEDULE%", run_on_startup=False)
async def streak_rewards(timer: func.TimerRequest) -> None:
    from shared_code.credits import streaks  # on first use: cold start

    with correlated(run_id("streak_rewards")):
        result = await streaks.settle()
        log.info(
            "streaks: settled %d business-days in %d steps, %d grants (past_due=%s)",
            result.days_settled, result.steps, result.grants, timer.past_due,
        )  # fmt: skip


@bp.event_grid_trigger(arg_name="event")
async def streak_activity(event: func.CloudEvent) -> None:
    from shared_code.credits import streaks

    with correlated(event.id):
        activity = contracts.parse_event(event.type, event.get_json())
        if not isinstance(activity, contracts.ActivityRecorded):
            raise ValueError(f"streak_activity takes activity events, not {event.type}")
        await streaks.record_activity(activity.business_id, activity.occurred_at)
