"""Timer: re-publish events whose publish right after commit failed."""

from __future__ import annotations

import logging

import azure.functions as func

from shared_code.platform.events import flush_outbox

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%OUTBOX_SCHEDULE%", run_on_startup=False)
async def outbox(timer: func.TimerRequest) -> None:
    published = await flush_outbox()
    if published or timer.past_due:
        log.info("outbox: republished %d events (past_due=%s)", published, timer.past_due)
