"""The unit of work against the real stack: what it writes, publishes and queues, and when.

Each test names a promise the handlers rely on: events and queue puts happen only for work that
committed, only after the connection is back, and never for work that rolled back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared_code.contracts import ActivityRecorded, ReplyTask
from shared_code.platform import queues
from shared_code.platform.db import get_pool
from shared_code.platform.work import work
from tests.helpers import create_business, queued

SOURCE = "/nevermiss/test"


def activity(business_id: uuid.UUID, about: str) -> ActivityRecorded:
    return ActivityRecorded(
        business_id=business_id, kind="check_in", occurred_at=datetime.now(UTC), about=about
    )


async def outbox_rows() -> list:
    pool = await get_pool()
    return await pool.fetch("SELECT id, source, published_at FROM outbox ORDER BY id")


async def test_commit_writes_publishes_and_queues_after_release(stack):
    business, _ = await create_business()
    event = activity(business.id, "a")
    task = ReplyTask(conversation_id=uuid.uuid4(), after_message_id=7)
    async with work(SOURCE) as w:
        assert w.record(event) == event.id
        w.after_commit(task)
        # Nothing leaves before commit: not the event, not the task.
        assert stack.topic.received == []
        assert await queued(queues.MESSAGES_QUEUE) == []
    rows = await outbox_rows()
    assert [(r["id"], r["source"]) for r in rows] == [(event.id, SOURCE)]
    assert rows[0]["published_at"] is not None
    assert [e["id"] for e in stack.topic.received] == [str(event.id)]
    assert stack.topic.received[0]["data"]["kind"] == "check_in"
    assert await queued(queues.MESSAGES_QUEUE) == [task.to_json()]


async def test_rollback_writes_publishes_and_queues_nothing(stack):
    business, _ = await create_business()
    with pytest.raises(RuntimeError):
        async with work(SOURCE) as w:
            w.record(activity(business.id, "b"))
            w.after_commit(ReplyTask(conversation_id=uuid.uuid4(), after_message_id=1))
            raise RuntimeError("the handler failed")
    assert await outbox_rows() == []
    assert stack.topic.received == []
    assert await queued(queues.MESSAGES_QUEUE) == []


async def test_a_failed_inner_block_drops_only_what_it_recorded(stack):
    business, _ = await create_business()
    kept, dropped = activity(business.id, "kept"), activity(business.id, "dropped")
    async with work(SOURCE) as w:
        w.record(kept)
        with pytest.raises(ValueError):
            async with w.transaction():  # a savepoint
                w.record(dropped)
                w.after_commit(ReplyTask(conversation_id=uuid.uuid4(), after_message_id=2))
                raise ValueError("refused")
    assert [r["id"] for r in await outbox_rows()] == [kept.id]
    assert await queued(queues.MESSAGES_QUEUE) == []


async def test_work_begun_later_publishes_what_committed_even_if_the_handler_then_fails(stack):
    business, _ = await create_business()
    committed = activity(business.id, "committed")
    with pytest.raises(RuntimeError):
        async with work(SOURCE, begin=False) as w:
            assert not w.conn.is_in_transaction()
            async with w.transaction():
                w.record(committed)
            raise RuntimeError("after the commit")
    assert [e["id"] for e in stack.topic.received] == [str(committed.id)]


async def test_a_redelivered_fact_is_written_once_and_not_republished(stack):
    business, _ = await create_business()
    event = activity(business.id, "same fact")
    for _ in range(2):
        async with work(SOURCE) as w:
            w.record(event)
    assert len(await outbox_rows()) == 1
    assert [e["id"] for e in stack.topic.received] == [str(event.id)]


async def test_topic_down_leaves_the_committed_event_for_the_outbox_timer(stack):
    business, _ = await create_business()
    stack.topic.down = True
    async with work(SOURCE) as w:
        w.record(activity(business.id, "c"))
    rows = await outbox_rows()
    assert len(rows) == 1 and rows[0]["published_at"] is None


async def test_recording_outside_a_transaction_is_refused(stack):
    business, _ = await create_business()
    async with work(SOURCE, begin=False) as w:
        with pytest.raises(AssertionError):
            w.record(activity(business.id, "d"))
