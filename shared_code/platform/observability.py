"""Logs with a correlation id per invocation.

Every invocation runs under one id set with `correlated(...)`: the Twilio webhook door uses the
CallSid or MessageSid, queue adapters the task's call or message, event adapters the event's
`call_sid`/`message_sid` (else its id), timers an id per run (`run_id`). Every log line written
meanwhile carries it (as `record.correlation_id`), so one call can be followed across the
webhook, the queue processor and the owner alert.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")


class CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


def configure(level: str = "INFO") -> None:
    """Attach the correlation filter to the root handlers (the worker owns the handlers)."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, CorrelationFilter) for f in handler.filters):
            handler.addFilter(CorrelationFilter())


@contextmanager
def correlated(value: str) -> Iterator[None]:
    token = correlation_id.set(value or "-")
    try:
        yield
    finally:
        correlation_id.reset(token)


def run_id(name: str) -> str:
    """A fresh id for one run of a timer (`outbox-1f0c...`): its lines share it, runs differ."""
    return f"{name}-{uuid.uuid4().hex[:12]}"
