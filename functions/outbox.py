"""Timer: re-publish events whose publish right after commit failed, and send texts whose send
after commit did not finish (a transient refusal, a worker that died mid-send); first, queue the
webhook reports the inbox kept while the queue service was down."""

from __future__ import annotations

import logging

import azure.functions as func

from shared_code.platform.events import flush_outbox
from shared_code.platform.observability import correlated, run_id
from shared_code.platform.queues import drain_inbox

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%OUTBOX_SCHEDULE%", run_on_startup=False)
async def outbox(timer: func.TimerRequest) -> None:
    from shared_code.messaging.delivery import send_unsent  # on first use: cold start

    with correlated(run_id("outbox")):
        queued = await drain_inbox()  # webhook reports kept while the queue was down
        published = await flush_outbox()
        resent = await send_unsent()
        if queued or published or resent or timer.past_due:
            log.info(
                "outbox: republished %d events, sent %d texts, queued %d kept webhook reports"
                " (past_due=%s)",
                published, resent, queued, timer.past_due,
            )  # fmt: skip
