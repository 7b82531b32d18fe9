"""The unit of work: one transaction, the events it causes, and what must happen after commit.

    async with work("/nevermiss/missed_call") as w:
        await w.conn.execute(...)                 # inside one transaction
        w.record(CallMissed(...))                 # an outbox row, written with the transaction
        w.after_commit(task, delay_seconds=60)    # a queue put, deferred until after commit
        w.then(lambda: deliver(text_id))          # an HTTP call the transaction decided

On exit: the recorded events are written to the outbox in one INSERT (inside the transaction),
the transaction commits, the connection goes back to the pool, then the new events are
published, the deferred tasks put and the deferred calls made, in that order. Nothing is
published, queued or called for work that rolled back, and no Twilio, OpenAI or Event Grid call
waits while a transaction is open.

This is cosmicpython's unit of work with its `collect_new_events`, on top of our transactional
outbox: a publish that fails after commit leaves the row for the outbox timer, so an event is
never lost; its id is stable for its fact, so a republish is a duplicate consumers drop.

A handler that needs statements outside the transaction first (the reply lease is claimed with
an autocommit statement) opens the work with `begin=False` and then `async with w.transaction()`.
Events and tasks recorded inside a transaction block that raises are dropped with it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from shared_code.contracts import Event, QueueTask, queue_of
from shared_code.platform import events as outbox
from shared_code.platform import queues
from shared_code.platform.db import get_pool

log = logging.getLogger(__name__)

PUT_SECONDS = 5.0  # one after-commit queue put, the SDK's retries included


@dataclass(frozen=True)
class DeferredPut:
    queue: str
    task: QueueTask
    delay_seconds: int = 0


@dataclass
class _Frame:
    """What one (possibly nested) transaction block has recorded so far."""

    events: list[Event] = field(default_factory=list)
    puts: list[DeferredPut] = field(default_factory=list)
    written_ids: list[uuid.UUID] = field(default_factory=list)
    calls: list[Callable[[], Awaitable[object]]] = field(default_factory=list)


class Work:
    """One handler's unit of work. Use `work(...)`; `conn` is valid until the block exits."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._conn: asyncpg.Connection | None = None
        self._frames: list[_Frame] = []
        self._committed = _Frame()  # promoted by outermost commits: to publish and put

    @property
    def conn(self) -> asyncpg.Connection:
        assert self._conn is not None, "the unit of work has no connection outside its block"
        return self._conn

    def record(self, event: Event) -> uuid.UUID:
        """Write `event` to the outbox with this transaction; returns its (stable) id."""
        self._frame().events.append(event)
        return event.id

    def recorded_in_sql(self, ids: Sequence[uuid.UUID]) -> None:
        """Events a statement of this transaction wrote to the outbox itself (a set-based
        statement writing thousands at once): publish them after commit like recorded ones."""
        self._frame().written_ids.extend(ids)

    def after_commit(self, task: QueueTask, delay_seconds: int = 0) -> None:
        """Put `task` on its queue after commit (never when the transaction rolls back)."""
        put = DeferredPut(queue_of(task), task, max(0, int(delay_seconds)))
        if self._frames:
            self._frames[-1].puts.append(put)
        else:  # nothing to wait for: still deferred to the end, after earlier commits' events
            self._committed.puts.append(put)

    def then(self, call: Callable[[], Awaitable[object]], *, background: bool = False) -> None:
        """Run `call` after commit, once the connection is back, after publishing and puts:
        the place for a Twilio or other HTTP call the transaction decided (never inside it).
        Dropped with the transaction if it rolls back. It should not raise (an error is
        logged): what it does must be safe to retry from the committed state. With
        `background`, it is started as a task and not waited for (`spawn`): for an answer that
        must not wait on, or be timed by, the call; a sweep must then finish what it left."""
        if background:
            call = _started_in_background(call)
        (self._frames[-1] if self._frames else self._committed).calls.append(call)

    def _frame(self) -> _Frame:
        assert self._frames, "events are recorded inside a transaction"
        return self._frames[-1]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Work]:
        """A transaction block (a savepoint when nested). Its events go to the outbox when the
        outermost block commits; if the block raises, what it recorded is dropped."""
        frame = _Frame()
        self._frames.append(frame)
        try:
            async with self.conn.transaction():
                yield self
                if len(self._frames) == 1 and frame.events:
                    frame.written_ids.extend(
                        await outbox.write_events(self.conn, self.source, frame.events)
                    )
                    frame.events = []
        finally:
            self._frames.pop()
        # Committed (or, nested, released into the enclosing block).
        target = self._frames[-1] if self._frames else self._committed
        target.events.extend(frame.events)
        target.puts.extend(frame.puts)
        target.written_ids.extend(frame.written_ids)
        target.calls.extend(frame.calls)

    async def _after_commit(self) -> None:
        """Publish, put, call. A failed put does not stop the others or the calls; it is
        raised at the end, so the invocation fails and its trigger redelivers it: each handler
        re-puts its follow-up task on a redelivery of a decision already taken (a duplicate
        inbound text re-puts its reply task; a held call or alert is held again)."""
        done, self._committed = self._committed, _Frame()
        await outbox.publish_now(done.written_ids)
        failed: Exception | None = None
        for put in done.puts:
            try:
                # Bounded: the SDK's own retry waits minutes on an outage; the trigger's
                # redelivery is the retry here.
                async with asyncio.timeout(PUT_SECONDS):
                    task, delay = put.task.to_json(), put.delay_seconds
                    await queues.enqueue(put.queue, task, delay_seconds=delay)
            except Exception as exc:
                log.warning("after-commit put on %s failed: %s", put.queue, type(exc).__name__)
                failed = failed or exc
        for call in done.calls:
            try:
                await call()
            except Exception:  # the committed state lets a sweep or a retry finish it
                log.exception("after-commit call %r failed", call)
        if failed is not None:
            raise failed


_background: set[asyncio.Task[None]] = set()


def spawn(call: Callable[[], Awaitable[object]]) -> asyncio.Task[None]:
    """Run `call` in a task of its own, kept referenced until it ends; an error is logged, never
    raised (nobody waits for it)."""

    async def run() -> None:
        try:
            await call()
        except Exception:
            log.exception("background call %r failed", call)

    task = asyncio.get_running_loop().create_task(run())
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


def _started_in_background(call: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    async def start() -> None:
        spawn(call)

    return start


async def drain_background(seconds: float = 30.0) -> None:
    """Wait (at most `seconds`) for the background calls started so far (tests, shutdown)."""
    pending = set(_background)
    if pending:
        await asyncio.wait(pending, timeout=seconds)


@asynccontextmanager
async def work(source: str, *, begin: bool = True) -> AsyncIterator[Work]:
    """A unit of work on a pooled connection, in a transaction unless `begin=False`.

    `source` is the CloudEvents source of the events it records (`/nevermiss/<function>`).
    After the block (even one that raised, for what earlier blocks committed): release the
    connection, publish, enqueue.
    """
    unit = Work(source)
    pool = await get_pool()
    try:
        async with pool.acquire() as conn:
            unit._conn = conn
            try:
                if begin:
                    async with unit.transaction():
                        yield unit
                else:
                    yield unit
            finally:
                unit._conn = None
    finally:
        await unit._after_commit()
