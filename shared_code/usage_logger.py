"""Usage events in, priced usage rows and ledger debits out (one code path for one or many)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from shared_code import usage_ingest

log = logging.getLogger(__name__)


class UsageNotRecorded(Exception):
    """The event is well-formed but cannot be recorded (unknown business): let it dead-letter."""


async def record_usage_event(event_id: str, occurred_at: datetime | None, data: Any) -> str:
    try:
        priced = usage_ingest.price_event(event_id, occurred_at, data)
    except usage_ingest.MalformedUsageEvent:
        log.error("malformed usage event %s: rejected, nothing written", event_id)
        raise
    result = await usage_ingest.ingest([priced])
    if result.unknown_business:
        raise UsageNotRecorded(f"usage event {event_id} names an unknown business")
    return "recorded" if result.inserted else "duplicate"


async def record_usage_batch(
    batch: list[tuple[str, datetime | None, Any]],
) -> tuple[usage_ingest.IngestResult, list[str]]:
    """A burst (queue or Event Grid batch): malformed events are reported, the rest ingested
    in one statement. Returns the result and the ids rejected as malformed."""
    priced, rejected = [], []
    for event_id, occurred_at, data in batch:
        try:
            priced.append(usage_ingest.price_event(event_id, occurred_at, data))
        except usage_ingest.MalformedUsageEvent as exc:
            log.error("%s", exc)
            rejected.append(event_id)
    return await usage_ingest.ingest(priced), rejected
