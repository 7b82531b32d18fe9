"""Database work on a webhook's path, bounded in time.

A webhook answers within 2 s whatever is down (Twilio gives 15 s, and a caller kept waiting
hears silence or "an application error"). Reads and writes there get a deadline; past it the
webhook goes on without them (the last known business, a greeting that promises nothing,
`DialBridged` for a leg's acceptance) or answers 503 for Twilio to retry. The work itself is not
cancelled but left to finish or fail on its own, as the SMS status callback does
(messaging.webhooks): cancelling a query on a hung server waits for the server to take the
cancel request (measured there: the full 30 s command_timeout), so `asyncio.timeout` around a
query does not bound it. Writes given a deadline must be idempotent: Twilio's retry may repeat
one that finished late.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a webhook's database work may raise when PostgreSQL is down, hung or refusing.
DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

_late: set[asyncio.Future[Any]] = set()  # held until they end (the loop keeps weak references)


async def within(seconds: float, work: Coroutine[Any, Any, T], what: str) -> T:
    """`work`'s result when it ends within `seconds`; otherwise TimeoutError, and the work runs
    on in the background (its failure, if any, is logged)."""
    if seconds <= 0:
        work.close()
        raise TimeoutError(f"{what}: no time left")
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        _late.add(task)
        task.add_done_callback(_forget)
        log.warning("%s: not done within %.2fs, going on without it", what, seconds)
        raise TimeoutError(what)
    return task.result()


def _forget(task: asyncio.Future[Any]) -> None:
    _late.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("a late database task failed: %s", type(task.exception()).__name__)
