"""Structured logs with a correlation id per invocation.

Adapters set the id (the CallSid, the event id, the invocation id) with `correlated(...)`; every
log line written during that invocation carries it, so one call can be followed across the
webhook, the queue processor and the owner alert.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")


class CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", correlation_id.get()),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


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
