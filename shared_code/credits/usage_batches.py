"""Usage events in, priced usage rows and ledger debits out, a burst in shared batches.

Event Grid delivers each event to its own invocation, and a burst arrives as many invocations
running at once in the same worker. They share the ingest (a group commit): an event that
arrives while a batch is being written waits and goes with the others in the next one, so a
burst takes the batch path (one statement or one COPY per batch, see usage_store) while a lone
event still goes at once. Each invocation still learns its own event's outcome: an unknown
business fails only that invocation, and a batch that fails as a whole is retried event by
event, so one bad event cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from datetime import datetime

from shared_code.contracts import Event
from shared_code.credits import usage_store

log = logging.getLogger(__name__)

# Event Grid's largest delivery batch; bigger bursts are written in several.
MAX_BATCH = 5000


class UsageNotRecorded(Exception):
    """The event is well-formed but cannot be recorded (unknown business): let it dead-letter."""


def malformed(event_id: str, error: ValueError) -> usage_store.MalformedUsageEvent:
    """For the trigger, when the event failed its contract at the door: logged, and the error
    to raise (the event dead-letters; nothing is written)."""
    log.error("malformed usage event %s: rejected, nothing written", event_id)
    return usage_store.MalformedUsageEvent(f"usage event {event_id!r} rejected: {error}")


async def record_usage_event(event_id: str, occurred_at: datetime | None, usage: Event) -> None:
    """Price the event (parsed at the door) and record it, once however often it is delivered,
    with its debit."""
    try:
        priced = usage_store.price_event(event_id, occurred_at, usage)
    except usage_store.MalformedUsageEvent:
        log.error("malformed usage event %s: rejected, nothing written", event_id)
        raise
    await _coalescer().record(priced)


@dataclass
class _Waiting:
    priced: usage_store.PricedUsage
    outcome: asyncio.Future[None]


class _Coalescer:
    """One per event loop: the events waiting to be written and the task writing them."""

    def __init__(self) -> None:
        self.waiting: list[_Waiting] = []
        self.writer: asyncio.Task[None] | None = None

    async def record(self, priced: usage_store.PricedUsage) -> None:
        loop = asyncio.get_running_loop()
        entry = _Waiting(priced, loop.create_future())
        self.waiting.append(entry)
        if self.writer is None or self.writer.done():
            self.writer = loop.create_task(self._write())
        await entry.outcome

    async def _write(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
                await _ingest(batch)
        finally:  # never leave an invocation waiting for a writer that is gone
            stopped = RuntimeError("usage writer stopped")
            for entry in self.waiting:
                _settle(entry, stopped)
            self.waiting = []


_coalescers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Coalescer] = (
    weakref.WeakKeyDictionary()
)


def _coalescer() -> _Coalescer:
    loop = asyncio.get_running_loop()
    if loop not in _coalescers:
        _coalescers[loop] = _Coalescer()
    return _coalescers[loop]


async def _ingest(batch: list[_Waiting]) -> None:
    try:
        result = await usage_store.ingest([entry.priced for entry in batch])
    except Exception as exc:
        if len(batch) == 1:
            _settle(batch[0], exc)
            return
        log.warning(
            "usage batch of %d failed (%r): retrying its events one by one", len(batch), exc
        )
        for entry in batch:
            await _ingest([entry])
        return
    unknown = set(result.unknown_business)
    for entry in batch:
        business_id = entry.priced.data.business_id
        if business_id in unknown:
            _settle(
                entry,
                UsageNotRecorded(f"usage event {entry.priced.event_id} names an unknown business"),
            )
        else:
            _settle(entry, None)


def _settle(entry: _Waiting, error: BaseException | None) -> None:
    if entry.outcome.done():  # its invocation was cancelled; the row stands or not, as written
        return
    if error is None:
        entry.outcome.set_result(None)
    else:
        entry.outcome.set_exception(error)
