"""Every invocation logs under one correlation id: a webhook under its CallSid or MessageSid,
the queue task under the call or text it is about, the owner alert under the event's call_sid,
a timer under an id of its own per run. One call can be followed through all of them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from azure.functions.timer import TimerRequest

from shared_code.contracts import CallMissed
from shared_code.platform.observability import CorrelationFilter
from tests.helpers import (
    app_function,
    call_sid,
    create_business,
    deliver_events,
    dial_status_params,
    drain_calls_queue,
    post,
    text_in,
    twilio_request,
)

CALLER = "+13125550123"


class Captured(logging.Handler):
    """The root logger's records as the worker's handlers see them (with the id filter)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.addFilter(CorrelationFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def ids_of(self, logger: str, containing: str = "") -> list[str]:
        return [
            getattr(r, "correlation_id", None)
            for r in self.records
            if r.name == logger and containing in r.getMessage()
        ]


@pytest.fixture
def logs() -> Iterator[Captured]:
    root = logging.getLogger()
    handler, level = Captured(), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_a_voice_webhook_logs_under_its_call_sid(stack, logs):
    business, _ = await create_business()
    sid = call_sid()
    stack.stop_redis()  # the dedupe pre-filter warns, while the webhook is handled
    params = dial_status_params(sid, CALLER, business.phone_number, "no-answer")
    response = await post("voice_dial_status", twilio_request("/api/voice/dial-status", params))
    assert response.status_code == 200
    assert logs.ids_of("shared_code.platform.cache", "redis unavailable") == [sid]


async def test_an_inbound_text_webhook_logs_under_its_message_sid(stack, logs):
    business, _ = await create_business()
    sid = "SM" + uuid.uuid4().hex
    stack.stop_redis()
    response = await text_in(CALLER, business.phone_number, "hi", MessageSid=sid)
    assert response.status_code == 200
    assert logs.ids_of("shared_code.platform.cache", "redis unavailable") == [sid]


async def test_a_rejected_webhook_logs_under_no_call(stack, logs):
    """An unverified CallSid is anyone's text: it never becomes the id lines are filed under."""
    business, _ = await create_business()
    params = dial_status_params(call_sid(), CALLER, business.phone_number, "no-answer")
    request = twilio_request("/api/voice/dial-status", params, signature="forged")
    assert (await post("voice_dial_status", request)).status_code == 403
    assert logs.ids_of("shared_code.platform.twilio_webhooks", "rejected") == ["-"]


async def test_the_calls_queue_task_logs_under_its_call_sid(stack, logs):
    business, _ = await create_business()
    sid = call_sid()
    params = dial_status_params(sid, CALLER, business.phone_number, "no-answer")
    await post("voice_dial_status", twilio_request("/api/voice/dial-status", params))
    assert await drain_calls_queue() == 1
    assert logs.ids_of("shared_code.calls.handler", f"call {sid}: sent") == [sid]


async def test_the_owner_alert_logs_under_the_events_call_sid(stack, logs):
    sid = call_sid()
    event = CallMissed(
        business_id=uuid.uuid4(),  # no such business: the alert is skipped with a warning
        call_sid=sid,
        caller=CALLER,
        business_number="+15005550006",
        reason="no-answer",
        text_back_status="sent",
        received_at=datetime.now(UTC),
    )
    delivered = {
        "specversion": "1.0",
        "id": str(event.id),
        "source": "/nevermiss/missed_call",
        "type": event.type,
        "data": event.to_json(),
    }
    await deliver_events("notifications", [delivered])
    assert logs.ids_of("shared_code.messaging.owner_alerts", "unknown business") == [sid]


async def test_each_outbox_timer_run_logs_under_an_id_of_its_own(stack, logs):
    timer = app_function("outbox")
    for _ in range(2):
        await timer(TimerRequest(past_due=True))
    first, second = logs.ids_of("functions.outbox", "outbox: republished")
    assert first.startswith("outbox-") and second.startswith("outbox-") and first != second
